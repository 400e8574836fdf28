"""Permutation tests that have power for every label structure, and the family-wise (max-T) correction.

The whole nested procedure (selection included) is re-run on each permuted label vector, on the
same folds. Which permutations keep the null hypothesis honest depends on how labels sit in groups:
- labels that vary within groups (digits spoken by every speaker): shuffled within each group, so
  what a speaker contributes to each class is kept ("within-groups");
- labels constant within groups (accent, gender: one per speaker): shuffling within a group would
  return the same labels, so whole groups swap labels ("between-groups");
- no groups: shuffled over all clips ("free").

A label meant per speaker but with a few stray clips (two mislabelled recordings) is not constant
within groups, so it gets the within-groups scheme, which moves only the labels of the mixed groups
and so tests almost nothing (power 0.25 against 0.70 at the same signal). Whole groups cannot swap
labels of different make-up without assuming what the stray clips are, so the scheme stays, and a
note says what it costs when at least NEAR_GROUP_LEVEL of the clips agree with their group's
majority label.

Which folds the permuted vectors meet is probes/permutation_folds.py's business.
"""
from __future__ import annotations

import math

import numpy as np

SCHEMES = ("within-groups", "between-groups", "free")
# The statistic compared with its permutation distribution: the pooled UAR, robust to imbalance.
STATISTIC = "balanced_accuracy"
# Fewer distinct assignments than this cannot give p <= 0.05.
MIN_ASSIGNMENTS = 20
# Labels at least this constant within groups are taken as meant per group (a few stray clips aside).
NEAR_GROUP_LEVEL = 0.9


def scheme(labels: np.ndarray, groups: np.ndarray | None) -> str:
    """"free" without groups, "between-groups" when every group holds one label, else "within-groups"."""
    if groups is None:
        return "free"
    _, group_index = np.unique(groups, return_inverse=True)
    _, label_index = np.unique(labels, return_inverse=True)
    pairs = np.unique(np.stack([group_index, label_index]), axis=1)
    return "between-groups" if pairs.shape[1] == group_index.max() + 1 else "within-groups"


def distinct_assignments(labels: np.ndarray, groups: np.ndarray | None, kind: str) -> float:
    """How many different label vectors the scheme can produce (a multinomial count; inf when huge)."""
    if kind == "free":
        blocks = [labels]
    elif kind == "within-groups":
        blocks = [labels[groups == g] for g in np.unique(groups)]
    else:
        first = np.unique(groups, return_index=True)[1]
        blocks = [labels[first]]
    log_count = sum(_log_multinomial(block) for block in blocks)
    return math.exp(log_count) if log_count < 700 else math.inf


def resolution_note(labels: np.ndarray, groups: np.ndarray | None, kind: str, permutations: int) -> str | None:
    """One line when the groups cannot give the requested resolution, else None."""
    count = distinct_assignments(labels, groups, kind)
    if count < MIN_ASSIGNMENTS:
        return (f"the {kind} permutation scheme allows only {count:.0f} distinct label assignments, so no p-value "
                f"can reach 0.05: no permutation test")
    if count < permutations + 1:
        return (f"the {kind} permutation scheme allows only {count:.0f} distinct label assignments: p-values "
                f"cannot be finer than 1/{count:.0f} = {1 / count:.3g}, whatever --permutations says")
    return None


def near_group_level_note(labels: np.ndarray, groups: np.ndarray | None, kind: str) -> str | None:
    """One line when within-groups labels are nearly constant within groups (see the module's docstring), else None."""
    if kind != "within-groups":
        return None
    _, group_index = np.unique(groups, return_inverse=True)
    _, label_index = np.unique(labels, return_inverse=True)
    # The (group, label) cells that occur and their counts: groups x labels dense would be 25 million
    # cells for 5,000 speakers.
    cells, counts = np.unique(np.stack([group_index, label_index]), axis=1, return_counts=True)
    n_groups = group_index.max() + 1
    majority = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(majority, cells[0], counts)
    agreeing = int(majority.sum())
    share = agreeing / len(labels)
    if share < NEAR_GROUP_LEVEL:
        return None
    mixed = int((np.bincount(cells[0], minlength=n_groups) > 1).sum())
    return (f"labels are nearly constant within groups ({share:.1%} of clips agree with their group's majority; "
            f"{len(labels) - agreeing} clip(s) in {mixed} group(s) differ): the within-groups permutation scheme "
            "moves only the labels of those groups, so the test has little power; if the label is meant per "
            "speaker, correct those clips and the between-groups scheme applies")


def permuted_labels(codes: np.ndarray, groups: np.ndarray | None, kind: str, n: int, seed: int) -> np.ndarray:
    """(n, n_clips) permutations of `codes` under the scheme, from one seeded generator.

    The same permutations serve every layer and classifier, so their p-values are comparable and
    the max-T correction sees one joint null distribution.
    """
    rng = np.random.default_rng(seed)
    shuffles = np.empty((n, len(codes)), dtype=codes.dtype)
    if kind == "between-groups":
        _, group_index = np.unique(groups, return_inverse=True)
        group_codes = codes[np.unique(group_index, return_index=True)[1]]
        for p in range(n):
            shuffles[p] = rng.permutation(group_codes)[group_index]
        return shuffles
    blocks = [np.arange(len(codes))] if kind == "free" else [np.flatnonzero(groups == g) for g in np.unique(groups)]
    for p in range(n):
        shuffled = codes.copy()
        for block in blocks:
            shuffled[block] = codes[rng.permutation(block)]
        shuffles[p] = shuffled
    return shuffles


def p_value(observed: float, null: np.ndarray) -> float:
    """(1 + #null >= observed) / (1 + #null): never 0, exact under exchangeability."""
    null = np.asarray(null)
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


def max_t_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Family-wise p-values (Westfall & Young's single-step max-T).

    observed: (R,) statistic of each record. null: (P, R) the statistic of each record under each
    permutation. Each record is compared with the maximum over all records of each permutation.
    """
    maxima = np.asarray(null).max(axis=1)
    return np.array([p_value(value, maxima) for value in np.asarray(observed)])


def _log_multinomial(block: np.ndarray) -> float:
    _, counts = np.unique(block, return_counts=True)
    return math.lgamma(len(block) + 1) - sum(math.lgamma(c + 1) for c in counts)
