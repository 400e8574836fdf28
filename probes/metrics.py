"""Scores from confusion matrices: per fold, pooled over folds, per class, and chance levels.

Everything is computed from what a confusion matrix (rows: true class, columns: predicted) over all
classes of the dataset says of each class: its hits, true count and predicted count (class_counts,
K numbers a row rather than K x K, so thousands of classes fit), so a pooled score is exactly the
score of every out-of-fold prediction taken together, and a bootstrap or a permutation only has to
add counts up.
"""
from __future__ import annotations

import numpy as np

from layerprobe.results import METRICS

# Up to this many classes a record keeps its pooled confusion matrix whole (K x K in the JSON), above
# it its nonzero cells: 1,251 speakers would be 1.6 million numbers per record, mostly zeros.
DENSE_CONFUSION_MAX = 100


def confusion(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts from integer class codes."""
    return np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, UAR and macro-F1 of one confusion matrix (n_classes, n_classes) or a stack (..., K, K).

    UAR (balanced accuracy) averages recall over the classes that occur in the truth, macro-F1 F1
    over the classes that occur in the truth or the predictions: scikit-learn's balanced_accuracy_score
    and f1_score(average="macro", zero_division=0) on the same predictions.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    return count_scores(np.stack([np.diagonal(matrix, axis1=-2, axis2=-1), matrix.sum(-1), matrix.sum(-2)], axis=-2))


def class_counts(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(3, n_classes): each class's hits, true count and predicted count, all that `scores` reads of
    a confusion matrix, in K numbers a row instead of K x K (a bootstrap over thousands of units)."""
    return np.stack([np.bincount(truth[truth == predicted], minlength=n_classes),
                     np.bincount(truth, minlength=n_classes), np.bincount(predicted, minlength=n_classes)])


def count_scores(counts: np.ndarray) -> dict[str, np.ndarray]:
    """`scores` from class_counts (3, K), or a stack of them (..., 3, K)."""
    counts = np.asarray(counts, dtype=np.float64)
    hits, true_counts, predicted_counts = counts[..., 0, :], counts[..., 1, :], counts[..., 2, :]
    total = true_counts.sum(-1)
    present = true_counts > 0
    recall = np.divide(hits, true_counts, out=np.zeros_like(hits), where=present)
    f1 = np.divide(2 * hits, true_counts + predicted_counts, out=np.zeros_like(hits),
                   where=(true_counts + predicted_counts) > 0)
    occurring = present | (predicted_counts > 0)
    return {
        "accuracy": hits.sum(-1) / total,
        "balanced_accuracy": recall.sum(-1) / present.sum(-1),
        "macro_f1": f1.sum(-1) / occurring.sum(-1),
    }


def per_class(counts: np.ndarray) -> dict[str, list]:
    """Precision, recall, F1 and support per class from the pooled class_counts (3, K): the pooled
    confusion matrix's diagonal, row and column sums, without the K x K matrix."""
    hits, support, predicted = np.asarray(counts, dtype=np.float64)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    f1 = np.divide(2 * hits, support + predicted, out=np.zeros_like(hits), where=(support + predicted) > 0)
    return {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
            "support": support.astype(int).tolist()}


def pooled_confusion(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, list[list[int]]]:
    """The pooled confusion matrix as a record keeps it: {"confusion_matrix": K x K counts} up to
    DENSE_CONFUSION_MAX classes, else {"confusion_cells": [[true, predicted, count], ...]}, its
    nonzero cells in row-major order (at most one per clip, where K x K would not fit: 5,000 classes
    are 25 million cells)."""
    cells, counts = np.unique(truth.astype(np.int64) * n_classes + predicted, return_counts=True)
    if n_classes <= DENSE_CONFUSION_MAX:
        matrix = np.zeros(n_classes * n_classes, dtype=np.int64)
        matrix[cells] = counts
        return {"confusion_matrix": matrix.reshape(n_classes, n_classes).tolist()}
    return {"confusion_cells": [[int(c // n_classes), int(c % n_classes), int(n)] for c, n in zip(cells, counts)]}


def chance_counts(codes: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_classes: int) -> dict:
    """Pooled class_counts (3, K) of two classifiers that ignore X, on the same folds.

    majority: always the fitting part's most frequent class. class_prior: guessing with the fitting
    part's class frequencies, as the counts of its expected confusion matrix (exact for accuracy
    and UAR). K numbers a row, so many classes cost what they need (the matrices were K x K).
    folds: (fit_rows, test_rows) pairs.
    """
    majority = np.zeros((3, n_classes))
    prior = np.zeros((3, n_classes))
    for fit, test in folds:
        counts = np.bincount(codes[fit], minlength=n_classes)
        tested = np.bincount(codes[test], minlength=n_classes)
        guessed, share = counts.argmax(), counts / counts.sum()
        majority[0, guessed] += tested[guessed]
        majority[1] += tested
        majority[2, guessed] += tested.sum()
        prior += np.stack([tested * share, tested, tested.sum() * share])
    return {"majority": majority, "class_prior": prior}


def chance_levels(codes: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_classes: int) -> dict:
    """The pooled scores of the chance classifiers (see chance_counts): majority's three metrics,
    class-prior guessing's accuracy and UAR."""
    counts = chance_counts(codes, folds, n_classes)
    majority = count_scores(counts["majority"])
    prior = count_scores(counts["class_prior"])
    return {"majority": {metric: float(majority[metric]) for metric in METRICS},
            "class_prior": {metric: float(prior[metric]) for metric in ("accuracy", "balanced_accuracy")}}
