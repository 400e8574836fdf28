"""The weighted sum of layers through the sweep and the CLI: one record over every layer, its layer
weights per fold, its part in the selection and the permutation test, and its saved probe."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import planted_data, run_sweep, write_probe_cache

from layerprobe.probes.cli import main
from layerprobe.probes.output import headline_record
from layerprobe.probes.saved_probe import load_probe
from layerprobe.probes.output import with_interval
from layerprobe.report.layer_weights import heaviest_run, weight_place
from layerprobe.results import ALL_LAYERS, Document, LayerWeights, Record


@pytest.fixture
def cache(tmp_path):
    """planted_data's four layers (0 noise, 1 weak, 2 strong signal, 3 per-speaker signal), 8 speakers."""
    labels, groups, layers = planted_data(per_cell=4, dim=12)
    return write_probe_cache(tmp_path / "c.h5", layers, labels, groups)


def test_the_cli_gives_one_all_layers_record_with_weights_per_fold(cache, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([str(cache), "--layers", "all", "--classifier", "weighted-sum", "--folds", "3", "--format", "json",
                 "--out", str(out), "--n-jobs", "1", "--quiet"]) == 0
    doc = Document.from_dict(json.loads(capsys.readouterr().out))
    # No "selected" record: choosing among the one all-layers source would repeat its record.
    assert [(str(r.layer), r.classifier) for r in doc.results] == [("all", "weighted-sum")]
    record = doc.results[0]
    assert headline_record(doc.results) is record
    assert record.layer.kind == ALL_LAYERS and record.to_dict()["layer"] == "all"
    weights = record.layer_weights
    assert weights.layers == [0, 1, 2, 3] and len(weights.folds) == 3
    for fold in weights.folds:
        assert sum(fold) == pytest.approx(1.0) and len(fold) == 4
    assert np.argmax(weights.mean()) in (1, 2)  # the layers with the class signal, not noise
    assert record.balanced_accuracy.value > 0.8
    # The record round-trips, and a record without weights writes no key.
    assert Record.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_it_takes_part_in_the_selection_and_the_permutation_test_beside_logreg(cache, monkeypatch):
    from layerprobe.probes import study

    estimated = []
    real = study.permutation_cost
    monkeypatch.setattr(study, "permutation_cost", lambda *args: estimated.append(args) or real(*args))
    result = run_sweep(cache, layers="all", classifiers=["logreg", "weighted-sum"], folds=3, n_jobs=1,
                       permutations=3)
    # The cost estimate weighs each probe by the time its own fits took in the observed run (one
    # worker: its fits lie within that run's wall time).
    (observed, seconds, specs, permutations), = estimated
    assert set(seconds) == {"logreg", "weighted-sum"} and min(seconds.values()) > 0
    assert sum(seconds.values()) <= observed and permutations == 3
    names = [(str(r.layer), r.classifier) for r in result.records]
    assert names == [("0", "logreg"), ("1", "logreg"), ("2", "logreg"), ("3", "logreg"), ("all", "weighted-sum"),
                     ("selected", "logreg"), ("selected", "selected")]
    assert all(r.significance is not None for r in result.records)
    assert "layer_weights" not in result.records[-1].to_dict()
    # The overall selection chooses between logreg's layers and the weighted sum, fold by fold.
    overall = result.records[-1]
    assert {pick.classifier for pick in overall.picked} <= {"logreg", "weighted-sum"}
    candidates = {(r.layer, r.classifier): r for r in result.records[:5]}
    for k, pick in enumerate(overall.picked):
        assert overall.predictions[k] == candidates[(pick.layer, pick.classifier)].predictions[k]
    whole = result.records[4]
    # max-T over every record: the family-wise p is never below the record's own.
    assert whole.significance.p_value_fwer >= whole.significance.p_value


def test_a_saved_weighted_sum_predicts_as_it_was_fitted(cache, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([str(cache), "--layers", "1,2", "--classifier", "weighted-sum", "--folds", "3", "--out", str(out),
                 "--save-model", "--n-jobs", "1", "--quiet"]) == 0
    saved = load_probe(out / "models" / "all_weighted-sum.npz")
    assert saved.meta["layer"] == "all" and saved.meta["layers"] == [1, 2]
    fitted = run_sweep(cache, layers=[1, 2], classifiers="weighted-sum", folds=3, n_jobs=1, save_model=True).fits[0]
    labels, _, layers = planted_data(per_cell=4, dim=12)
    X = [layers[1].astype(np.float32), layers[2].astype(np.float32)]
    np.testing.assert_array_equal(saved.model.decision_function(X), fitted.model.decision_function(X))
    capsys.readouterr()
    assert main([str(cache), "--predict", str(out / "models" / "all_weighted-sum.npz"), "--out",
                 str(tmp_path / "predicted"), "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    rows = (tmp_path / "predicted" / "predictions.csv").read_text().splitlines()
    predicted = [row.split(",")[2] for row in rows[1:]]
    assert predicted == saved.predict(X).tolist()
    assert found["accuracy"] > 0.8


def test_a_report_of_the_weighted_sum_alone_has_no_layer_curve_and_does_not_fail(cache, tmp_path):
    from layerprobe.report.cli import main as report_main

    out = tmp_path / "run"
    assert main([str(cache), "--layers", "all", "--classifier", "weighted-sum", "--folds", "3", "--out", str(out),
                 "--n-jobs", "1", "--quiet"]) == 0
    assert report_main([str(out)]) == 0
    assert (out / "confusion_best_layer.png").is_file() and (out / "report.html").is_file()
    assert not (out / "layer_curve.png").exists() and not (out / "per_class_recall.png").exists()
    # Its weights are drawn, and the headline puts the weighted sum forward: no layer was chosen.
    assert (out / "layer_weights.png").is_file()
    record = Document.from_dict(json.loads((out / "probe_results.json").read_text())).results[0]
    markdown = (out / "report.md").read_text()
    assert f"| weighted sum of layers 0-3 | {with_interval(record.balanced_accuracy)} |" in markdown
    place = weight_place(record)
    assert f"- The weighted sum of layers 0-3 (it reads every layer: no layer is chosen) reaches UAR " \
           f"{with_interval(record.balanced_accuracy)}" in markdown
    assert f"- Its weight sits mostly on {place}.\n" in markdown and place.startswith(("layer 1 ", "layer 2 "))


def test_the_weight_sits_on_the_fewest_adjacent_layers_holding_half_of_it():
    weights = LayerWeights([0, 3, 6, 9, 12], [[0.05, 0.15, 0.4, 0.3, 0.1], [0.05, 0.25, 0.2, 0.4, 0.1]])
    # Mean 0.05, 0.2, 0.3, 0.35, 0.1: no single layer holds half; of the pairs, 6-9 holds 65%.
    assert heaviest_run(weights) == ([6, 9], pytest.approx(0.65))
    assert heaviest_run(LayerWeights([4, 5, 6], [[0.1, 0.2, 0.7]])) == ([6], pytest.approx(0.7))
    # Ties in length go to the heavier run: 1-2 (0.55) over 0-1 (0.5).
    assert heaviest_run(LayerWeights([0, 1, 2, 3], [[0.25, 0.25, 0.3, 0.2]])) == ([1, 2], pytest.approx(0.55))
    assert weight_place(SimpleNamespace(layer_weights=weights)) == "layers 6,9 (65% on average over the 2 folds)"


@pytest.fixture
def saved(cache, tmp_path):
    """A weighted sum over layers 1 and 2 of the cache, saved (models/all_weighted-sum.npz)."""
    out = tmp_path / "run"
    assert main([str(cache), "--layers", "1,2", "--classifier", "weighted-sum", "--folds", "3", "--out", str(out),
                 "--save-model", "--n-jobs", "1", "--quiet"]) == 0
    return out / "models" / "all_weighted-sum.npz"


@pytest.mark.parametrize("stored, why", [
    ({0: 12, 1: 12, 3: 12}, "{probe} mixes layers 1-2; the cache lacks layer(s) 2 (stored layers: 0-1,3)"),
    ({1: 12, 2: 8}, "{probe} expects 12 dims in each of its layers; in the cache layer 2 has 8"),
])
def test_predict_refuses_a_cache_without_the_layers_it_mixes(saved, tmp_path, capsys, stored, why):
    labels, groups, _ = planted_data(per_cell=4, dim=12)
    rng = np.random.default_rng(0)
    other = write_probe_cache(tmp_path / "other.h5", {index: rng.normal(size=(len(labels), dims))
                                                      for index, dims in stored.items()}, labels, groups)
    capsys.readouterr()
    assert main([str(other), "--predict", str(saved), "--out", str(tmp_path / "predicted")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {why.format(probe=saved)}"
    assert not (tmp_path / "predicted" / "predictions.csv").exists()
