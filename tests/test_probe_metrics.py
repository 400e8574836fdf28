"""Scores from confusion matrices against scikit-learn, chance levels, intervals and permutation schemes."""
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from layerprobe.probes.intervals import bootstrap_intervals, corrected_t_interval
from layerprobe.probes.metrics import (
    DENSE_CONFUSION_MAX, chance_levels, class_counts, confusion, count_scores, per_class, pooled_confusion, scores,
)
from layerprobe.probes.significance import (
    distinct_assignments, max_t_p_values, near_group_level_note, p_value, permuted_labels, resolution_note, scheme,
)


@pytest.mark.parametrize("seed", range(5))
def test_scores_match_sklearn_including_classes_missing_from_the_truth(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 40)  # class 3 never occurs in the truth, sometimes predicted
    predicted = rng.integers(0, 4, 40)
    got = scores(confusion(truth, predicted, 4))
    assert got["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    with np.errstate(all="ignore"), pytest.warns(UserWarning):
        assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert got["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))


def test_a_test_part_holding_one_class_gets_sklearns_macro_f1():
    # The case: per-fold averaging over present classes gave 0.82 where sklearn gives 0.41.
    truth = np.zeros(10, dtype=int)
    predicted = np.array([0] * 7 + [1] * 3)
    assert scores(confusion(truth, predicted, 2))["macro_f1"] == pytest.approx(
        f1_score(truth, predicted, average="macro", zero_division=0))


def test_pooled_uar_of_a_majority_guess_with_speaker_level_labels_is_chance():
    # Speaker-level labels: each test fold holds one class, so each fold's UAR is 1 or 0 and their
    # mean depends on the fold count, while the pooled UAR of "always the majority" is exactly 1/2.
    codes = np.repeat([0, 0, 0, 1, 1], 4)
    folds = [(np.setdiff1d(np.arange(20), np.arange(g * 4, g * 4 + 4)), np.arange(g * 4, g * 4 + 4)) for g in range(5)]
    chance = chance_levels(codes, folds, 2)
    assert chance["majority"]["balanced_accuracy"] == pytest.approx(0.5)


def test_per_class_follows_class_order():
    truth, predicted = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1])
    result = per_class(class_counts(truth, predicted, 3))
    assert pooled_confusion(truth, predicted, 3) == {"confusion_matrix": [[1, 1, 0], [0, 1, 0], [0, 1, 0]]}
    assert result["recall"] == [0.5, 1.0, 0.0]
    assert result["support"] == [2, 1, 1]


@pytest.mark.parametrize("n_classes", [DENSE_CONFUSION_MAX, DENSE_CONFUSION_MAX + 1, 1300])
def test_many_classes_keep_the_nonzero_cells_of_sklearns_confusion_matrix(n_classes):
    rng = np.random.default_rng(n_classes)
    truth, predicted = rng.integers(0, n_classes, 3000), rng.integers(0, n_classes, 3000)
    reference = confusion_matrix(truth, predicted, labels=range(n_classes))
    found = pooled_confusion(truth, predicted, n_classes)
    if n_classes <= DENSE_CONFUSION_MAX:
        assert found == {"confusion_matrix": reference.tolist()}
        return
    rows, columns = np.nonzero(reference)
    assert found == {"confusion_cells": [[int(i), int(j), int(reference[i, j])] for i, j in zip(rows, columns)]}


def test_chance_from_class_counts_equals_chance_from_the_confusion_matrices():
    # The K x K matrices the chance levels were computed from before, built here as the reference.
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 7, 90)
    folds = [(np.setdiff1d(np.arange(90), test), test) for test in np.array_split(rng.permutation(90), 4)]
    majority, prior = np.zeros((7, 7)), np.zeros((7, 7))
    for fit, test in folds:
        counts, tested = np.bincount(codes[fit], minlength=7), np.bincount(codes[test], minlength=7)
        majority[:, counts.argmax()] += tested
        prior += np.outer(tested, counts / counts.sum())
    found = chance_levels(codes, folds, 7)
    assert found["majority"] == pytest.approx({m: float(v) for m, v in scores(majority).items()}, abs=1e-12)
    expected = scores(prior)
    assert found["class_prior"] == pytest.approx({m: float(expected[m]) for m in ("accuracy", "balanced_accuracy")},
                                                 abs=1e-12)


def test_corrected_t_interval_is_wider_than_the_plain_one_by_the_correction():
    values = np.array([0.70, 0.74, 0.69, 0.77, 0.72])
    low, high = corrected_t_interval(0.724, values, 0.25)
    plain = stats.t.ppf(0.975, 4) * values.std(ddof=1) / np.sqrt(5)
    assert (high - low) / 2 == pytest.approx(plain * np.sqrt((1 / 5 + 0.25) / (1 / 5)))


def test_bootstrap_interval_covers_the_value_and_is_seeded():
    rng = np.random.default_rng(0)
    pairs = [(rng.integers(0, 2, 10), rng.integers(0, 2, 10)) for _ in range(30)]
    units = np.stack([class_counts(truth, predicted, 2) for truth, predicted in pairs])
    first, again = bootstrap_intervals(units, seed=3), bootstrap_intervals(units, seed=3)
    assert first == again
    value = scores(sum(confusion(truth, predicted, 2) for truth, predicted in pairs))["accuracy"]
    assert first["accuracy"][0] < value < first["accuracy"][1]


def test_scores_of_class_counts_equal_those_of_the_confusion_matrix_they_come_from():
    rng = np.random.default_rng(1)
    truth, predicted = rng.integers(0, 5, 200), rng.integers(0, 4, 200)  # class 4 never predicted
    from_matrix, from_counts = scores(confusion(truth, predicted, 6)), count_scores(class_counts(truth, predicted, 6))
    assert from_matrix == pytest.approx(from_counts, abs=0)


def test_scheme_follows_the_label_structure():
    groups = np.repeat(["a", "b", "c", "d"], 3)
    assert scheme(np.tile([0, 1, 2], 4), groups) == "within-groups"
    assert scheme(np.repeat([0, 0, 1, 1], 3), groups) == "between-groups"
    assert scheme(np.tile([0, 1, 2], 4), None) == "free"


def test_within_group_shuffles_stay_within_groups_and_are_seeded():
    groups = np.repeat(["a", "b"], 6)
    codes = np.tile([0, 1, 2], 4)
    shuffles = permuted_labels(codes, groups, "within-groups", 5, seed=1)
    for shuffled in shuffles:
        for g in "ab":
            assert sorted(shuffled[groups == g]) == sorted(codes[groups == g])
    np.testing.assert_array_equal(shuffles, permuted_labels(codes, groups, "within-groups", 5, seed=1))


def test_between_group_shuffles_give_each_group_one_label_and_do_change_labels():
    groups = np.repeat([f"s{i}" for i in range(10)], 4)
    codes = np.repeat([0] * 5 + [1] * 5, 4)
    shuffles = permuted_labels(codes, groups, "between-groups", 50, seed=0)
    for shuffled in shuffles:
        for g in np.unique(groups):
            assert len(set(shuffled[groups == g])) == 1
        assert shuffled.sum() == codes.sum()
    assert (shuffles != codes).any(axis=1).mean() > 0.9
    assert distinct_assignments(codes, groups, "between-groups") == pytest.approx(252)
    assert "1/252" in resolution_note(codes, groups, "between-groups", 999)
    assert resolution_note(codes, groups, "between-groups", 99) is None


def test_too_few_assignments_refuse_the_test():
    groups = np.repeat(["a", "b", "c", "d"], 2)
    codes = np.repeat([0, 0, 1, 1], 2)
    assert "no permutation test" in resolution_note(codes, groups, "between-groups", 99)  # 6 assignments


def test_p_values_count_null_scores_at_least_as_good():
    assert p_value(0.9, np.array([0.5, 0.95, 0.9, 0.2])) == pytest.approx(3 / 5)
    observed = np.array([0.9, 0.6])
    null = np.array([[0.5, 0.7], [0.95, 0.4], [0.3, 0.3]])
    np.testing.assert_allclose(max_t_p_values(observed, null), [2 / 4, 3 / 4])


def test_near_group_level_note_counts_as_a_dense_groups_x_labels_table_does():
    rng = np.random.default_rng(3)
    groups = np.repeat([f"g{g}" for g in range(40)], 10)
    labels = np.repeat(rng.integers(0, 30, 40), 10)
    labels[rng.choice(len(labels), 12, replace=False)] = 99  # stray clips
    table = np.zeros((40, 31), dtype=int)
    np.add.at(table, (np.unique(groups, return_inverse=True)[1], np.unique(labels, return_inverse=True)[1]), 1)
    agreeing, mixed = table.max(axis=1).sum(), ((table > 0).sum(axis=1) > 1).sum()
    note = near_group_level_note(labels, groups, "within-groups")
    assert note.startswith(f"labels are nearly constant within groups ({agreeing / len(labels):.1%} of clips agree "
                           f"with their group's majority; {len(labels) - agreeing} clip(s) in {mixed} group(s) differ)")
