import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from layerprobe.probes.metrics import chance_levels, fold_scores, per_class, summarize
from layerprobe.probes.significance import p_value, permuted_labels


def test_fold_scores_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.choice(["a", "b", "c"], size=50, p=[0.6, 0.3, 0.1])
    y_pred = np.where(rng.random(50) < 0.7, y_true, rng.choice(["a", "b", "c"], size=50))
    scores = fold_scores(y_true, y_pred)
    assert scores["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert scores["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))


def test_per_class_and_confusion_follow_class_order():
    y_true = np.array(["b", "a", "a", "c", "b", "a"])
    y_pred = np.array(["b", "a", "b", "a", "b", "a"])
    classes = np.array(["a", "b", "c"])
    result = per_class(y_true, y_pred, classes)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    assert result["per_class"]["recall"] == pytest.approx(recall.tolist())
    assert result["per_class"]["precision"] == pytest.approx(precision.tolist())
    assert result["per_class"]["support"] == [3, 2, 1]
    assert result["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=classes).tolist()
    assert result["confusion_matrix"][2] == [1, 0, 0]  # the one "c" was called "a"


def test_summary_uses_sample_std_and_none_for_one_fold():
    assert summarize([0.5, 0.7]) == {"mean": pytest.approx(0.6), "std": pytest.approx(np.std([0.5, 0.7], ddof=1)),
                                     "folds": [0.5, 0.7]}
    assert summarize([0.9])["std"] is None


def test_chance_levels_on_a_known_split():
    labels = np.array(["a"] * 6 + ["b"] * 2 + ["a"] * 2 + ["b"] * 2)
    splits = [(np.arange(8), np.arange(8, 12))]  # train 6a/2b, test 2a/2b
    chance = chance_levels(labels, splits)
    assert chance["majority"]["accuracy"] == pytest.approx(0.5)
    assert chance["majority"]["balanced_accuracy"] == pytest.approx(0.5)
    assert chance["class_prior"]["accuracy"] == pytest.approx(0.75 * 0.5 + 0.25 * 0.5)
    assert chance["class_prior"]["balanced_accuracy"] == pytest.approx((0.75 + 0.25) / 2)


def test_shuffles_stay_within_groups_and_are_seeded():
    labels = np.array(["a", "b", "b", "a", "a", "a", "b", "b"])
    groups = np.array(["g1"] * 4 + ["g2"] * 4)
    shuffles = permuted_labels(labels, groups, n=20, seed=0)
    for shuffled in shuffles:
        for g in ("g1", "g2"):
            assert sorted(shuffled[groups == g]) == sorted(labels[groups == g])
    assert any(not np.array_equal(s, labels) for s in shuffles)
    again = permuted_labels(labels, groups, n=20, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(shuffles, again))


def test_p_value_counts_null_scores_at_least_as_good():
    assert p_value(0.9, [0.3, 0.5, 0.95]) == pytest.approx(2 / 4)
    assert p_value(0.9, [0.3] * 9) == pytest.approx(1 / 10)
