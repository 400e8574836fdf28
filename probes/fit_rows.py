"""What every fast probe computes from the rows one fit sees: the class weight of each class, and the
selection score of many label vectors at once (their standardization is in standardize.py).

These mirror Pipeline(StandardScaler, clf) with class_weight=spec.class_weights(...), so the fast
solvers answer the same question as the scikit-learn reference.
"""
from __future__ import annotations

import numpy as np

from layerprobe.probes.spec import class_weights


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
