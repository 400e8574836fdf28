"""The folds a permutation test runs on are made alike for the observed and every permuted label vector,
and the seed re-draws grouped folds."""
import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from layerprobe.probes.group_folds import stratified_group_folds
from layerprobe.probes.permutation_folds import permutation_folds
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.significance import permuted_labels, scheme


def _partition(folds):
    return sorted(sorted(set(folds.groups[test])) for _, test in folds.splits)


def _same_folds(a, b):
    assert len(a.outer) == len(b.outer)
    for one, other in zip(a.outer, b.outer):
        np.testing.assert_array_equal(one.fit, other.fit)
        np.testing.assert_array_equal(one.test, other.test)
        assert len(one.selection) == len(other.selection)
        for (t1, v1), (t2, v2) in zip(one.selection, other.selection):
            np.testing.assert_array_equal(t1, t2)
            np.testing.assert_array_equal(v1, v2)


def _emodb_like(seed=0):
    """10 speakers x 7 classes, uneven counts: the groups' class spreads all differ."""
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for speaker in range(10):
        for emotion in range(7):
            n = int(rng.integers(3, 15))
            labels += [f"e{emotion}"] * n
            groups += [f"s{speaker}"] * n
    return np.array(labels), np.array(groups)


def _speaker_level(n_speakers=12, clips=6, minority=6, seed=0):
    speaker = np.repeat(np.arange(n_speakers), clips)
    rng = np.random.default_rng(seed)
    per_speaker = rng.permutation(np.r_[np.ones(minority, int), np.zeros(n_speakers - minority, int)])
    return np.array(["a", "b"])[per_speaker[speaker]], np.array([f"s{s:02d}" for s in speaker])


def test_seed_redraws_grouped_folds_where_stratified_group_kfold_does_not():
    labels, groups = _emodb_like()
    sklearn_partitions = {frozenset(frozenset(groups[test]) for _, test in
                                    StratifiedGroupKFold(5, shuffle=True, random_state=s).split(labels, labels, groups))
                          for s in range(5)}
    assert len(sklearn_partitions) == 1  # why the splitter is ours: its shuffle is a no-op here
    first, second = (outer_folds(labels, groups, folds=5, seed=s) for s in (0, 1))
    assert first.protocol == "stratified-group-kfold"
    assert _partition(first) != _partition(second)
    _same_folds(first, outer_folds(labels, groups, folds=5, seed=0))


def test_stratified_group_folds_balance_classes_about_as_well_as_scikit_learn():
    labels, groups = _emodb_like()

    def spread(tests):
        counts = np.array([[np.sum(labels[t] == c) for c in np.unique(labels)] for t in tests], dtype=float)
        return (counts / counts.sum(axis=0)).std(axis=0).mean()

    reference = spread([t for _, t in StratifiedGroupKFold(5).split(labels, labels, groups)])
    ours = [spread([t for _, t in stratified_group_folds(labels, groups, 5, seed)]) for seed in range(10)]
    assert np.mean(ours) < 1.25 * reference
    for seed in range(3):
        tests = [t for _, t in stratified_group_folds(labels, groups, 5, seed)]
        np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(labels)))
        assert all(not set(groups[a]) & set(groups[b]) for i, a in enumerate(tests) for b in tests[i + 1:])


def test_within_groups_permutations_meet_the_folds_the_observed_labels_got():
    labels, groups = _emodb_like()
    codes = np.unique(labels, return_inverse=True)[1]
    folds = outer_folds(codes, groups, folds=5, seed=3)
    assert scheme(codes, groups) == "within-groups"
    assert permutation_folds(folds, "within-groups")[0] is folds
    for shuffled in permuted_labels(codes, groups, "within-groups", 3, seed=0):
        _same_folds(outer_folds(shuffled, groups, folds=5, seed=3), folds)


@pytest.mark.parametrize("cv", [None, "loso"])
def test_between_groups_permutation_folds_read_no_labels(cv):
    labels, groups = _speaker_level()
    codes = np.unique(labels, return_inverse=True)[1]
    folds = outer_folds(codes, groups, cv=cv, folds=5, seed=2)
    tested, note = permutation_folds(folds, scheme(codes, groups))
    assert "read no labels" in note
    others = permuted_labels(codes, groups, "between-groups", 4, seed=1)
    stratified = [outer_folds(other, groups, cv=cv, folds=5, seed=2) for other in others]
    # The protocol's folds follow the labels (else the old test would have been exact) ...
    assert any(any(not np.array_equal(a.fit, b.fit) for a, b in zip(s.outer, folds.outer))
               or any(not np.array_equal(a.selection[0][0], b.selection[0][0]) for a, b in zip(s.outer, folds.outer))
               for s in stratified)
    # ... the test's folds do not: every permuted vector's are the observed labels' own.
    for other in stratified:
        _same_folds(permutation_folds(other, "between-groups")[0], tested)
    for fold in tested.outer:
        assert not set(groups[fold.fit]) & set(groups[fold.test])
        for train, validation in fold.selection:
            assert not set(groups[train]) & set(groups[validation])
    if cv == "loso":  # leave-one-group-out's outer folds read no labels and stay
        for a, b in zip(tested.outer, folds.outer):
            np.testing.assert_array_equal(a.test, b.test)


def test_free_permutation_folds_are_kfold_whatever_the_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    folds = outer_folds(labels, None, seed=4)
    tested, _ = permutation_folds(folds, "free")
    _same_folds(permutation_folds(outer_folds(rng.permutation(labels), None, seed=4), "free")[0], tested)
    np.testing.assert_array_equal(np.sort(np.concatenate([t for _, t in tested.splits])), np.arange(60))
