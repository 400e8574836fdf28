"""The folds a permutation test runs on: made the same way for the observed labels and every permuted vector.

The protocol's folds are stratified on the observed labels (StratifiedKFold, the grouped stratified
split, the inner splits that choose C). A permuted label vector that meets those same folds meets
folds that are not stratified on it: its test parts are unbalanced and its UAR is pushed down (null
mean 0.387 against an observed 0.467 on a balanced binary label), so the test rejected 8.5-11% of
null datasets at 0.05 where 5% was promised (between-groups and free schemes), and under
leave-one-group-out with a speaker-level label it erred the other way (0.9%).

Re-drawing the folds for every permuted vector would be exact too, but ridge answers a thousand
label vectors with one decomposition per fold only because they share the fold. So where the
permutations move what the splitters read, the test runs on folds that read no labels at all, the
observed labels' included: GroupKFold (shuffled by the seed) over the groups or KFold over clips in
place of the stratified outer splitters, and the same inside each fitting part for choosing C. The
statistic compared with the null is then the observed UAR on those folds (`permutation_observed` in
the record), close to the headline's but not always equal to it.

Where the permutations keep what the splitters read, the protocol's own folds serve, at no extra
fit: a within-groups shuffle keeps each group's class counts, the only thing the grouped splitters
read (probes/group_folds.py), and the outer folds of leave-one-group-out, a dataset's own split or
predefined folds read no labels (their inner splits still do, and are replaced).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, LeaveOneGroupOut

from layerprobe.probes.protocols import INNER_FOLDS, PROTOCOLS, Folds, OuterFold, Split, capped

# The protocols whose outer folds are stratified on the labels.
STRATIFIED_OUTER = (PROTOCOLS["group"], PROTOCOLS["stratified"])


def permutation_folds(folds: Folds, kind: str) -> tuple[Folds, str]:
    """The folds for a permutation test under scheme `kind`, and one line saying which they are.

    Returns `folds` itself for the within-groups scheme and for folds that read no label (a dataset's
    split with selection on its validation part).
    """
    if kind == "within-groups":
        return folds, "the protocol's own folds (a within-groups shuffle keeps every group's class counts)"
    if folds.protocol not in STRATIFIED_OUTER and folds.selection == "validation":
        return folds, "the protocol's own folds (they read no labels)"
    splits = _outer(folds)
    outer = [OuterFold(fit, test, _selection(fit, folds) if folds.selection == "inner-cv" else fold.selection)
             for (fit, test), fold in zip(splits, folds.outer)]
    where = "outer and inner" if folds.protocol in STRATIFIED_OUTER else "inner"
    splitter = "GroupKFold over groups" if folds.groups is not None else "KFold over clips"
    return (capped(replace(folds, outer=outer)),
            f"folds that read no labels ({splitter}, shuffled by the seed, for the {where} splits), so the "
            "observed labels and every permuted vector meet folds made alike")


def _outer(folds: Folds) -> list[Split]:
    if folds.protocol not in STRATIFIED_OUTER:
        return folds.splits
    rows = np.sort(np.concatenate([fold.test for fold in folds.outer]))
    splitter = (KFold(len(folds.outer), shuffle=True, random_state=folds.seed) if folds.groups is None
                else GroupKFold(len(folds.outer), shuffle=True, random_state=folds.seed))
    groups = None if folds.groups is None else folds.groups[rows]
    return [(rows[fit], rows[test]) for fit, test in splitter.split(rows, groups=groups)]


def _selection(fit: np.ndarray, folds: Folds) -> tuple[Split, ...]:
    """Label-free (train, validation) splits of one fitting part, grouped as the protocol's are."""
    blank = np.zeros(len(fit))
    if folds.groups is None:
        splits = KFold(INNER_FOLDS, shuffle=True, random_state=folds.seed).split(blank)
    else:
        groups = folds.groups[fit]
        splitter = (GroupKFold(INNER_FOLDS, shuffle=True, random_state=folds.seed)
                    if len(np.unique(groups)) >= INNER_FOLDS else LeaveOneGroupOut())
        splits = splitter.split(blank, groups=groups)
    return tuple((fit[train], fit[validation]) for train, validation in splits)
