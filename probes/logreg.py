"""The logistic-regression probe: scikit-learn's multinomial L2 problem, solved by Newton-CG.

LogisticRegression(lbfgs) minimizes 1/2 |W|^2 + C sum_i s_i (-log softmax(W'z_i + b)_{y_i}) with s_i
the class weight of clip i and the intercept b not penalized; for two classes it fits one binomial
model, which is the multinomial one at C/2 (its two weight rows are opposite: w1 - w0 is the binomial
weight vector, and their penalty is half of its). Every Hessian-vector product couples the classes
but is still two matrix products over all of them.

scikit-learn fits float32 input (the cache's dtype) in float32 throughout; this solver runs only its
matrix products in float32 and accumulates in float64. Where the optimum leaves classes nearly tied
(C=1e-4 with balanced weights) lbfgs' float32 fit predicts some clips differently from the optimum,
which this solver and lbfgs on float64 input both find.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from layerprobe.probes.detection import ScoreKind
from layerprobe.probes.grids import LOGREG_C_GRID
from layerprobe.probes.newton import Loss, LossAt, Problem, SolvedPath, solve_path
from layerprobe.probes.path_probe import Design, path_spec
from layerprobe.probes.spec import ClassWeight, sklearn_spec

# The problem counts as solved when |gradient| <= TOL * |gradient at zero|. Measured against
# LogisticRegression (lbfgs, tol 1e-4) on the tests' planted data: 1e-3 moved pooled accuracy by
# 0.01, 3e-4 and tighter left it and every chosen C identical.
TOL = 3e-4
# CG solves each Newton system to this fraction of |gradient|. Counted in matrix passes over two outer
# folds of bench/probe_sweep.py's layers 0 and 6: 0.1 took 1343, 0.3 1193, 0.5 1234; but at 0.3 the
# fits that stop at TOL moved pooled accuracy on the tests' planted data by 0.017 from lbfgs'.
FORCING = 0.1
# Each C's fit starts along the secant through the last two solutions (newton.solve_path's extrapolate):
# on bench/probe_scale.py's weakly separable layers (1, 2, 10) a selection path then takes 10-20% fewer
# matrix passes. The linear SVM's paths took 10-25% more (its margin violators change along the
# secant), so there it stays off.


def fit_path(design: Design, labels: np.ndarray, class_weight: np.ndarray, n_classes: int,
             values: Sequence[float], start: np.ndarray | None = None) -> SolvedPath:
    """The multinomial fits for every C of `values`, each warm-started from the last.

    labels: (n,) class codes of design's rows. class_weight: (n_classes,) weight of each class.
    start: (D+1, K) where the first fit starts, in design's standardized units; None: zero.
    Returns the (D+1, K) solution per C (last row the intercepts), in standardized units, and the
    fits that stopped short of TOL.
    """
    penalized = np.ones((design.features.shape[1], 1))
    penalized[-1] = 0.0
    problem = Problem(design, _loss(labels, class_weight[labels]), penalized, separable=False)
    strengths = [C / 2 if n_classes == 2 else C for C in values]
    W = np.zeros((design.features.shape[1], n_classes)) if start is None else start
    return solve_path(problem, W, strengths, tol=TOL, forcing=FORCING, extrapolate=True)


def coefficients(W: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(coef (K, D), intercept (K,)) of a solution W, as sklearn's: one row for two classes."""
    coef, intercept = W[:-1].T.copy(), W[-1].copy()
    if n_classes == 2:
        coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
    return coef, intercept


def _loss(labels: np.ndarray, sample: np.ndarray) -> Loss:
    """The multinomial log loss of the scores summed over clips, each weighted by its class weight
    `sample` (n,). The columns are coupled: always all of them.

    Per clip in float32, summed over clips in float64.
    """
    clips = np.arange(len(labels))
    weight = sample.astype(np.float32)[:, None]

    def evaluate(scores: np.ndarray, columns: np.ndarray | slice) -> LossAt:
        logits = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(logits)
        total = p.sum(axis=1, keepdims=True)
        p /= total
        loss = np.log(total[:, 0]) - logits[clips, labels]
        residual = p.copy()
        residual[clips, labels] -= 1.0
        residual *= weight
        curvature = (weight * p * (1.0 - p)).mean(axis=0, dtype=np.float64)

        def score_hessian(Q: np.ndarray) -> np.ndarray:
            Q = Q * p
            Q -= p * Q.sum(axis=1, keepdims=True)
            Q *= weight
            return Q

        return LossAt(np.array([sample @ loss.astype(np.float64)]), residual, score_hessian, curvature)

    return evaluate


# The decision scores are multinomial logits (one binomial logit for two classes): only their
# differences within a clip mean something, so detection ranks by their softmax.
SCORE_KIND = ScoreKind("softmax probabilities of the multinomial logits",
                       "the log-odds of the positive class (ranks as its probability does)", softmax=True)
# The iteration cap of the reference: lbfgs on the tests' planted data and the demo needs a few hundred.
REFERENCE_MAX_ITER = 2000


def _reference(class_weight: ClassWeight, seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(class_weight=class_weight,
                                                                             max_iter=REFERENCE_MAX_ITER, tol=1e-4))])


LOGREG_REFERENCE = sklearn_spec("logreg", _reference, [{"C": c} for c in LOGREG_C_GRID], score_kind=SCORE_KIND)
LOGREG = path_spec("logreg", fit_path, coefficients, LOGREG_C_GRID, SCORE_KIND, reference=LOGREG_REFERENCE)
