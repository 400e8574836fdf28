"""ROC-AUC, average precision and recall at a precision, from out-of-fold decision scores, against scikit-learn."""
import json

import numpy as np
import pytest
from conftest import planted_data, run_sweep, write_probe_cache
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize

from layerprobe.baselines.classifiers import SVM_RBF
from layerprobe.probes.classifiers import CLASSIFIERS, LOGREG_REFERENCE
from layerprobe.probes.cli import main
from layerprobe.probes import detection
from layerprobe.probes.detection import weighted_curves
from layerprobe.probes.evaluate import Plan, evaluate_candidates
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.records import record as typed_record
from layerprobe.probes.spec import FoldTask


def _owls():
    """Two classes, 'owl' rare (1 clip in 6) and only weakly separable, 8 speakers: X, labels, groups."""
    rng = np.random.default_rng(4)
    groups = np.repeat([f"spk{g}" for g in range(8)], 24)
    labels = np.where(np.arange(len(groups)) % 6 == 0, "owl", "bird")
    X = rng.normal(size=(len(labels), 16))
    X[labels == "owl", :3] += 0.9
    return X, labels, groups


def _rare_owl(tmp_path, split=None):
    X, labels, groups = _owls()
    return write_probe_cache(tmp_path / "owl.h5", {0: X}, labels, groups, split=split), labels


def record(*args) -> dict:
    """The record of a candidate as it is written (JSON), each fold's `scores` the array it holds."""
    typed = typed_record(*args)
    written = typed.to_dict()
    for fold, kept in zip(written["predictions"], typed.predictions):
        fold["scores"] = kept.scores
    return written


def _pooled(rec):
    index = np.concatenate([fold["index"] for fold in rec["predictions"]])
    score = np.concatenate([fold["score"] for fold in rec["predictions"]])
    return index, score


def _vowels():
    """Three vowels on one formant-like axis, 'u' in the middle, 6 speakers: the multinomial logit of
    'u' is nearly flat along that axis and ranks its clips at chance, while its softmax probability
    (high between the other two) ranks them well, as with the demo report's class 'u'."""
    rng = np.random.default_rng(0)
    groups = np.repeat([f"spk{g}" for g in range(6)], 18)
    labels = np.tile(np.repeat(["a", "i", "u"], 6), 6)
    X = rng.normal(size=(len(labels), 4))
    X[:, 0] += np.select([labels == "a", labels == "i"], [-2.5, 2.5], 0.0)
    return X, labels, groups


def _scores(fold):
    """A fold's per-class scores (record() and _written() put the arrays in)."""
    return fold["scores"]


def _written(path):
    """A results file with its side file's scores put into the folds, read as the README says."""
    doc = json.loads(path.read_text())
    side = np.load(path.with_name(doc["scores_file"]["name"]), allow_pickle=False)
    for rec in doc["results"]:
        for fold in rec["predictions"]:
            fold["scores"] = side[fold["scores"]["member"]]
    return doc


def _recall_at(positive, score, precision):
    p, r, _ = precision_recall_curve(positive, score)
    return r[:-1][p[:-1] >= precision].max(initial=0.0)


def test_two_class_metrics_agree_with_scikit_learn_on_the_pooled_and_per_fold_scores(tmp_path):
    cache, labels = _rare_owl(tmp_path)
    result = run_sweep(cache, layers=0, n_jobs=1, positive_class="owl", at_precision=0.5)
    for rec in (r.to_dict() for r in result.records):
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
    plain = [r.roc_auc.value for r in result.records if r.layer.to_json() == 0]
    assert 0.6 < min(plain) and max(plain) < 0.95  # weak signal: the metrics are not trivially 0.5 or 1


def test_the_positive_class_orients_ap_and_the_recall(tmp_path):
    cache, labels = _rare_owl(tmp_path)
    owl = run_sweep(cache, layers=0, classifiers="ridge", n_jobs=1, positive_class="owl").records[0].to_dict()
    bird = run_sweep(cache, layers=0, classifiers="ridge", n_jobs=1, positive_class="bird").records[0].to_dict()
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


def test_multiclass_logreg_ranks_by_softmax_probabilities_as_scikit_learn_ovr_does():
    X, labels, groups = _vowels()
    folds = outer_folds(labels, groups, folds=3, seed=0)
    classes, codes = np.unique(labels, return_inverse=True)
    u = list(classes).index("u")
    plan = Plan(codes[None, :], len(classes), folds, "none", 0)
    candidates = [evaluate_candidates([(0, lambda: X)], [spec], plan, 1, False)[0]
                  for spec in (CLASSIFIERS["logreg"], LOGREG_REFERENCE)]  # both are called "logreg"
    tested = np.concatenate([fold.test for fold in folds.outer])
    for candidate in candidates:
        rec = record(candidate, codes, classes, folds, "none")
        assert rec["per_class"]["roc_auc"][u] > 0.85  # ranked by the raw logits (main): 0.54
        proba = np.concatenate([_scores(fold) for fold in rec["predictions"]])
        assert proba.sum(axis=1) == pytest.approx(1.0, abs=1e-6)
        truth = codes[tested]
        assert rec["per_class"]["roc_auc"] == pytest.approx(
            roc_auc_score(truth, proba, multi_class="ovr", average=None), abs=1e-12)
        assert rec["roc_auc"]["value"] == pytest.approx(
            roc_auc_score(truth, proba, multi_class="ovr", average="macro"), abs=1e-12)
        assert rec["detection"]["scores"] == "softmax probabilities of the multinomial logits"
    # The reference's stored scores are scikit-learn's own predict_proba, where its raw logit ranks 'u' at chance.
    reference = record(candidates[1], codes, classes, folds, "none")
    logits = []
    for fold, stored, params in zip(folds.outer, reference["predictions"], reference["params"]):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=2000, tol=1e-4))
        model.fit(X[fold.fit], codes[fold.fit])
        assert _scores(stored) == pytest.approx(model.predict_proba(X[fold.test]), abs=1e-6)
        logits.append(model.decision_function(X[fold.test]))
    assert roc_auc_score(codes[tested] == u, np.concatenate(logits)[:, u]) < 0.6


def test_two_class_logreg_scores_rank_as_its_probabilities():
    X, labels, groups = _owls()
    classes, codes = np.unique(labels, return_inverse=True)
    folds = outer_folds(labels, groups, folds=4, seed=0)
    plan = Plan(codes[None, :], 2, folds, "none", 0)
    rec = record(evaluate_candidates([(0, lambda: X)], [LOGREG_REFERENCE], plan, 1, False)[0], codes, classes, folds,
                 "none")
    probability = []
    for fold, stored, params in zip(folds.outer, rec["predictions"], rec["params"]):
        assert np.array_equal(_scores(stored), np.column_stack([-np.array(stored["score"]), stored["score"]]))
        model = make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=2000, tol=1e-4))
        probability.append(model.fit(X[fold.fit], codes[fold.fit]).predict_proba(X[fold.test])[:, 1])
    owl = codes[np.concatenate([fold.test for fold in folds.outer])] == 1
    assert rec["roc_auc"]["value"] == pytest.approx(roc_auc_score(owl, np.concatenate(probability)), abs=1e-12)
    assert rec["detection"]["scores"] == "the log-odds of the positive class (ranks as its probability does)"


@pytest.mark.parametrize("name", ["ridge", "linear-svm"])
def test_ridge_and_linear_svm_scores_are_one_vs_rest(name):
    """A class's one-vs-rest score is fitted on its own indicator: moving clips between the other
    classes leaves it as it was (a multinomial logit moves)."""
    labels, groups, layers = planted_data(n_classes=4, n_groups=4, per_cell=4)
    _, codes = np.unique(labels, return_inverse=True)
    fold = outer_folds(labels, groups, folds=4, seed=0).outer[0]
    moved = np.where((codes == 1) & (np.arange(len(codes)) % 2 == 0), 2, codes)

    def scores(spec, labels):
        return spec.run(FoldTask(layers[1], labels[None, :], 4, fold.fit, fold.test, ()))[0].decision

    assert scores(CLASSIFIERS[name], moved)[:, 0] == pytest.approx(scores(CLASSIFIERS[name], codes)[:, 0], rel=1e-5)
    logits = scores(CLASSIFIERS["logreg"], moved)[:, 0] - scores(CLASSIFIERS["logreg"], codes)[:, 0]
    assert np.abs(logits).max() > 1e-3


def test_multiclass_auc_and_ap_are_recomputed_from_the_written_record(tmp_path, planted_probe_cache):
    run_dir = tmp_path / "run"
    assert main([str(planted_probe_cache), "--layers", "0,1", "--n-jobs", "1", "--quiet", "--out", str(run_dir)]) == 0
    doc = _written(run_dir / "probe_results.json")
    described = {name: spec.score_kind.per_class for name, spec in CLASSIFIERS.items()}
    for rec in doc["results"]:
        classes = rec["classes"]
        truth = [np.searchsorted(classes, np.asarray(doc["clip_labels"])[fold["index"]]) for fold in rec["predictions"]]
        scores = [_scores(fold) for fold in rec["predictions"]]
        onehot = label_binarize(np.concatenate(truth), classes=range(len(classes)))
        pooled = np.concatenate(scores)
        assert rec["per_class"]["roc_auc"] == pytest.approx(roc_auc_score(onehot, pooled, average=None), abs=1e-12)
        assert rec["per_class"]["average_precision"] == pytest.approx(
            average_precision_score(onehot, pooled, average=None), abs=1e-12)
        for metric, name in ((roc_auc_score, "roc_auc"), (average_precision_score, "average_precision")):
            assert rec[name]["value"] == pytest.approx(metric(onehot, pooled, average="macro"), abs=1e-12)
            per_fold = [metric(label_binarize(t, classes=range(len(classes))), s, average="macro")
                        for t, s in zip(truth, scores)]
            assert rec[name]["folds"] == pytest.approx(per_fold, abs=1e-12)
            assert rec[name]["fold_mean"] == pytest.approx(np.mean(per_fold), abs=1e-12)
        if rec["layer"] != "selected":
            assert rec["detection"]["scores"] == described[rec["classifier"]]
        else:  # each fold's scores are those of the probe picked in it, and the record says which
            for pick in rec["picked"]:
                assert described[pick.get("classifier", rec["classifier"])] in rec["detection"]["scores"]


def test_a_class_absent_from_the_test_clips_has_no_auc_and_the_macro_skips_it(tmp_path):
    labels, groups, layers = planted_data()
    split = np.where(np.isin(groups, ["spk0", "spk1"]) & (labels != "class2"), "test", "train")
    cache = write_probe_cache(tmp_path / "c.h5", {1: layers[1]}, labels, groups, split=split)
    rec = run_sweep(cache, layers=1, classifiers="ridge", cv="split", n_jobs=1).records[0].to_dict()
    assert rec["protocol"] == "split" and rec["per_class"]["roc_auc"][2] is None
    assert rec["roc_auc"]["value"] == pytest.approx(np.mean(rec["per_class"]["roc_auc"][:2]))
    # Two test speakers are too few for a group bootstrap: no interval, and why.
    assert rec["roc_auc"]["ci"] is None and rec["roc_auc"]["ci_note"].startswith("2 test groups are too few")


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


def test_per_class_values_computed_in_blocks_of_columns_are_scikit_learns_per_class(monkeypatch):
    # Many classes go through the metrics a block of columns at a time: 3 columns here, 40 classes.
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 39, 300)  # class 39 never occurs: no value
    scores = rng.normal(size=(300, 40)).astype(np.float32)
    monkeypatch.setattr(detection, "DETECTION_BLOCK_CELLS", 300 * 3)
    found = detection.per_class_detection(truth, scores)
    assert found["roc_auc"][39] is None and found["average_precision"][39] is None
    for c in range(39):
        assert found["roc_auc"][c] == pytest.approx(roc_auc_score(truth == c, scores[:, c]), abs=1e-12)
        assert found["average_precision"][c] == pytest.approx(average_precision_score(truth == c, scores[:, c]),
                                                              abs=1e-12)
