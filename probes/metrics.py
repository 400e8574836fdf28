"""Scores from confusion matrices: per fold, pooled over folds, per class, and chance levels.

Everything is computed from confusion matrices (rows: true class, columns: predicted) over all
classes of the dataset, so a pooled score is exactly the score of every out-of-fold prediction
taken together, and a bootstrap or a permutation only has to add matrices up.
"""
from __future__ import annotations

import numpy as np

from layerprobe.results import METRICS


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


def per_class(matrix: np.ndarray) -> dict:
    """Precision, recall, F1 and support per class from the pooled confusion matrix, and the matrix itself."""
    matrix = np.asarray(matrix, dtype=np.float64)
    hits, support, predicted = np.diag(matrix), matrix.sum(1), matrix.sum(0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    f1 = np.divide(2 * hits, support + predicted, out=np.zeros_like(hits), where=(support + predicted) > 0)
    return {
        "per_class": {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
                      "support": support.astype(int).tolist()},
        "confusion_matrix": matrix.astype(int).tolist(),
    }


def chance_matrices(codes: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_classes: int) -> dict:
    """Pooled confusion matrices of two classifiers that ignore X, on the same folds.

    majority: always the fitting part's most frequent class. class_prior: guessing with the fitting
    part's class frequencies, as an expected confusion matrix (exact for accuracy and UAR).
    folds: (fit_rows, test_rows) pairs.
    """
    majority = np.zeros((n_classes, n_classes))
    prior = np.zeros((n_classes, n_classes))
    for fit, test in folds:
        counts = np.bincount(codes[fit], minlength=n_classes)
        tested = np.bincount(codes[test], minlength=n_classes)
        majority[:, counts.argmax()] += tested
        prior += np.outer(tested, counts / counts.sum())
    return {"majority": majority, "class_prior": prior}


def chance_levels(codes: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_classes: int) -> dict:
    """The pooled scores of the chance classifiers (see chance_matrices): majority's three metrics,
    class-prior guessing's accuracy and UAR."""
    matrices = chance_matrices(codes, folds, n_classes)
    majority = scores(matrices["majority"])
    prior = scores(matrices["class_prior"])
    return {"majority": {metric: float(majority[metric]) for metric in METRICS},
            "class_prior": {metric: float(prior[metric]) for metric in ("accuracy", "balanced_accuracy")}}
