"""What every fast probe computes from the rows one fit sees: their standardization, the class weight
of each class, and the selection score of many label vectors at once.

These mirror Pipeline(StandardScaler, clf) with class_weight=spec.class_weights(...), so the fast
solvers answer the same question as the scikit-learn reference.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from layerprobe.probes.spec import class_weights


# Rows standardized at a time: float64 blocks of 4096 x 768 are 25 MB, so no fit ever holds a float64
# copy of all its rows (84,000 rows at Speech-Commands size would be 516 MB).
BLOCK_ROWS = 4096


def scaling(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """StandardScaler's (mean_, scale_) of X[rows], in float64, in one pass a block of rows at a time;
    a constant feature keeps scale 1.

    The sums are taken about the first block's mean, so the variance (mean square minus squared mean
    about that point) does not cancel when a feature's mean is large beside its spread.
    """
    shift = X[rows[:BLOCK_ROWS]].mean(axis=0, dtype=np.float64)
    total, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for start in range(0, len(rows), BLOCK_ROWS):
        block = X[rows[start:start + BLOCK_ROWS]] - shift
        total += block.sum(axis=0)
        squares += np.einsum("ij,ij->j", block, block)
    offset = total / len(rows)
    scale = np.sqrt(np.maximum(squares / len(rows) - offset * offset, 0.0))
    scale[scale == 0] = 1.0
    return shift + offset, scale


def standardized_blocks(X: np.ndarray, rows: np.ndarray, mean: np.ndarray,
                        scale: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """(positions in rows, (X[rows[positions]] - mean) / scale in float64), BLOCK_ROWS rows at a time."""
    for start in range(0, len(rows), BLOCK_ROWS):
        part = slice(start, start + BLOCK_ROWS)
        block = X[rows[part]] - mean
        block /= scale
        yield part, block


def class_weight_table(mode: str, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """(P, n_classes) weight of each class for each label vector (row of codes, the labels one fit sees).

    mode: "none", "balanced" or "sqrt", as spec.class_weights. A class absent from a row gets weight 1
    (it has no clip to weigh).
    """
    table = np.ones((len(codes), n_classes))
    if mode == "none":
        return table
    for p, labels in enumerate(codes):
        weights = class_weights(mode, labels)
        if weights == "balanced":
            counts = np.bincount(labels, minlength=n_classes)
            present = counts > 0
            table[p, present] = len(labels) / (present.sum() * counts[present])
        else:
            for code, weight in weights.items():
                table[p, code] = weight
    return table


def uar_many(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """spec.selection_score of each row pair: truth and predicted (P, n) class codes; returns (P,)."""
    P = len(truth)
    index = (truth + n_classes * np.arange(P)[:, None]).ravel()
    counts = np.bincount(index, minlength=P * n_classes).reshape(P, n_classes)
    hits = np.bincount(index, weights=(truth == predicted).ravel(), minlength=P * n_classes).reshape(P, n_classes)
    present = counts > 0
    return np.array([np.mean(h[m] / c[m]) for h, c, m in zip(hits, counts, present)])
