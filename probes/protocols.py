"""The outer folds (chosen once from the clip table) and the inner folds that choose hyperparameters.

Every layer, classifier and baseline is evaluated on the same `Folds`, so comparisons are paired.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from layerprobe.errors import UserError

Split = tuple[np.ndarray, np.ndarray]

PROTOCOLS = {
    "split": "split",
    "group": "stratified-group-kfold",
    "loso": "leave-one-group-out",
    "stratified": "stratified-kfold",
}
INNER_FOLDS = 3


@dataclass(frozen=True)
class Folds:
    """Outer folds over the ok clips, plus the inner folds of each outer training part.

    protocol: one of PROTOCOLS' values. splits: (train_idx, test_idx) into the clip rows.
    inner: for each outer fold, (train, validation) index pairs into that fold's training part.
    groups: the group of each clip, or None when the cache has none.
    """

    protocol: str
    splits: list[Split]
    inner: list[list[Split]]
    groups: np.ndarray | None
    seed: int
    warnings: list[str] = field(default_factory=list)


def outer_folds(
    labels: np.ndarray,
    groups: np.ndarray | None = None,
    split: np.ndarray | None = None,
    cv: str | None = None,
    folds: int = 5,
    seed: int = 0,
) -> Folds:
    """Choose the protocol from the data (or `cv`) and compute the outer and inner folds once.

    labels: one label per clip. groups: speaker/session per clip, "" where unknown; None or all ""
    means no groups. split: train/test/other per clip, or None. cv: None to choose from the data,
    else a key of PROTOCOLS. folds: number of outer folds for the k-fold protocols (default 5).
    seed: makes every shuffled split reproducible (default 0).
    """
    labels = np.asarray(labels)
    groups = _groups_or_none(groups)
    split = np.asarray(split) if split is not None else np.full(len(labels), "")
    has_split = {"train", "test"} <= set(split)
    if len(np.unique(labels)) < 2:
        raise UserError("probing needs at least two classes; the ok clips have one label")
    if folds < 2:
        raise UserError(f"--folds must be at least 2, got {folds}")
    name = _choose(cv, groups, has_split, folds)
    warnings: list[str] = []

    if name == "split":
        if not has_split:
            raise UserError("--cv split needs clips/split to hold both 'train' and 'test' rows")
        splits = [(np.flatnonzero(split == "train"), np.flatnonzero(split == "test"))]
        if groups is not None:
            shared = set(groups[splits[0][0]]) & set(groups[splits[0][1]])
            if shared:
                warnings.append(f"the cache's train/test split shares {len(shared)} group(s) between train and test: "
                                "results are not group-independent")
    elif name == "stratified":
        _check_class_counts(labels, folds)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = list(splitter.split(np.zeros(len(labels)), labels))
        warnings.append("no groups in the cache: stratified CV may put clips of one speaker in both train and test, "
                        "which inflates scores" if groups is None else
                        "--cv stratified ignores the groups: clips of one group may sit in both train and test")
        groups = None
    else:
        if groups is None:
            raise UserError(f"--cv {cv} needs groups (clips/group), and this cache has none; use --cv stratified")
        n_groups = len(np.unique(groups))
        if name == "group" and n_groups < folds:
            raise UserError(f"{folds}-fold grouped CV needs at least {folds} groups, the cache has {n_groups}; "
                            "use --cv loso or fewer --folds")
        if n_groups < 2:
            raise UserError("grouped CV needs at least 2 groups; the ok clips all share one group")
        splitter = (StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed) if name == "group"
                    else LeaveOneGroupOut())
        splits = list(splitter.split(np.zeros(len(labels)), labels, groups))
        for train, test in splits:
            assert_disjoint_groups(groups, train, test)

    _check_train_has_every_class(labels, splits, groups)
    inner = [inner_splits(labels[train], None if groups is None else groups[train], seed) for train, _ in splits]
    return Folds(PROTOCOLS[name], splits, inner, groups, seed, warnings)


def inner_splits(labels: np.ndarray, groups: np.ndarray | None, seed: int) -> list[Split]:
    """The (train, validation) folds that choose C inside one outer training part.

    Grouped whenever groups exist: a validation fold that shares speakers with its training part
    would choose C for memorising speakers.
    """
    blank = np.zeros(len(labels))
    if groups is None:
        counts = np.unique(labels, return_counts=True)
        if counts[1].min() < INNER_FOLDS:
            rare = counts[0][counts[1].argmin()]
            raise UserError(f"class '{rare}' has {counts[1].min()} clip(s) in a training fold; choosing C by "
                            f"{INNER_FOLDS}-fold inner CV needs at least {INNER_FOLDS}; use fewer --folds")
        return list(StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(blank, labels))
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise UserError("a training fold holds a single group, so C cannot be chosen by grouped inner CV; "
                        "the cache needs at least 3 groups")
    splitter = (StratifiedGroupKFold(INNER_FOLDS, shuffle=True, random_state=seed) if n_groups >= INNER_FOLDS
                else LeaveOneGroupOut())
    splits = list(splitter.split(blank, labels, groups))
    for train, validation in splits:
        assert_disjoint_groups(groups, train, validation)
    return splits


def assert_disjoint_groups(groups: np.ndarray, train: np.ndarray, test: np.ndarray) -> None:
    """Fail loudly if any group sits on both sides of a split (the leak this tool exists to prevent)."""
    shared = set(groups[train]) & set(groups[test])
    if shared:
        raise AssertionError(f"groups on both sides of a fold: {sorted(shared)[:5]}")


def _groups_or_none(groups: np.ndarray | None) -> np.ndarray | None:
    if groups is None:
        return None
    groups = np.asarray(groups)
    blank = groups == ""
    if blank.all():
        return None
    if blank.any():
        raise UserError(f"{blank.sum()} of {len(groups)} ok clips have no group while others have one; "
                        "fill clips/group for every clip or for none")
    return groups


def _choose(cv: str | None, groups: np.ndarray | None, has_split: bool, folds: int) -> str:
    if cv is not None:
        if cv not in PROTOCOLS:
            raise UserError(f"unknown --cv {cv!r}; choose from {', '.join(PROTOCOLS)}")
        return cv
    if has_split:
        return "split"
    if groups is None:
        return "stratified"
    return "group" if len(np.unique(groups)) >= folds else "loso"


def _check_class_counts(labels: np.ndarray, folds: int) -> None:
    classes, counts = np.unique(labels, return_counts=True)
    too_few = [f"'{c}' ({n})" for c, n in zip(classes, counts) if n < folds]
    if too_few:
        raise UserError(f"stratified {folds}-fold CV needs at least {folds} clips per class; too few: "
                        f"{', '.join(too_few)}")


def _check_train_has_every_class(labels: np.ndarray, splits: list[Split], groups: np.ndarray | None) -> None:
    # A class absent from a training part can never be predicted on its test part; say which class
    # and why instead of reporting a meaningless score.
    classes = np.unique(labels)
    for k, (train, test) in enumerate(splits):
        missing = np.setdiff1d(classes, labels[train])
        if missing.size:
            where = ""
            if groups is not None:
                n_groups = len(np.unique(groups[labels == missing[0]]))
                where = f"; it occurs in only {n_groups} group(s), grouped CV needs it in at least 2"
            raise UserError(f"class '{missing[0]}' has no clip in the training part of fold {k + 1}{where}")
        if len(test) == 0:
            raise UserError(f"fold {k + 1} has an empty test part")
