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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from layerprobe.probes.detection import ScoreKind
from layerprobe.probes.fit_rows import class_weight_table, uar_many
from layerprobe.probes.spec import ClassWeight, FoldOutcome, FoldTask, LinearModel, ProbeSpec, Split, sklearn_spec
from layerprobe.probes.split_threads import map_splits
from layerprobe.probes.standardize import scaling, standardized_blocks

ALPHA_GRID = tuple(float(a) for a in np.logspace(-3, 3, 7))
# The widest (rows, columns) float32 slab of targets or scores built at once: a permutation batch has
# P*K columns (35,000 at Speech-Commands size), so a block of rows needs slicing to stay at 16 MB.
SLAB_ENTRIES = 2**22


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

    def shrunk(self, alpha: float, columns: np.ndarray) -> np.ndarray:
        """(D, len(columns)) float32 projected targets shrunk for strength alpha: what the rotated rows
        multiply."""
        return self.projected[:, columns] / (self.eigenvalues + alpha * self.total_weight).astype(np.float32)[:, None]


def ridge_path(X: np.ndarray, rows: np.ndarray, codes: np.ndarray, n_classes: int, mean: np.ndarray,
               scale: np.ndarray, weights: np.ndarray | None = None) -> RidgePath:
    """Decompose once for the rows `rows` of X standardized by (mean, scale), label vectors codes (P, n).

    The Gram matrix, weighted sums and Z'WY are accumulated a block of rows at a time (float64 Gram,
    float32 Z'WY), so no standardized copy of all rows is ever held.
    weights: (n,) weight of each row, shared by every label vector; None (default) for equal weights.
    """
    n, D, P = len(rows), X.shape[1], len(codes)
    equal = weights is None
    weights = np.ones(n) if equal else weights
    total = float(weights.sum())
    columns = codes.T + n_classes * np.arange(P)
    offset = np.bincount(columns.ravel(), weights=np.repeat(weights, P), minlength=P * n_classes) / total
    weighted_sum, gram, zwy = np.zeros(D), np.zeros((D, D)), np.zeros((D, P * n_classes))
    for part, Z in standardized_blocks(X, rows, mean, scale):
        w = weights[part]
        weighted_sum += w @ Z
        gram += (Z if equal else Z * w[:, None]).T @ Z
        zwy += _times_targets(Z.astype(np.float32), columns[part], w, P * n_classes)
    center = weighted_sum / total
    gram -= total * np.outer(center, center)
    zwy -= np.outer(center, offset * total)
    eigenvalues, basis = np.linalg.eigh(gram)
    projected = (basis.T @ zwy).astype(np.float32)
    return RidgePath(center, basis, eigenvalues, projected, offset, total)


def _times_targets(Z: np.ndarray, columns: np.ndarray, weights: np.ndarray, width: int) -> np.ndarray:
    """Z' T in float64 for the weighted one-hot targets T (rows of Z, `width` columns), T[i, columns[i]] =
    weights[i], built in float32 slices of at most SLAB_ENTRIES entries (the permutation test's T is wide)."""
    out = np.zeros((Z.shape[1], width))
    step = max(1, SLAB_ENTRIES // width)
    for start in range(0, len(Z), step):
        part = slice(start, start + step)
        targets = np.zeros((len(Z[part]), width), dtype=np.float32)
        targets[np.arange(len(targets))[:, None], columns[part]] = weights[part, None]
        out += Z[part].T @ targets
    return out


def predict_by_alpha(path: RidgePath, X: np.ndarray, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                     requests: Sequence[tuple[float, np.ndarray]], n_classes: int) -> list[np.ndarray]:
    """For each request (alpha, label vectors: indices into the path's), the (len(labels), len(rows))
    argmax class of X[rows] standardized by (mean, scale), from one pass over the rows a block at a time.

    Few target columns in all (the observed labels alone) are scored through each request's weights,
    basis @ shrunk, a (D, columns) product per row; many (a permutation batch) through the rows
    expressed once in the eigenbasis, a (D, D) product per row shared by every column. Scores are
    taken SLAB_ENTRIES at a time.
    """
    columns = [(labels[:, None] * n_classes + np.arange(n_classes)).ravel() for _, labels in requests]
    shrunk = [path.shrunk(alpha, cols) for (alpha, _), cols in zip(requests, columns)]
    narrow = sum(len(cols) for cols in columns) <= X.shape[1]
    basis = path.basis.astype(np.float32)
    weights = [basis @ m for m in shrunk] if narrow else shrunk
    out = [np.empty((len(labels), len(rows)), dtype=np.int64) for _, labels in requests]
    for part, Z in standardized_blocks(X, rows, mean, scale):
        centered = (Z - path.center).astype(np.float32)
        if not narrow:
            centered = centered @ basis
        for (_, labels), cols, w, predicted in zip(requests, columns, weights, out):
            step = max(1, SLAB_ENTRIES // len(cols))
            for start in range(0, len(centered), step):
                slab = centered[start:start + step]
                scores = (slab @ w + path.offset[cols]).reshape(len(slab), len(labels), n_classes)
                predicted[:, part.start + start:part.start + start + len(slab)] = scores.argmax(axis=2).T
    return out


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
    def split_scores(split: Split) -> np.ndarray:
        train, validation = split
        path, mean, scale = _path(task, codes, train)
        by_alpha = predict_by_alpha(path, task.X, validation, mean, scale, [(a, everyone) for a in ALPHA_GRID], K)
        return np.stack([uar_many(codes[:, validation], predicted, K) for predicted in by_alpha], axis=1)

    scores = sum(map_splits(split_scores, task.selection), np.zeros((P, len(ALPHA_GRID)))) / max(len(task.selection), 1)
    chosen = scores.argmax(axis=1)
    path, mean, scale = _path(task, codes, task.fit_rows)
    requests = [(ALPHA_GRID[g], np.flatnonzero(chosen == g)) for g in np.unique(chosen)]
    predicted = np.zeros((P, len(task.test_rows)), dtype=np.int64)
    for (_, labels), by_label in zip(requests, predict_by_alpha(path, task.X, task.test_rows, mean, scale, requests, K)):
        predicted[labels] = by_label
    model = linear_model(path, ALPHA_GRID[chosen[0]], K, mean, scale)
    decision = model.decision_function(task.X, task.test_rows)
    return [FoldOutcome(scores[p], int(chosen[p]), predicted[p], model if keep and p == 0 else None,
                        decision if p == 0 else None) for p in range(P)]


def run(task: FoldTask) -> list[FoldOutcome]:
    """ProbeSpec.run for ridge: unweighted, every label vector shares each fit's decomposition; with
    class weights each label vector weighs its rows differently, so it gets its own."""
    if task.class_weight == "none":
        return _run_batch(task, task.codes, task.keep_model)
    return [outcome for p, codes in enumerate(task.codes)
            for outcome in _run_batch(task, codes[None], task.keep_model and p == 0)]


# Each class's column is the least-squares fit of its own 0/1 indicator (the columns share the
# decomposition, not the fit): one-vs-rest as it stands. With two classes the columns are 1 - each other.
SCORE_KIND = ScoreKind("one-vs-rest least-squares scores (each class's 0/1 indicator fitted against the rest)",
                       "the positive class's least-squares score minus the other's")


class PerClipRidge(ClassifierMixin, BaseEstimator):
    """scikit-learn's RidgeClassifier with the penalty measured per clip as this probe's: alpha times
    the fit's total class weight (RidgeClassifier's alpha is per fit)."""

    def __init__(self, alpha: float = 1.0, class_weight: ClassWeight = None):
        self.alpha = alpha
        self.class_weight = class_weight

    def fit(self, X: np.ndarray, y: np.ndarray) -> PerClipRidge:
        weights = compute_sample_weight(self.class_weight, y)
        self.model_ = RidgeClassifier(alpha=self.alpha * weights.sum(), solver="cholesky")
        self.model_.fit(X, y, sample_weight=weights)
        self.classes_, self.coef_, self.intercept_ = self.model_.classes_, self.model_.coef_, self.model_.intercept_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.model_.decision_function(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)


def _reference(class_weight: ClassWeight, seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", PerClipRidge(class_weight=class_weight))])


# RidgeClassifier fits ±1 targets: its weights are twice this probe's and its intercepts 2b - 1, the
# same argmax (and the same ranking of clips per class).
RIDGE_REFERENCE = sklearn_spec("ridge", _reference, [{"alpha": a} for a in ALPHA_GRID], score_kind=SCORE_KIND)
RIDGE = ProbeSpec("ridge", tuple({"alpha": a} for a in ALPHA_GRID), run, SCORE_KIND, batch=1000,
                  reference=RIDGE_REFERENCE)
