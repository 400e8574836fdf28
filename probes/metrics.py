"""Scores of one fold, their summary over folds, per-class scores and chance levels."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def fold_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy (unweighted average recall) and macro F1 on one test fold.

    Averages run over the classes present in y_true: a grouped test fold may lack a class, and a
    class with no test clip has no recall to average.
    """
    present = np.unique(y_true)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
    }


def summarize(values: list[float]) -> dict:
    """{"mean", "std", "folds"}; std is the sample std over folds, None with a single fold."""
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "folds": [float(v) for v in values],
    }


def per_class(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> dict:
    """Precision, recall, F1 and support per class (in `classes` order) and the confusion matrix,
    from the predictions of all test folds pooled (rows: true class, columns: predicted)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0)
    return {
        "per_class": {
            "precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
            "support": support.tolist(),
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def chance_levels(labels: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """What a probe that ignores X scores on the same folds, averaged over folds.

    majority: always predicting the training part's most frequent class (all three metrics).
    class_prior: the expected accuracy and balanced accuracy of guessing at random with the
    training part's class frequencies.
    """
    majority: list[dict[str, float]] = []
    prior_accuracy, prior_uar = [], []
    for train, test in splits:
        classes, counts = np.unique(labels[train], return_counts=True)
        majority.append(fold_scores(labels[test], np.full(len(test), classes[counts.argmax()])))
        guess = dict(zip(classes, counts / counts.sum()))
        test_classes, test_counts = np.unique(labels[test], return_counts=True)
        q = np.array([guess.get(c, 0.0) for c in test_classes])
        prior_accuracy.append(float(q @ (test_counts / test_counts.sum())))
        prior_uar.append(float(q.mean()))
    return {
        "majority": {m: float(np.mean([s[m] for s in majority])) for m in METRICS},
        "class_prior": {"accuracy": float(np.mean(prior_accuracy)), "balanced_accuracy": float(np.mean(prior_uar))},
    }
