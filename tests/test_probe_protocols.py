import numpy as np
import pytest

from layerprobe.errors import UserError
from layerprobe.probes.protocols import outer_folds


def _grouped(n_groups, n_classes=3, per_cell=4):
    labels = np.tile(np.repeat([f"c{c}" for c in range(n_classes)], per_cell), n_groups)
    groups = np.repeat([f"g{g}" for g in range(n_groups)], n_classes * per_cell)
    return labels, groups


def _assert_no_group_on_both_sides(folds):
    for fold in folds.outer:
        assert not set(folds.groups[fold.fit]) & set(folds.groups[fold.test])
        for inner_train, validation in fold.selection:
            assert not set(folds.groups[inner_train]) & set(folds.groups[validation])
            assert set(inner_train) | set(validation) == set(fold.fit)


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


def test_a_leaky_split_gives_way_to_grouped_cv_and_a_disjoint_split_stays():
    labels, groups = _grouped(n_groups=8)
    leaky = np.where(np.arange(len(labels)) % 4 == 0, "test", "train")  # every speaker on both sides
    folds = outer_folds(labels, groups, leaky)
    assert folds.protocol == "stratified-group-kfold" and folds.leak is None
    assert "shares 8 of 8 groups between train and test (--cv split keeps that split)" in folds.reason
    assert len(folds.used) == len(labels)  # grouped CV over all ok clips
    _assert_no_group_on_both_sides(folds)
    kept = outer_folds(labels, groups, leaky, cv="split")
    assert kept.protocol == "split" and "shares 8 group(s)" in kept.leak
    disjoint = np.where(np.isin(groups, ["g0", "g1"]), "test", "train")
    folds = outer_folds(labels, groups, disjoint)
    assert folds.protocol == "split" and folds.leak is None and "share no group" in folds.reason


def test_train_validation_test_chooses_on_validation_and_refits_on_train_or_both():
    labels, groups = _grouped(n_groups=6)
    split = np.select([np.isin(groups, ["g0"]), np.isin(groups, ["g1"])], ["test", "dev"], "train")
    folds = outer_folds(labels, groups, split)
    assert folds.protocol == "split" and folds.selection == "validation"
    assert folds.split_counts == {"test": 12, "train": 48, "validation": 12}
    [fold] = folds.outer
    np.testing.assert_array_equal(fold.fit, np.flatnonzero(split == "train"))
    np.testing.assert_array_equal(fold.selection[0][1], np.flatnonzero(split == "dev"))
    both = outer_folds(labels, groups, split, refit="train+validation").outer[0]
    np.testing.assert_array_equal(both.fit, np.flatnonzero(split != "test"))


def test_a_fold_column_reproduces_exactly_its_folds():
    labels, groups = _grouped(n_groups=6)
    fold_ids = np.array([f"f{int(g[1]) // 2}" for g in groups])  # three folds of two speakers
    folds = outer_folds(labels, groups, fold_ids=fold_ids)
    assert folds.protocol == "predefined-folds" and len(folds.outer) == 3
    for fold, name in zip(folds.outer, ["f0", "f1", "f2"]):
        np.testing.assert_array_equal(fold.test, np.flatnonzero(fold_ids == name))
        np.testing.assert_array_equal(fold.fit, np.flatnonzero(fold_ids != name))
    _assert_no_group_on_both_sides(folds)
    with pytest.raises(UserError, match="--fold-column gives the folds"):
        outer_folds(labels, groups, fold_ids=fold_ids, cv="loso")


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
