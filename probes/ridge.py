"""The ridge probe: least squares on one-hot targets of standardized embeddings, predict the argmax.

Every regularization strength and every label vector of a task goes through one eigendecomposition
of the fitted rows' Gram matrix per fit (each selection split, then the refit): the fit for strength
a is V diag(1/(e + a)) V' Z'Y, so the strengths cost a diagonal each and the label vectors are just
more columns of Y (BLAS-3). That is what makes 999-permutation tests cheap.

The loss is per clip: sum_i w_i ||y_i - W'z_i - b||^2 / sum_i w_i + alpha ||W||^2, intercept b not
penalized, w_i the class weight of clip i's label. Measured per clip, one alpha means the same on
an inner training part and on the larger refit, whatever the dataset's size. The standardized
features' Gram matrix over n clips is n times their correlation matrix, whose eigenvalues average 1
and, for layer embeddings, spread from ~1e-3 to a few hundred; ALPHA_GRID spans that range: 1e-3
is nearly least squares, 1e3 keeps only the strongest directions. It equals scikit-learn's
RidgeClassifier(alpha=alpha * sum_i w_i) on the same rows (whose ±1 targets give the same argmax).

Class weights make each label vector's fit a different weighted problem, so with class_weight other
than "none" every label vector gets its own decomposition (correct, P times the cost).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layerprobe.probes.fit_rows import class_weight_table, scaling, standardized_blocks, uar_many
from layerprobe.probes.spec import FoldOutcome, FoldTask, LinearModel, ProbeSpec

ALPHA_GRID = tuple(float(a) for a in np.logspace(-3, 3, 7))


@dataclass(frozen=True)
class RidgePath:
    """The ridge fits of every strength for the label vectors of one set of fitted rows.

    center: (D,) weighted mean of the standardized fitted rows. basis, eigenvalues: eigendecomposition
    of their weighted, centered Gram matrix. projected: (D, P*K) basis' Z'WY, column p*K + k for
    label vector p and class k. offset: (P*K,) weighted mean of Y. total_weight: sum of the weights.

    The two products that grow with the label vectors (a permutation test's cost), `projected` and
    the scores made from it, run in float32: twice as fast, and their ~1e-6 relative error only
    matters to an argmax between classes scored equal to six digits.
    """

    center: np.ndarray
    basis: np.ndarray
    eigenvalues: np.ndarray
    projected: np.ndarray
    offset: np.ndarray
    total_weight: float

    def coef(self, alpha: float, columns: np.ndarray) -> np.ndarray:
        """(D, len(columns)) weights of strength alpha for the given target columns."""
        shrunk = self.projected[:, columns] / (self.eigenvalues + alpha * self.total_weight)[:, None]
        return self.basis @ shrunk

    def rotate(self, Z: np.ndarray) -> np.ndarray:
        """Standardized rows Z centered and expressed in the eigenbasis, in float32 like the scores made
        from them: what scores() takes."""
        return (Z - self.center).astype(np.float32) @ self.basis.astype(np.float32)

    def scores(self, rotated: np.ndarray, alpha: float, columns: np.ndarray) -> np.ndarray:
        """(n, len(columns)) decision values of rows already rotate()d."""
        shrunk = rotated / (self.eigenvalues + alpha * self.total_weight).astype(np.float32)
        return shrunk @ self.projected[:, columns] + self.offset[columns]


def ridge_path(X: np.ndarray, rows: np.ndarray, codes: np.ndarray, n_classes: int, mean: np.ndarray,
               scale: np.ndarray, weights: np.ndarray | None = None) -> RidgePath:
    """Decompose once for the rows `rows` of X standardized by (mean, scale), label vectors codes (P, n).

    The Gram matrix, weighted sums and Z'WY are accumulated a block of rows at a time (float64 Gram,
    float32 Z'WY), so no standardized copy of all rows is ever held.
    weights: (n,) weight of each row, shared by every label vector; None (default) for equal weights.
    """
    n, D, P = len(rows), X.shape[1], len(codes)
    weights = np.ones(n) if weights is None else weights
    total = float(weights.sum())
    columns = codes.T + n_classes * np.arange(P)
    offset = np.bincount(columns.ravel(), weights=np.repeat(weights, P), minlength=P * n_classes) / total
    weighted_sum, gram, zwy = np.zeros(D), np.zeros((D, D)), np.zeros((D, P * n_classes))
    for part, Z in standardized_blocks(X, rows, mean, scale):
        w = weights[part]
        weighted_sum += w @ Z
        gram += (Z * w[:, None]).T @ Z
        zwy += _times_targets(Z.astype(np.float32), columns[part], w, P * n_classes)
    center = weighted_sum / total
    gram -= total * np.outer(center, center)
    zwy -= np.outer(center, offset * total)
    eigenvalues, basis = np.linalg.eigh(gram)
    projected = (basis.T @ zwy).astype(np.float32)
    return RidgePath(center, basis, eigenvalues, projected, offset, total)


def _times_targets(Z: np.ndarray, columns: np.ndarray, weights: np.ndarray, width: int) -> np.ndarray:
    """Z' T in float64 for the weighted one-hot targets T (rows of Z, `width` columns), T[i, columns[i]] =
    weights[i], built in float32 slices of at most 2^22 entries (the permutation test's T is wide)."""
    out = np.zeros((Z.shape[1], width))
    step = max(1, 2**22 // width)
    for start in range(0, len(Z), step):
        part = slice(start, start + step)
        targets = np.zeros((len(Z[part]), width), dtype=np.float32)
        targets[np.arange(len(targets))[:, None], columns[part]] = weights[part, None]
        out += Z[part].T @ targets
    return out


def in_eigenbasis(path: RidgePath, X: np.ndarray, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """X[rows] standardized by (mean, scale), centered and expressed in path's eigenbasis (float32):
    what scores() takes."""
    out = np.empty((len(rows), X.shape[1]), dtype=np.float32)
    for part, Z in standardized_blocks(X, rows, mean, scale):
        out[part] = path.rotate(Z)
    return out


def predictions(path: RidgePath, rotated: np.ndarray, alpha: float, n_classes: int, labels: np.ndarray) -> np.ndarray:
    """(len(labels), n) argmax class of path.rotate()d rows for the label vectors `labels` (indices
    into the path's)."""
    columns = (labels[:, None] * n_classes + np.arange(n_classes)).ravel()
    scores = path.scores(rotated, alpha, columns).reshape(len(rotated), len(labels), n_classes)
    return scores.argmax(axis=2).T


def linear_model(path: RidgePath, alpha: float, n_classes: int, mean: np.ndarray, scale: np.ndarray) -> LinearModel:
    """The LinearModel of label vector 0 (one row for two classes: class 1 minus class 0, as sklearn's)."""
    columns = np.arange(n_classes)
    coef = path.coef(alpha, columns).T
    intercept = path.offset[columns] - coef @ path.center
    if n_classes == 2:
        coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
    return LinearModel(mean, scale, coef, intercept)


def _path(task: FoldTask, codes: np.ndarray, rows: np.ndarray) -> tuple[RidgePath, np.ndarray, np.ndarray]:
    """The ridge path of label vectors `codes` (P, n) on `rows`, and the rows' (mean, scale).

    With class weights, P is 1: each row weighs what its class weighs among these rows.
    """
    mean, scale = scaling(task.X, rows)
    labels = codes[:, rows]
    weights = None
    if task.class_weight != "none":
        weights = class_weight_table(task.class_weight, labels, task.n_classes)[0, labels[0]]
    return ridge_path(task.X, rows, labels, task.n_classes, mean, scale, weights), mean, scale


def _run_batch(task: FoldTask, codes: np.ndarray, keep: bool) -> list[FoldOutcome]:
    """One outer fold for the label vectors `codes` (P, n), through one decomposition per fit."""
    K, P = task.n_classes, len(codes)
    everyone = np.arange(P)
    scores = np.zeros((P, len(ALPHA_GRID)))
    for train, validation in task.selection:
        path, mean, scale = _path(task, codes, train)
        in_basis = in_eigenbasis(path, task.X, validation, mean, scale)
        for g, alpha in enumerate(ALPHA_GRID):
            scores[:, g] += uar_many(codes[:, validation], predictions(path, in_basis, alpha, K, everyone), K)
    scores /= max(len(task.selection), 1)
    chosen = scores.argmax(axis=1)
    path, mean, scale = _path(task, codes, task.fit_rows)
    in_basis = in_eigenbasis(path, task.X, task.test_rows, mean, scale)
    predicted = np.zeros((P, len(task.test_rows)), dtype=np.int64)
    for g in np.unique(chosen):
        labels = np.flatnonzero(chosen == g)
        predicted[labels] = predictions(path, in_basis, ALPHA_GRID[g], K, labels)
    model = linear_model(path, ALPHA_GRID[chosen[0]], K, mean, scale) if keep else None
    decision = path.scores(in_basis, ALPHA_GRID[chosen[0]], np.arange(K))
    return [FoldOutcome(scores[p], int(chosen[p]), predicted[p], model if p == 0 else None,
                        decision if p == 0 else None) for p in range(P)]


def run(task: FoldTask) -> list[FoldOutcome]:
    """ProbeSpec.run for ridge: unweighted, every label vector shares each fit's decomposition; with
    class weights each label vector weighs its rows differently, so it gets its own."""
    if task.class_weight == "none":
        return _run_batch(task, task.codes, task.keep_model)
    return [outcome for p, codes in enumerate(task.codes)
            for outcome in _run_batch(task, codes[None], task.keep_model and p == 0)]


RIDGE = ProbeSpec("ridge", tuple({"alpha": a} for a in ALPHA_GRID), run, batch=1000)
