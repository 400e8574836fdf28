import numpy as np
import pytest

from layerprobe.errors import UserError
from layerprobe.probes.protocols import outer_folds


def _grouped(n_groups, n_classes=3, per_cell=4):
    labels = np.tile(np.repeat([f"c{c}" for c in range(n_classes)], per_cell), n_groups)
    groups = np.repeat([f"g{g}" for g in range(n_groups)], n_classes * per_cell)
    return labels, groups


def _assert_no_group_on_both_sides(folds):
    for (train, test), inner in zip(folds.splits, folds.inner):
        assert not set(folds.groups[train]) & set(folds.groups[test])
        train_groups = folds.groups[train]
        for inner_train, validation in inner:
            assert not set(train_groups[inner_train]) & set(train_groups[validation])


def test_enough_groups_gives_stratified_group_kfold_without_shared_groups():
    labels, groups = _grouped(n_groups=7)
    folds = outer_folds(labels, groups, folds=5, seed=1)
    assert folds.protocol == "stratified-group-kfold"
    assert len(folds.splits) == 5
    _assert_no_group_on_both_sides(folds)
    tested = np.sort(np.concatenate([test for _, test in folds.splits]))
    np.testing.assert_array_equal(tested, np.arange(len(labels)))  # every clip tested exactly once


def test_fewer_groups_than_folds_gives_leave_one_group_out():
    labels, groups = _grouped(n_groups=4)
    folds = outer_folds(labels, groups, folds=5)
    assert folds.protocol == "leave-one-group-out"
    assert [sorted(set(groups[test])) for _, test in folds.splits] == [["g0"], ["g1"], ["g2"], ["g3"]]
    _assert_no_group_on_both_sides(folds)


def test_split_column_wins_and_no_groups_warns():
    labels, _ = _grouped(n_groups=4)
    split = np.where(np.arange(len(labels)) % 4 == 0, "test", "train")
    folds = outer_folds(labels, None, split)
    assert folds.protocol == "split"
    np.testing.assert_array_equal(folds.splits[0][1], np.flatnonzero(split == "test"))
    stratified = outer_folds(labels, np.full(len(labels), ""))
    assert stratified.protocol == "stratified-kfold"
    assert "no groups" in stratified.warnings[0]


def test_seed_makes_folds_reproducible():
    labels, groups = _grouped(n_groups=8)
    a, b, c = (outer_folds(labels, groups, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a.splits, b.splits))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a.splits, c.splits))


@pytest.mark.parametrize("labels, groups, cv, folds, message", [
    (["a"] * 6 + ["b"] * 3, None, None, 5, r"at least 5 clips per class; too few: 'b' \(3\)"),
    (["a", "b"] * 6, None, "group", 3, "needs groups"),
    (["a", "a", "b", "b"] * 3, ["g1", "g2"] * 6, "group", 5, "needs at least 5 groups"),
    (["a", "b"] * 6, ["g1"] * 6 + [""] * 6, None, 5, "have no group"),
    (["a"] * 12, None, None, 5, "at least two classes"),
])
def test_impossible_protocols_say_what_is_missing(labels, groups, cv, folds, message):
    with pytest.raises(UserError, match=message):
        outer_folds(np.array(labels), None if groups is None else np.array(groups), cv=cv, folds=folds)


def test_class_confined_to_one_group_is_an_error():
    labels, groups = _grouped(n_groups=4)
    labels = labels.astype(object)
    labels[groups == "g2"] = "only-in-g2"
    with pytest.raises(UserError, match="'only-in-g2' has no clip in the training part .* only 1 group"):
        outer_folds(labels, groups)
