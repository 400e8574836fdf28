"""The paired comparison: a planted difference between two feature sets is detected, a null one is not."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from layerprobe.baselines.paired import compare
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import evaluate_record

from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.spec import sklearn_spec
from layerprobe.results import FoldPredictions, Metric, PerClass, Record, Source


def _signal(strength: float, seed: int, y_index: np.ndarray, dim: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(99).normal(size=(y_index.max() + 1, dim))
    return rng.normal(size=(len(y_index), dim)) + strength * means[y_index]


# A fixed C keeps the test fast; the comparison only needs paired fold scores.
FIXED_LOGREG = sklearn_spec("logreg", lambda weight, seed: make_pipeline(StandardScaler(), LogisticRegression()), [{}],
                            step="logisticregression")


@pytest.fixture(scope="module")
def planted():
    """Records of one 'layer' and three 'baselines' on the same 10 stratified folds (n_jobs 1)."""
    y_index = np.repeat(np.arange(3), 60)
    y = np.array([f"c{i}" for i in y_index])
    folds = outer_folds(y, cv="stratified", folds=10, seed=0)

    def record(name, X):
        # compare() pairs the records chosen inside each training part: here, the only one of each side.
        return replace(Record.from_dict(evaluate_record(X, y, folds, FIXED_LOGREG, name)), layer=Source.of("selected"))

    return {
        "layer": record(6, _signal(1.0, 1, y_index)),
        "weak": record("weak", _signal(0.3, 2, y_index)),
        "equal": record("equal", _signal(1.0, 3, y_index)),
        "chance": replace(record("chance", np.zeros((len(y), 1))), layer=Source.of("chance"), classifier="majority"),
    }


def _record(predictions: list[tuple[list[int], list[str]]], accuracy: list[float], uar: list[float],
            n_clips: int, protocol: str = "p") -> Record:
    """A selected record holding only what compare() reads: the folds' predictions and scores."""
    def metric(folds):
        return Metric(value=float(np.mean(folds)), ci=[0.2, 0.8], ci_method=None, folds=list(folds), std=None)

    return Record(layer=Source.of("selected"), classifier="x", protocol=protocol, selection="inner-cv",
                  class_weight="none", n_clips=n_clips, n_tested=n_clips, split_counts={}, classes=[],
                  accuracy=metric(accuracy), balanced_accuracy=metric(uar), macro_f1=metric(uar),
                  per_class=PerClass([], [], [], []), confusion_matrix=[], chance={}, params=[],
                  predictions=[FoldPredictions(index, predicted) for index, predicted in predictions])


def test_a_planted_difference_is_detected(planted):
    result = compare([planted["layer"]], [planted["weak"], planted["chance"]])
    assert result.best_layer.layer == result.best_baseline.layer == Source.of("selected")
    assert result.best_baseline.value == planted["weak"].balanced_accuracy.value
    assert result.mean_difference > 0.2 and result.n_folds == 10
    assert np.allclose(result.differences, np.subtract(planted["layer"].balanced_accuracy.folds,
                                                       planted["weak"].balanced_accuracy.folds))
    assert "Nadeau" in result.test
    assert result.p_value < 0.01 and result.wilcoxon_p_value < 0.01 and "wilcoxon_note" not in result.to_dict()


def test_five_folds_say_wilcoxon_cannot_reach_005():
    folds = np.array([0.1, 0.2, 0.15, 0.12, 0.3])
    predictions = [(list(range(k * 10, k * 10 + 10)), []) for k in range(5)]
    side = lambda values: _record(predictions, values, values, 50)  # noqa: E731
    result = compare([side(folds + 0.5)], [side(folds)])
    assert result.wilcoxon_p_value == pytest.approx(0.0625)
    assert "0.0625" in result.wilcoxon_note


def test_two_equally_good_feature_sets_are_not_told_apart(planted):
    result = compare([planted["layer"]], [planted["equal"]])
    assert abs(result.mean_difference) < 0.05
    assert result.p_value > 0.2 and result.wilcoxon_p_value > 0.05


def test_the_correction_makes_the_test_more_conservative_than_a_plain_paired_t(planted):
    from scipy import stats

    result = compare([planted["layer"]], [planted["weak"]])
    plain = stats.ttest_rel(planted["layer"].balanced_accuracy.folds, planted["weak"].balanced_accuracy.folds)
    assert abs(result.statistic) < abs(plain.statistic)
    assert result.statistic == pytest.approx(plain.statistic / np.sqrt(1 + 10 * (18 / 162)))


def test_records_on_other_folds_are_refused(planted):
    predictions = planted["weak"].predictions
    shifted = replace(planted["weak"], predictions=predictions[1:] + predictions[:1])
    with pytest.raises(ValueError, match="same folds"):
        compare([planted["layer"]], [shifted])


def _split_record(predicted):
    uar = float(np.mean(predicted == np.array(list("aabbab"))))
    return _record([([0, 1, 2, 3, 4, 5], list(predicted))], [0.5], [uar], 6, protocol="split")


def test_single_split_uses_mcnemar_on_the_paired_test_clips():
    labels = list("aabbab")
    layer = _split_record(np.array(list("aabbab")))
    baseline = _split_record(np.array(list("bbaaab")))
    result = compare([layer], [baseline], labels=labels)
    assert "McNemar" in result.test and "accuracy" in result.test
    assert result.discordant == {"layer_only_correct": 4, "baseline_only_correct": 0}
    assert result.p_value == pytest.approx(0.125) and result.wilcoxon_p_value is None
    without = compare([layer], [baseline])
    assert without.p_value is None and "no test" in without.note
