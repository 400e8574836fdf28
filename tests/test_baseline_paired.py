"""The paired comparison: a planted difference between two feature sets is detected, a null one is not."""
from __future__ import annotations

import numpy as np
import pytest

from layerprobe.baselines.paired import compare
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import evaluate_record

from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.spec import sklearn_spec


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
        return {**evaluate_record(X, y, folds, FIXED_LOGREG, name), "layer": "selected", "source": name}

    return {
        "layer": record(6, _signal(1.0, 1, y_index)),
        "weak": record("weak", _signal(0.3, 2, y_index)),
        "equal": record("equal", _signal(1.0, 3, y_index)),
        "chance": {**record("chance", np.zeros((len(y), 1))), "layer": "chance", "classifier": "majority"},
    }


def test_a_planted_difference_is_detected(planted):
    result = compare([planted["layer"]], [planted["weak"], planted["chance"]])
    assert result["best_layer"]["layer"] == result["best_baseline"]["layer"] == "selected"
    assert result["best_baseline"]["value"] == planted["weak"]["balanced_accuracy"]["value"]
    assert result["mean_difference"] > 0.2 and result["n_folds"] == 10
    assert np.allclose(result["differences"], np.subtract(planted["layer"]["balanced_accuracy"]["folds"],
                                                          planted["weak"]["balanced_accuracy"]["folds"]))
    assert "Nadeau" in result["test"]
    assert result["p_value"] < 0.01 and result["wilcoxon_p_value"] < 0.01 and "wilcoxon_note" not in result


def test_five_folds_say_wilcoxon_cannot_reach_005():
    folds = np.array([0.1, 0.2, 0.15, 0.12, 0.3])
    side = lambda name, values: {"layer": "selected", "classifier": "x", "protocol": "p", "n_clips": 50,  # noqa: E731
                                 "balanced_accuracy": {"value": float(values.mean()), "ci": [0, 1], "folds": list(values)},
                                 "predictions": [{"index": list(range(k * 10, k * 10 + 10))} for k in range(5)]}
    result = compare([side("a", folds + 0.5)], [side("b", folds)])
    assert result["wilcoxon_p_value"] == pytest.approx(0.0625)
    assert "0.0625" in result["wilcoxon_note"]


def test_two_equally_good_feature_sets_are_not_told_apart(planted):
    result = compare([planted["layer"]], [planted["equal"]])
    assert abs(result["mean_difference"]) < 0.05
    assert result["p_value"] > 0.2 and result["wilcoxon_p_value"] > 0.05


def test_the_correction_makes_the_test_more_conservative_than_a_plain_paired_t(planted):
    from scipy import stats

    result = compare([planted["layer"]], [planted["weak"]])
    plain = stats.ttest_rel(planted["layer"]["balanced_accuracy"]["folds"], planted["weak"]["balanced_accuracy"]["folds"])
    assert abs(result["statistic"]) < abs(plain.statistic)
    assert result["statistic"] == pytest.approx(plain.statistic / np.sqrt(1 + 10 * (18 / 162)))


def test_records_on_other_folds_are_refused(planted):
    shifted = {**planted["weak"], "predictions": planted["weak"]["predictions"][1:] + planted["weak"]["predictions"][:1]}
    with pytest.raises(ValueError, match="same folds"):
        compare([planted["layer"]], [shifted])


def _split_record(layer, predicted):
    uar = float(np.mean(predicted == np.array(list("aabbab"))))
    return {"layer": "selected", "classifier": "logreg", "protocol": "split", "n_clips": 6,
            "accuracy": {"value": 0.5, "ci": [0.2, 0.8], "std": None, "folds": [0.5]},
            "balanced_accuracy": {"value": uar, "ci": [0.2, 0.8], "std": None, "folds": [uar]},
            "predictions": [{"index": [0, 1, 2, 3, 4, 5], "predicted": list(predicted)}]}


def test_single_split_uses_mcnemar_on_the_paired_test_clips():
    labels = list("aabbab")
    layer = _split_record(3, np.array(list("aabbab")))
    baseline = _split_record("mfcc", np.array(list("bbaaab")))
    result = compare([layer], [baseline], labels=labels)
    assert "McNemar" in result["test"] and "accuracy" in result["test"] and result["discordant"] == {"layer_only_correct": 4, "baseline_only_correct": 0}
    assert result["p_value"] == pytest.approx(0.125) and result["wilcoxon_p_value"] is None
    without = compare([layer], [baseline])
    assert without["p_value"] is None and "no test" in without["note"]
