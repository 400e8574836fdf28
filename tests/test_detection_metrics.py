"""ROC-AUC, average precision and recall at a precision, from out-of-fold decision scores, against scikit-learn."""
import numpy as np
import pytest
from conftest import planted_data, write_probe_cache
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.preprocessing import label_binarize

from layerprobe.baselines.classifiers import SVM_RBF
from layerprobe.probes.classifiers import CLASSIFIERS
from layerprobe.probes.cli import main
from layerprobe.probes.detection import weighted_curves
from layerprobe.probes.evaluate import Plan, evaluate_candidates
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.records import record
from layerprobe.probes.sweep import sweep


def _rare_owl(tmp_path, split=None):
    """Two classes, 'owl' rare (1 clip in 6) and only weakly separable, 8 speakers."""
    rng = np.random.default_rng(4)
    groups = np.repeat([f"spk{g}" for g in range(8)], 24)
    labels = np.where(np.arange(len(groups)) % 6 == 0, "owl", "bird")
    X = rng.normal(size=(len(labels), 16))
    X[labels == "owl", :3] += 0.9
    return write_probe_cache(tmp_path / "owl.h5", {0: X}, labels, groups, split=split), labels


def _pooled(rec):
    index = np.concatenate([fold["index"] for fold in rec["predictions"]])
    score = np.concatenate([fold["score"] for fold in rec["predictions"]])
    return index, score


def _recall_at(positive, score, precision):
    p, r, _ = precision_recall_curve(positive, score)
    return r[:-1][p[:-1] >= precision].max(initial=0.0)


def test_two_class_metrics_agree_with_scikit_learn_on_the_pooled_and_per_fold_scores(tmp_path):
    cache, labels = _rare_owl(tmp_path)
    result = sweep(cache, layers=0, n_jobs=1, positive_class="owl", at_precision=0.5)
    for rec in result.records:
        index, score = _pooled(rec)
        owl = labels[index] == "owl"
        assert rec["roc_auc"]["value"] == pytest.approx(roc_auc_score(owl, score), abs=1e-12)
        assert rec["average_precision"]["value"] == pytest.approx(average_precision_score(owl, score), abs=1e-12)
        assert rec["recall_at_precision"]["value"] == pytest.approx(_recall_at(owl, score, 0.5), abs=1e-12)
        assert rec["recall_at_precision"]["precision"] == 0.5 and rec["detection"]["positive_class"] == "owl"
        for k, fold in enumerate(rec["predictions"]):
            truth = labels[fold["index"]] == "owl"
            assert rec["roc_auc"]["folds"][k] == pytest.approx(roc_auc_score(truth, fold["score"]), abs=1e-12)
            assert rec["recall_at_precision"]["folds"][k] == pytest.approx(_recall_at(truth, fold["score"], 0.5))
        assert rec["per_class"]["roc_auc"] == [pytest.approx(rec["roc_auc"]["value"])] * 2
        low, high = rec["roc_auc"]["ci"]
        assert low <= rec["roc_auc"]["value"] <= high
    plain = [r["roc_auc"]["value"] for r in result.records if r["layer"] == 0]
    assert 0.6 < min(plain) and max(plain) < 0.95  # weak signal: the metrics are not trivially 0.5 or 1


def test_the_positive_class_orients_ap_and_the_recall(tmp_path):
    cache, labels = _rare_owl(tmp_path)
    owl = sweep(cache, layers=0, classifier="ridge", n_jobs=1, positive_class="owl").records[0]
    bird = sweep(cache, layers=0, classifier="ridge", n_jobs=1, positive_class="bird").records[0]
    assert bird["roc_auc"]["value"] == pytest.approx(owl["roc_auc"]["value"])
    index, score = _pooled(bird)
    assert np.array_equal(score, -_pooled(owl)[1])  # a two-class margin, seen from either class
    assert bird["average_precision"]["value"] == pytest.approx(
        average_precision_score(labels[index] == "bird", score))
    assert bird["average_precision"]["value"] > owl["average_precision"]["value"]  # the common class is easy to find


@pytest.mark.parametrize("spec", [*CLASSIFIERS.values(), SVM_RBF], ids=lambda s: s.name)
def test_every_probe_keeps_decision_scores_that_rank_its_own_predictions(spec):
    labels, groups, layers = planted_data(n_groups=4, per_cell=4)
    folds = outer_folds(labels, groups, folds=4, seed=0)
    classes, codes = np.unique(labels, return_inverse=True)
    plan = Plan(codes[None, :], len(classes), folds, "none", 0)
    candidate = evaluate_candidates([(1, lambda: layers[1])], [spec], plan, 1, False)[0]
    for decision, predicted, fold in zip(candidate.decisions, candidate.predicted, folds.outer):
        assert decision.shape == (len(fold.test), 3)
        assert (decision.argmax(axis=1) == predicted).all()


def test_multiclass_per_class_and_macro_values_agree_with_scikit_learn():
    labels, groups, layers = planted_data(n_groups=4, per_cell=4)
    folds = outer_folds(labels, groups, folds=4, seed=0)
    classes, codes = np.unique(labels, return_inverse=True)
    plan = Plan(codes[None, :], len(classes), folds, "none", 0)
    candidate = evaluate_candidates([(1, lambda: layers[1])], [CLASSIFIERS["logreg"]], plan, 1, False)[0]
    rec = record(candidate, codes, classes, folds, "none")
    tested = np.concatenate([fold.test for fold in folds.outer])
    scores, truth = np.concatenate(candidate.decisions), codes[tested]
    expected_auc = [roc_auc_score(truth == c, scores[:, c]) for c in range(3)]
    assert rec["per_class"]["roc_auc"] == pytest.approx(expected_auc, abs=1e-12)
    onehot = label_binarize(truth, classes=[0, 1, 2])
    assert rec["roc_auc"]["value"] == pytest.approx(roc_auc_score(onehot, scores, average="macro"), abs=1e-12)
    assert rec["average_precision"]["value"] == pytest.approx(
        average_precision_score(onehot, scores, average="macro"), abs=1e-12)
    assert rec["detection"]["positive_class"] is None and "score" not in rec["predictions"][0]


def test_a_class_absent_from_the_test_clips_has_no_auc_and_the_macro_skips_it(tmp_path):
    labels, groups, layers = planted_data()
    split = np.where(np.isin(groups, ["spk0", "spk1"]) & (labels != "class2"), "test", "train")
    cache = write_probe_cache(tmp_path / "c.h5", {1: layers[1]}, labels, groups, split=split)
    rec = sweep(cache, layers=1, classifier="ridge", cv="split", n_jobs=1).records[0]
    assert rec["protocol"] == "split" and rec["per_class"]["roc_auc"][2] is None
    assert rec["roc_auc"]["value"] == pytest.approx(np.mean(rec["per_class"]["roc_auc"][:2]))
    assert rec["roc_auc"]["ci_method"].startswith("percentile bootstrap over test groups")


def test_weighted_curves_equal_scikit_learn_with_sample_weights():
    rng = np.random.default_rng(0)
    positive = rng.random(60) < 0.3
    score = np.round(rng.normal(size=60) + positive, 1)  # ties, as real decision scores can have
    weights = rng.integers(0, 3, size=(5, 60))
    found = weighted_curves(positive, score, weights, precision=0.6)
    for b, w in enumerate(weights):
        assert found["roc_auc"][b] == pytest.approx(roc_auc_score(positive, score, sample_weight=w))
        assert found["average_precision"][b] == pytest.approx(average_precision_score(positive, score, sample_weight=w))
        p, r, _ = precision_recall_curve(positive, score, sample_weight=w)
        assert found["recall_at_precision"][b] == pytest.approx(r[:-1][p[:-1] >= 0.6].max(initial=0.0))


@pytest.mark.parametrize("arguments, message", [
    (["--positive-class", "cat"], "error: --positive-class 'cat' is not a class; the classes are 'bird', 'owl'"),
    (["--at-precision", "1.5"], "error: probe: argument --at-precision: 1.5 is not in (0, 1]"),
])
def test_detection_options_are_checked_with_one_line(tmp_path, capsys, arguments, message):
    cache, _ = _rare_owl(tmp_path)
    assert main([str(cache), "--layers", "0", "--classifier", "ridge", *arguments]) == 2
    assert capsys.readouterr().err.strip() == message


def test_recall_at_precision_with_more_than_two_classes_is_refused(planted_probe_cache, capsys):
    assert main([str(planted_probe_cache), "--layers", "1", "--at-precision", "0.9"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --positive-class and --at-precision apply to two classes; the labels have 3, and every record "
        "gives ROC-AUC and AP per class and their macro mean")
