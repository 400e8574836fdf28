"""The outer folds (chosen once from the clip table) and the selection splits inside each.

Every layer, classifier and baseline is evaluated on the same `Folds`, so comparisons are paired.
Row indices are positions among the ok clips throughout.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold

from layerprobe.errors import UserError
from layerprobe.probes.group_folds import stratified_group_folds

Split = tuple[np.ndarray, np.ndarray]

PROTOCOLS = {
    "split": "split",
    "group": "stratified-group-kfold",
    "loso": "leave-one-group-out",
    "stratified": "stratified-kfold",
    "folds": "predefined-folds",
}
REFITS = ("train", "train+validation")
INNER_FOLDS = 3
# The dataset's own names for its validation part.
VALIDATION_NAMES = ("validation", "valid", "dev")
# Hyperparameters are chosen on at most this many clips of each selection training part (whole groups
# drawn in a seeded order); the refit still uses every fitting row. Above ~10,000 clips the chosen C
# hardly moves while every logreg/SVM fit costs in proportion: at Speech-Commands size (56,000-clip
# inner parts) this is what lets a 13-layer sweep finish in minutes. FSDD-size parts (~1,600) are untouched.
SELECTION_ROWS = 10_000


@dataclass(frozen=True)
class OuterFold:
    """One outer fold: `selection` (train, validation) pairs choose the hyperparameters, the chosen
    point is refitted on `fit` and scored on `test`. No selection or fit row is a test row."""

    fit: np.ndarray
    test: np.ndarray
    selection: tuple[Split, ...]


@dataclass(frozen=True)
class Folds:
    """The outer folds over the ok clips.

    protocol: one of PROTOCOLS' values. selection: "inner-cv" (hyperparameters chosen by CV inside
    each fitting part) or "validation" (on the dataset's validation split). reason: one line saying
    which protocol and why. groups: the group of each clip, None without groups. split_counts: ok
    clips per split value ("none" for clips without one); leak: why the protocol is not
    group-independent, None when it is.
    """

    protocol: str
    selection: str
    outer: list[OuterFold]
    groups: np.ndarray | None
    seed: int
    reason: str
    split_counts: dict[str, int] = field(default_factory=dict)
    leak: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def splits(self) -> list[Split]:
        """(fit, test) rows of each outer fold."""
        return [(fold.fit, fold.test) for fold in self.outer]

    @property
    def used(self) -> np.ndarray:
        """Every row any fold fits, selects on or tests, sorted."""
        rows = [np.concatenate([fold.fit, fold.test, *[np.concatenate(s) for s in fold.selection]])
                for fold in self.outer]
        return np.unique(np.concatenate(rows))


def outer_folds(labels: np.ndarray, groups: np.ndarray | None = None, split: np.ndarray | None = None, *,
                fold_ids: np.ndarray | None = None, cv: str | None = None, folds: int = 5, seed: int = 0,
                refit: str = "train", fold_name: str = "the fold column") -> Folds:
    """Choose the protocol from the data (or `cv`) and compute the outer folds and selection splits once.

    Parameters
    ----------
    labels : one label per ok clip.
    groups : speaker/session per clip, "" where unknown; None or all "" means no groups.
    split : train/validation (or valid, dev)/test per clip, "" for none; None means no split.
    fold_ids : a predefined fold per clip (each value is one test fold); implies cv="folds".
    fold_name : what the reason calls fold_ids' column (default "the fold column").
    cv : None (default) chooses: the dataset's split when its train and test share no group, else
        grouped CV ("group", or "loso" with fewer groups than folds), else "stratified".
    folds : outer folds of the k-fold protocols (default 5).
    seed : makes every shuffled split reproducible (default 0).
    refit : with a validation split, what the chosen hyperparameters are refitted on: "train"
        (default) or "train+validation".
    """
    labels = np.asarray(labels)
    chosen = capped(_outer_folds(labels, groups, split, fold_ids, cv, folds, seed, refit, fold_name))
    gap = test_gaps(labels, chosen)
    if gap:
        chosen.warnings.append(gap)
    return chosen


def _outer_folds(labels: np.ndarray, groups: np.ndarray | None, split: np.ndarray | None,
                 fold_ids: np.ndarray | None, cv: str | None, folds: int, seed: int, refit: str,
                 fold_name: str) -> Folds:
    groups = _groups_or_none(groups)
    split = _split_names(split, len(labels))
    if len(np.unique(labels)) < 2:
        raise UserError("probing needs at least two classes; the ok clips have one label")
    if folds < 2:
        raise UserError(f"--folds must be at least 2, got {folds}")
    if refit not in REFITS:
        raise UserError(f"unknown --refit {refit!r}; choose from {', '.join(REFITS)}")
    counts = dict(sorted(Counter(name or "none" for name in split).items()))
    if fold_ids is not None:
        if cv not in (None, "folds"):
            raise UserError(f"--fold-column gives the folds, so --cv {cv} does not apply; drop one of them")
        # The split column plays no part in predefined folds: its counts would only mislead.
        return _predefined(labels, groups, np.asarray(fold_ids).astype(str), seed, fold_name)
    if cv == "folds":
        raise UserError("--cv folds needs --fold-column COL, a column of predefined folds")
    name, reason = _choose(cv, groups, split, folds)
    if name == "split":
        return _split_protocol(labels, groups, split, seed, refit, reason, counts)
    warnings = []
    if name == "stratified":
        _check_class_counts(labels, folds)
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))
        warnings.append("no groups: stratified CV may put clips of one speaker in both train and test, which "
                        "inflates scores" if groups is None else
                        "--cv stratified ignores the groups: clips of one group may sit in both train and test")
        groups = None
    else:
        splits = _grouped_splits(name, labels, groups, folds, seed)
    _check_train_has_every_class(labels, splits, groups)
    outer = [OuterFold(train, test, _selection(labels, groups, train, seed)) for train, test in splits]
    leak = warnings[0] if warnings else None
    return Folds(PROTOCOLS[name], "inner-cv", outer, groups, seed, reason, counts, leak, warnings)


def capped(folds: Folds) -> Folds:
    """folds with every selection training part above SELECTION_ROWS clips subsampled, saying so in reason."""
    rng = np.random.default_rng(folds.seed)
    outer = [replace(fold, selection=tuple((subsample(train, folds.groups, rng), validation)
                                           for train, validation in fold.selection)) for fold in folds.outer]
    if all(len(train) <= SELECTION_ROWS for fold in folds.outer for train, _ in fold.selection):
        return folds
    return replace(folds, outer=outer, reason=f"{folds.reason}; hyperparameters chosen on {SELECTION_ROWS:,}-clip "
                                                f"subsamples of whole groups of each selection training part")


def subsample(rows: np.ndarray, groups: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """rows unchanged if they number at most SELECTION_ROWS, else the sorted rows of whole groups (single
    clips without groups) taken in rng's random order while they fit within SELECTION_ROWS."""
    if len(rows) <= SELECTION_ROWS:
        return rows
    if groups is None:
        return np.sort(rng.permutation(rows)[:SELECTION_ROWS])
    names, of_row, counts = np.unique(groups[rows], return_inverse=True, return_counts=True)
    order = rng.permutation(len(names))
    kept = order[np.cumsum(counts[order]) <= SELECTION_ROWS]
    return rows[np.isin(of_row, kept)]


def test_gaps(labels: np.ndarray, folds: Folds) -> str | None:
    """One line naming the classes missing from test parts (their per-fold recall is undefined), or None."""
    classes = np.unique(labels)
    gaps = [f"fold {k + 1} lacks {', '.join(map(str, missing))}" for k, fold in enumerate(folds.outer)
            if (missing := np.setdiff1d(classes, labels[fold.test])).size]
    if not gaps:
        return None
    return ("test parts missing classes (per-fold scores average over the classes present; pooled scores use "
            f"all): {'; '.join(gaps)}")


def inner_splits(labels: np.ndarray, groups: np.ndarray | None, seed: int) -> list[Split]:
    """The (train, validation) folds that choose hyperparameters inside one fitting part, as positions in it.

    Grouped whenever groups exist: a validation fold that shares speakers with its training part
    would choose C for memorising speakers.
    """
    blank = np.zeros(len(labels))
    if groups is None:
        classes, counts = np.unique(labels, return_counts=True)
        if counts.min() < INNER_FOLDS:
            raise UserError(f"class '{classes[counts.argmin()]}' has {counts.min()} clip(s) in a training part; "
                            f"choosing C by {INNER_FOLDS}-fold inner CV needs at least {INNER_FOLDS}; use fewer --folds")
        return list(StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(blank, labels))
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise UserError("a training part holds a single group, so C cannot be chosen by grouped inner CV; "
                        "the cache needs at least 3 groups")
    splits = (stratified_group_folds(labels, groups, INNER_FOLDS, seed) if n_groups >= INNER_FOLDS
              else list(LeaveOneGroupOut().split(blank, labels, groups)))
    for train, validation in splits:
        assert_disjoint_groups(groups, train, validation)
    return splits


def assert_disjoint_groups(groups: np.ndarray, train: np.ndarray, test: np.ndarray) -> None:
    """Fail loudly if any group sits on both sides of a split (the leak this tool exists to prevent)."""
    shared = set(groups[train]) & set(groups[test])
    if shared:
        raise AssertionError(f"groups on both sides of a fold: {sorted(shared)[:5]}")


def _selection(labels: np.ndarray, groups: np.ndarray | None, fit: np.ndarray, seed: int) -> tuple[Split, ...]:
    inner = inner_splits(labels[fit], None if groups is None else groups[fit], seed)
    return tuple((fit[train], fit[validation]) for train, validation in inner)


def _split_names(split: np.ndarray | None, n: int) -> np.ndarray:
    if split is None:
        return np.full(n, "", dtype=object)
    split = np.asarray(split, dtype=object).copy()
    split[np.isin(split, VALIDATION_NAMES)] = "validation"
    return split


def _shared_groups(groups: np.ndarray | None, split: np.ndarray, a: str, b: str) -> set:
    if groups is None:
        return set()
    return set(groups[split == a]) & set(groups[split == b])


def _choose(cv: str | None, groups: np.ndarray | None, split: np.ndarray, folds: int) -> tuple[str, str]:
    """The protocol's key and the one line that says why it was chosen."""
    has_split = {"train", "test"} <= set(split)
    if cv is not None:
        if cv not in PROTOCOLS:
            raise UserError(f"unknown --cv {cv!r}; choose from {', '.join(PROTOCOLS)}")
        return cv, f"--cv {cv} as asked"
    if has_split:
        shared = _shared_groups(groups, split, "train", "test")
        if not shared:
            why = "its train and test share no group" if groups is not None else "the cache has no groups"
            return "split", f"the dataset's own train/test split ({why})"
        n_groups = len(np.unique(groups))
        name = "group" if n_groups >= folds else "loso"
        return name, (f"grouped CV over all ok clips, because the dataset's train/test split shares {len(shared)} of "
                      f"{n_groups} groups between train and test (--cv split keeps that split)")
    if groups is None:
        return "stratified", "stratified CV: the cache has no groups"
    n_groups = len(np.unique(groups))
    if n_groups >= folds:
        return "group", f"speaker-independent {folds}-fold CV over {n_groups} groups"
    return "loso", f"leave-one-group-out: {n_groups} groups are fewer than {folds} folds"


def _split_protocol(labels: np.ndarray, groups: np.ndarray | None, split: np.ndarray, seed: int, refit: str,
                    reason: str, counts: dict[str, int]) -> Folds:
    if not {"train", "test"} <= set(split):
        raise UserError("--cv split needs clips/split to hold both 'train' and 'test' rows")
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    validation = np.flatnonzero(split == "validation")
    warnings, leak = [], None
    shared = _shared_groups(groups, split, "train", "test")
    if shared:
        leak = (f"the dataset's train/test split shares {len(shared)} group(s) between train and test: the scores "
                "are not group-independent")
        warnings.append(leak)
    unused = len(split) - len(train) - len(test) - len(validation)
    if unused:
        warnings.append(f"{unused} ok clip(s) belong to no train/validation/test split and are not used")
    _check_train_has_every_class(labels, [(train, test)], None)
    if len(validation):
        if _shared_groups(groups, split, "train", "validation"):
            warnings.append("the validation split shares groups with train: C is chosen on speakers it was fitted on")
        fit = np.sort(np.concatenate([train, validation])) if refit == "train+validation" else train
        outer = [OuterFold(fit, test, ((train, validation),))]
        return Folds("split", "validation", outer, groups, seed, reason, counts, leak, warnings)
    outer = [OuterFold(train, test, _selection(labels, groups, train, seed))]
    return Folds("split", "inner-cv", outer, groups, seed, reason, counts, leak, warnings)


def _predefined(labels: np.ndarray, groups: np.ndarray | None, fold_ids: np.ndarray, seed: int,
                fold_name: str) -> Folds:
    values = np.unique(fold_ids)
    if len(values) < 2:
        raise UserError(f"the fold column has a single value ({values[0]!r}); it needs at least two folds")
    splits = [(np.flatnonzero(fold_ids != value), np.flatnonzero(fold_ids == value)) for value in values]
    _check_train_has_every_class(labels, splits, groups)
    warnings, leak = [], None
    if groups is not None:
        shared = {g for train, test in splits for g in set(groups[train]) & set(groups[test])}
        if shared:
            leak = f"the predefined folds put {len(shared)} group(s) on both sides of a fold"
            warnings.append(leak)
    outer = [OuterFold(train, test, _selection(labels, groups, train, seed)) for train, test in splits]
    reason = f"the {len(values)} predefined folds of {fold_name}"
    return Folds(PROTOCOLS["folds"], "inner-cv", outer, groups, seed, reason, {}, leak, warnings)


def _grouped_splits(name: str, labels: np.ndarray, groups: np.ndarray | None, folds: int, seed: int) -> list[Split]:
    if groups is None:
        raise UserError(f"--cv {name} needs groups (clips/group), and this cache has none; use --cv stratified")
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise UserError("grouped CV needs at least 2 groups; the ok clips all share one group")
    if name == "group" and n_groups < folds:
        raise UserError(f"{folds}-fold grouped CV needs at least {folds} groups, the cache has {n_groups}; "
                        "use --cv loso or fewer --folds")
    splits = (stratified_group_folds(labels, groups, folds, seed) if name == "group"
              else list(LeaveOneGroupOut().split(np.zeros(len(labels)), labels, groups)))
    for train, test in splits:
        assert_disjoint_groups(groups, train, test)
    return splits


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


def final_fold(labels: np.ndarray, folds: Folds) -> OuterFold:
    """The fit of a probe to be saved: on the one split's fitting rows and selection, or on every
    used clip with inner CV over them when the protocol has several folds."""
    if len(folds.outer) == 1:
        return OuterFold(folds.outer[0].fit, np.zeros(0, dtype=np.int64), folds.outer[0].selection)
    used = folds.used
    rng = np.random.default_rng(folds.seed)
    selection = tuple((subsample(train, folds.groups, rng), validation)
                      for train, validation in _selection(labels, folds.groups, used, folds.seed))
    return OuterFold(used, np.zeros(0, dtype=np.int64), selection)
