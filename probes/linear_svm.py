"""The linear SVM probe: LinearSVC's exact problem, solved in the primal by Newton-CG.

For each class k (one problem only for two classes, class 1 positive), liblinear minimizes
    1/2 |w|^2 + sum_i c_i max(0, 1 - t_i w'x_i)^2,   x_i = [z_i, 1],
t_i = +1 for class k, else -1; the constant feature's weight (the intercept, intercept_scaling=1) is
penalized like the others. c_i is C times the class weight: with more than two classes liblinear
weighs only the positives (C w_k) and gives every negative plain C; with two, each clip gets its own
class's weight. The squared hinge is differentiable with a piecewise-constant Hessian
I + 2 X_A' diag(c) X_A over the margin violators A, so Newton-CG converges in a few steps where
liblinear's dual coordinate descent needs ever more epochs as C grows.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.probes.detection import ScoreKind
from layerprobe.probes.grids import LINEAR_SVM_C_GRID
from layerprobe.probes.newton import Loss, LossAt, Problem, SolvedPath, solve_path
from layerprobe.probes.path_probe import Design, path_spec
from layerprobe.probes.spec import ClassWeight, sklearn_spec

# A class's problem counts as solved when |gradient| <= TOL * |gradient at zero|. Measured against
# LinearSVC (dual, tol 1e-4) on the tests' planted data: 1e-2 chose another C in 15% of folds, 3e-3
# and tighter none (selection scores within 0.008, identical pooled predictions' accuracy); each
# decade tighter costs about 1.5x, most of it at large C where few margin violators carry the curvature.
TOL = 3e-3
# CG solves each Newton system to this fraction of |gradient|: the squared hinge's Hessian changes with
# the margin violators at every step, so solving it tightly buys little. Counted in matrix passes over
# two outer folds of bench/probe_sweep.py's layers 0, 3, 6 and 12: 0.3 took 5033, 0.5 4647
# (0.1, on layers 0 and 6 alone: 4465 against 0.5's 2164). Re-checked once Newton steps worked on the
# unsolved columns only, on one selection path of bench/probe_scale.py's layers 1, 2, 6 and 10: 0.7 within
# noise of 0.5.
FORCING = 0.5


def fit_path(design: Design, labels: np.ndarray, class_weight: np.ndarray, n_classes: int,
             values: Sequence[float], start: np.ndarray | None = None) -> SolvedPath:
    """The one-vs-rest squared-hinge SVMs for every C of `values`, each warm-started from the last.

    labels: (n,) class codes of design's rows. class_weight: (n_classes,) weight of each class.
    start: (D+1, K) where the first fit starts, in design's standardized units; None: zero.
    Returns the (D+1, K) solution per C (K = 1 for two classes; last row the intercepts), in
    standardized units, and the fits that stopped short of TOL.
    """
    if n_classes == 2:
        targets = np.where(labels == 1, 1.0, -1.0).astype(np.float32)[:, None]
        unit_cost = class_weight[labels].astype(np.float32)[:, None]
    else:
        positive = labels[:, None] == np.arange(n_classes)
        targets = np.where(positive, np.float32(1.0), np.float32(-1.0))
        unit_cost = np.where(positive, class_weight.astype(np.float32), np.float32(1.0))
    problem = Problem(design, _loss(targets, unit_cost), np.ones((design.features.shape[1], 1)), separable=True)
    W = np.zeros((design.features.shape[1], targets.shape[1])) if start is None else start
    return solve_path(problem, W, values, tol=TOL, forcing=FORCING)


def coefficients(W: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(coef (K, D), intercept (K,)) of a solution W, as sklearn's (one row for two classes)."""
    return W[:-1].T.copy(), W[-1].copy()


def _loss(targets: np.ndarray, unit_cost: np.ndarray) -> Loss:
    """The K one-vs-rest squared hinge losses of the scores (columns), per-clip costs `unit_cost` (n, K).

    Per clip in float32, summed over clips in float64.
    """
    def evaluate(scores: np.ndarray, columns: np.ndarray | slice) -> LossAt:
        signs = targets[:, columns]
        margin = 1.0 - signs * scores
        weighted = unit_cost[:, columns] * (margin > 0)
        violation = weighted * margin
        value = np.einsum("ij,ij->j", violation, margin, dtype=np.float64)
        violation *= -2.0 * signs
        return LossAt(value, violation, lambda Q: 2.0 * weighted * Q, 2.0 * weighted.mean(axis=0, dtype=np.float64))

    return evaluate


# Each class's column is its own SVM against the rest (fit_path's targets): one-vs-rest as it stands.
SCORE_KIND = ScoreKind("one-vs-rest margins (each class's squared-hinge SVM against the rest)",
                       "the margin of the positive class's SVM")
# liblinear's epochs over the data: at the grid's top (C = 1) its dual solver converges well within it.
REFERENCE_MAX_ITER = 20000


def _reference(class_weight: ClassWeight, seed: int) -> Pipeline:
    # random_state: liblinear's dual coordinate descent visits the samples in a seeded random order.
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LinearSVC(class_weight=class_weight, dual=True, max_iter=REFERENCE_MAX_ITER,
                                       random_state=seed))])


LINEAR_SVM_REFERENCE = sklearn_spec("linear-svm", _reference, [{"C": c} for c in LINEAR_SVM_C_GRID],
                                    score_kind=SCORE_KIND)
LINEAR_SVM = path_spec("linear-svm", fit_path, coefficients, LINEAR_SVM_C_GRID, SCORE_KIND,
                       reference=LINEAR_SVM_REFERENCE)
