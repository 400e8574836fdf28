"""Permutation test: how often does the whole nested procedure score as well on shuffled labels?"""
from __future__ import annotations

import numpy as np

# The statistic compared with its permutation distribution: robust to class imbalance.
STATISTIC = "balanced_accuracy"


def permuted_labels(labels: np.ndarray, groups: np.ndarray | None, n: int, seed: int) -> list[np.ndarray]:
    """`n` shuffles of `labels`, each within groups when groups exist (else over all clips).

    Shuffling within groups keeps what a group contributes to each class, so the null hypothesis is
    "no link between X and y beyond the group structure". The same shuffles serve every layer and
    classifier, so their p-values are comparable.
    """
    rng = np.random.default_rng(seed)
    blocks = [np.arange(len(labels))] if groups is None else [np.flatnonzero(groups == g) for g in np.unique(groups)]
    shuffles = []
    for _ in range(n):
        shuffled = labels.copy()
        for block in blocks:
            shuffled[block] = labels[rng.permutation(block)]
        shuffles.append(shuffled)
    return shuffles


def p_value(observed: float, null_scores: list[float]) -> float:
    """(1 + #null scores >= observed) / (1 + #null scores): never 0, exact under exchangeability."""
    null = np.asarray(null_scores)
    return float((1 + np.sum(null >= observed)) / (1 + len(null)))
