"""The fold procedure of a probe solved along its C path (linear SVM, logistic regression).

Per outer fold each fit's rows are standardized and decomposed once (shared by every label vector
and every C); per label vector, each selection split fits the whole C grid from small to large C,
each fit starting from the previous one's solution, and the refit follows the path up to the
chosen C.

A fold with more than LARGE_FIT fitting rows (Speech-Commands size: 84,000) is solved differently
in two ways that change how much work the answer takes, not the answer. Its preconditioner comes
from the Gram matrix of a systematic sample of about LARGE_FIT of the rows. Its refit does not follow
the path from zero: the selection splits have already solved nearby problems, and their solutions
(averaged, in the refit's standardized units) at the grid point whose problem is closest start
the one solve at the chosen C. The losses are sums over clips, so a split of n_s rows at C' poses
the problem of the refit's n_f rows at C' n_s / n_f: with selection parts of 10,000 rows, the
next grid point up. At Speech-Commands size logreg's refit at C=1e-3 then takes 24-32 passes over
all rows where the path from zero took 54.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from layerprobe.probes.detection import ScoreKind
from layerprobe.probes.fit_rows import class_weight_table, uar_many
from layerprobe.probes.newton import SolvedPath
from layerprobe.probes.spec import FoldOutcome, FoldTask, LinearModel, ProbeSpec
from layerprobe.probes.split_threads import map_splits
from layerprobe.probes.standardize import scaling, standardized_blocks

LARGE_FIT = 10_000


@dataclass(frozen=True)
class Design:
    """One fit's rows (indices into task.X), their standardized features with a constant last column,
    the eigendecomposition of those features' Gram matrix (basis, eigenvalues), from which the solvers
    build their preconditioners, and the standardization (mean, scale).

    features and basis are float32: the solvers' matrix products, and their per-clip arithmetic on the
    (n, K) products, run at twice float64's speed and memory traffic, while everything they
    accumulate over clips (values, gradients, CG) stays float64. Their relative error (~1e-6) is far
    below the solvers' stopping tolerances.
    """

    rows: np.ndarray
    features: np.ndarray
    basis: np.ndarray
    eigenvalues: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    def times(self, W: np.ndarray) -> np.ndarray:
        """features @ W, in float32 (n, K)."""
        return self.features @ W.astype(np.float32)

    def transposed_times(self, R: np.ndarray) -> np.ndarray:
        """features.T @ R for (n, K) R, returned in float64."""
        return (self.features.T @ R.astype(np.float32)).astype(np.float64)

    def precondition(self, R: np.ndarray, curvature: np.ndarray) -> np.ndarray:
        """(I + G diag(curvature))^-1 R per column: G the Gram matrix, curvature (K,) per column."""
        rotated = (self.basis.T @ R.astype(np.float32)).astype(np.float64)
        rotated /= 1.0 + self.eigenvalues[:, None] * curvature
        return (self.basis @ rotated.astype(np.float32)).astype(np.float64)


def design(task: FoldTask, rows: np.ndarray, like: Design | None = None) -> Design:
    """The Design of task.X's `rows`.

    like: a Design of a superset of these rows (the refit's, for an inner split) whose spectrum,
    scaled to the number of rows, serves as this one's preconditioner: the inner training parts are
    samples of the same clips, and a preconditioner only needs to be close. None (default): decompose
    the Gram matrix of every k-th row, k the smallest step leaving at most LARGE_FIT of them, scaled by k.
    """
    mean, scale = scaling(task.X, rows)
    features = np.empty((len(rows), task.X.shape[1] + 1), dtype=np.float32)
    features[:, -1] = 1.0
    for part, block in standardized_blocks(task.X, rows, mean, scale, dtype=np.float32):
        features[part, :-1] = block
    if like is None:
        # Accumulated in float32: it only shapes the preconditioner.
        sample = features[::-(-len(rows) // LARGE_FIT)]
        eigenvalues, basis = np.linalg.eigh((sample.T @ sample).astype(np.float64) * (len(rows) / len(sample)))
        return Design(rows, features, basis.astype(np.float32), np.maximum(eigenvalues, 0.0), mean, scale)
    return Design(rows, features, like.basis, like.eigenvalues * (len(rows) / len(like.rows)), mean, scale)


# fit_path(design, labels, class weight per class (K,), n_classes, Cs, start) -> the (D+1, K) solution
# per C in standardized units (last row the intercepts), the first fit started from `start` (None: zero),
# and the fits that stopped short of their tolerance.
PathSolver = Callable[[Design, np.ndarray, np.ndarray, int, Sequence[float], np.ndarray | None], SolvedPath]
# coefficients(W, n_classes) -> (coef, intercept) of a solution, coef (K, D) or (1, D) for two classes as sklearn's.
Coefficients = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def path_spec(name: str, fit_path: PathSolver, coefficients: Coefficients, grid: Sequence[float],
              score_kind: ScoreKind, *, reference: ProbeSpec | None = None) -> ProbeSpec:
    """A ProbeSpec over the C values `grid` whose fits come from fit_path; score_kind: what its
    decision scores (those of `coefficients`) are; reference: the scikit-learn spec it answers as."""
    values = tuple(float(c) for c in grid)

    def run(task: FoldTask) -> list[FoldOutcome]:
        final = design(task, task.fit_rows)
        splits = map_splits(lambda split: (design(task, split[0], like=final), split[1]), task.selection)
        outcomes = []
        for codes in task.codes:
            def split_path(split: tuple[Design, np.ndarray], codes: np.ndarray = codes
                           ) -> tuple[np.ndarray, SolvedPath]:
                fitted, validation = split
                path = _fit(fit_path, fitted, codes, task, values)
                predicted = _predict_each(fitted, [coefficients(W, task.n_classes) for W in path.solutions], task.X,
                                          validation)
                return uar_many(np.broadcast_to(codes[validation], predicted.shape), predicted, task.n_classes), path

            paths = map_splits(split_path, splits)
            scores = sum((uar for uar, _ in paths), np.zeros(len(values))) / max(len(splits), 1)
            chosen = int(scores.argmax())
            W, refit_notes = _refit(fit_path, final, [(fitted, path.solutions) for (fitted, _), (_, path)
                                                      in zip(splits, paths)], codes, task, values, chosen)
            model = LinearModel(final.mean, final.scale, *coefficients(W, task.n_classes))
            decision = model.decision_function(task.X, task.test_rows)
            first = not outcomes
            notes = ([f"C={values[k]:g} (selection fit): {why}" for _, path in paths for k, why in path.unconverged]
                     + [f"C={values[chosen]:g} (refit): {why}" for why in refit_notes]) if first else []
            outcomes.append(FoldOutcome(scores, chosen, model.classes(decision), model if task.keep_model and first else None,
                                        decision if first else None, tuple(dict.fromkeys(notes))))
        return outcomes

    return ProbeSpec(name, tuple({"C": c} for c in values), run, score_kind, reference=reference)


def _refit(fit_path: PathSolver, final: Design, paths: list[tuple[Design, list[np.ndarray]]], codes: np.ndarray,
           task: FoldTask, values: Sequence[float], chosen: int) -> tuple[np.ndarray, list[str]]:
    """The solution at values[chosen] on final's rows: along the path from zero, or for a large fit
    from the selection splits' solutions (each split's Design and path) at the closest problem; and
    why that fit stopped short of its tolerance, if it did."""
    if len(final.rows) <= LARGE_FIT or not paths:
        path = _fit(fit_path, final, codes, task, values[:chosen + 1])
    else:
        ratio = np.mean([len(fitted.rows) for fitted, _ in paths]) / len(final.rows)
        closest = int(np.argmin(np.abs(np.log(np.asarray(values) * ratio / values[chosen]))))
        start = np.mean([restandardized(path[closest], fitted, final) for fitted, path in paths], axis=0)
        path = _fit(fit_path, final, codes, task, values[chosen:chosen + 1], start)
    last = len(path.solutions) - 1
    return path.solutions[-1], [why for k, why in path.unconverged if k == last]


def restandardized(W: np.ndarray, source: Design, target: Design) -> np.ndarray:
    """The solution W (D+1, K) in source's standardized units expressed in target's: the same scores."""
    out = np.empty_like(W)
    out[:-1] = W[:-1] * (target.scale / source.scale)[:, None]
    out[-1] = W[-1] + ((target.mean - source.mean) / source.scale) @ W[:-1]
    return out


def _fit(fit_path: PathSolver, fitted: Design, codes: np.ndarray, task: FoldTask,
         values: Sequence[float], start: np.ndarray | None = None) -> SolvedPath:
    """fit_path on the rows of `fitted`, with the class weights of their labels."""
    labels = codes[fitted.rows]
    weights = class_weight_table(task.class_weight, labels[None], task.n_classes)[0]
    return fit_path(fitted, labels, weights, task.n_classes, values, start)


def _predict_each(fitted: Design, fits: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray,
                  rows: np.ndarray) -> np.ndarray:
    """(len(fits), len(rows)) class codes each fit (coef, intercept in fitted's standardized units)
    predicts for X[rows], as LinearModel.predict: every fit's scores from one float32 product (the
    solvers' own precision) per block of rows."""
    coefs = np.vstack([coef for coef, _ in fits]).astype(np.float32)
    intercepts = np.concatenate([intercept for _, intercept in fits]).astype(np.float32)
    bounds = np.cumsum([0] + [len(coef) for coef, _ in fits])
    predicted = np.empty((len(fits), len(rows)), dtype=np.int64)
    for part, Z in standardized_blocks(X, rows, fitted.mean, fitted.scale, dtype=np.float32):
        scores = Z @ coefs.T + intercepts
        for g, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            predicted[g, part] = (scores[:, lo] > 0) if hi - lo == 1 else scores[:, lo:hi].argmax(axis=1)
    return predicted
