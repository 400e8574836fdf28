"""`probe --save-model` saves the selected probe too; `probe --predict` writes each clip's scores
(probabilities for logreg) and the decision at the saved threshold, honours --pooling, and prints a
summary, not the rows."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import planted_data, write_probe_cache
from layerprobe.data.reader import CacheReader
from layerprobe.probes.cli import main
from layerprobe.probes.ridge import RIDGE
from layerprobe.probes.detection import class_scores
from layerprobe.probes.saved_probe import load_probe, predict_cache, save_probe
from layerprobe.probes.spec import linear_model


@pytest.fixture
def binary_cache(tmp_path):
    """6 speakers x 2 classes x 5 clips; layer 0 noise, layer 2 a strong class signal; pooled/std of layer 2 too."""
    labels, groups, layers = planted_data(n_groups=6, n_classes=2, per_cell=5, dim=8)
    cache = write_probe_cache(tmp_path / "c.h5", {0: layers[0], 2: layers[2]}, labels, groups)
    with h5py.File(cache, "a") as f:
        f["pooled/std/00"] = np.abs(layers[0]).astype(np.float32)
        f["pooled/std/02"] = np.abs(layers[2]).astype(np.float32) + (labels == "class1")[:, None]
        f["pooled/std/status"] = np.array([b"ok"] * len(labels), dtype="S8")
    return cache


def saved_models(cache, out, *extra):
    assert main([str(cache), "--classifier", "logreg,ridge", "--out", str(out), "--save-model", "--n-jobs", "1",
                 "--quiet", *extra]) == 0
    return out / "models"


def test_the_selected_probe_is_saved_as_the_best_inner_score_on_all_clips(binary_cache, tmp_path, capsys):
    models = saved_models(binary_cache, tmp_path / "run")
    capsys.readouterr()
    every = {(layer, classifier): load_probe(models / f"layer{layer:02d}_{classifier}.npz")
             for layer in (0, 2) for classifier in ("logreg", "ridge")}
    selected = load_probe(models / "selected.npz")
    scores = [probe.meta["selection_score"] for probe in every.values()]
    first_best = list(every)[int(np.argmax(scores))]
    assert (selected.meta["layer"], selected.meta["classifier"]) == first_best and first_best[0] == 2
    assert selected.meta["selected"] is True and set(selected.meta["params"]) == set(every[first_best].meta["params"])
    np.testing.assert_array_equal(selected.model.coef, every[first_best].model.coef)
    assert min(scores[2:]) > max(scores[:2])  # the signal layer beats the noise layer on the inner splits


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logreg_scores_are_scikit_learns_probabilities(tmp_path, n_classes):
    labels, groups, layers = planted_data(n_groups=4, n_classes=n_classes, per_cell=4, dim=6)
    cache = write_probe_cache(tmp_path / "c.h5", {1: layers[1]}, labels, groups)
    with CacheReader(cache) as reader:
        X = reader.layer(1)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(X, labels)
    meta = {"layer": 1, "classifier": "logreg", "model": "synthetic/encoder"}
    probe = load_probe(save_probe(linear_model(pipeline), list(pipeline.classes_), tmp_path / "p.npz", meta))
    predictions = predict_cache(probe, cache)
    columns = [f"probability_{name}" for name in pipeline.classes_]
    assert list(predictions.columns) == ["id", "label", "predicted", *columns]
    np.testing.assert_allclose(predictions[columns].to_numpy(), pipeline.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(predictions["predicted"], pipeline.predict(X))


def test_predict_writes_scores_and_the_decision_at_the_saved_threshold_and_prints_a_summary(
        binary_cache, tmp_path, capsys):
    run = tmp_path / "run"
    models = saved_models(binary_cache, run, "--at-precision", "0.9", "--layer", "2")
    capsys.readouterr()
    record = next(r for r in json.loads((run / "probe_results.json").read_text())["results"]
                  if (r["layer"], r["classifier"]) == (2, "ridge"))
    threshold = record["recall_at_precision"]["threshold"]
    assert load_probe(models / "layer02_ridge.npz").meta["at_precision"] == {
        "precision": 0.9, "threshold": threshold, "positive_class": "class1"}
    out = tmp_path / "pred"
    assert main([str(binary_cache), "--predict", str(models / "layer02_ridge.npz"), "--at-precision", "0.9",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    written = pd.read_csv(out / "predictions.csv")
    assert list(written.columns) == ["id", "label", "predicted", "decision_score_class0", "decision_score_class1",
                                     "at_precision_0.9"]
    probe = load_probe(models / "layer02_ridge.npz")
    with CacheReader(binary_cache) as reader:
        decision = probe.decision_function(reader.layer(2))
    np.testing.assert_allclose(written[["decision_score_class0", "decision_score_class1"]], class_scores(decision, 2, RIDGE.score_kind))
    expected = np.where(class_scores(decision, 2, RIDGE.score_kind)[:, 1] >= threshold, "class1", "class0")
    assert written["at_precision_0.9"].tolist() == expected.tolist()
    counts = written["predicted"].value_counts()
    assert printed.splitlines()[0] == (f"predicted 60 clips (pooling mean): class0 {counts['class0']}, "
                                       f"class1 {counts['class1']}")
    assert f"predictions: {out / 'predictions.csv'} (id, label, predicted," in printed
    assert len(printed.splitlines()) == 4  # the summary, not a row per clip
    assert main([str(binary_cache), "--predict", str(models / "layer02_ridge.npz"), "--at-precision", "0.8",
                 "--out", str(out)]) == 2
    assert ("layer02_ridge.npz was saved with --at-precision 0.9; save it with probe --save-model "
            "--at-precision 0.8 to get that threshold") in capsys.readouterr().err


def test_predict_reads_the_probes_pooling_and_refuses_another(binary_cache, tmp_path, capsys):
    models = saved_models(binary_cache, tmp_path / "run", "--pooling", "std", "--layer", "2")
    capsys.readouterr()
    probe = load_probe(models / "layer02_logreg.npz")
    assert main([str(binary_cache), "--predict", str(models / "layer02_logreg.npz"), "--out", str(tmp_path / "p"),
                 "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["pooling"] == "std" and sum(found["counts"]["predicted"].values()) == 60
    with CacheReader(binary_cache) as reader:
        expected = probe.predict(reader.layer(2, "std"))
    assert pd.read_csv(tmp_path / "p" / "predictions.csv")["predicted"].tolist() == expected.tolist()
    assert main([str(binary_cache), "--predict", str(models / "layer02_logreg.npz"), "--pooling", "max",
                 "--out", str(tmp_path / "p")]) == 2
    assert "layer02_logreg.npz was fitted on pooling std; --pooling max does not apply to it" in capsys.readouterr().err
    assert main([str(binary_cache), "--predict", str(models / "layer02_logreg.npz")]) == 2
    assert "--predict needs --out DIR" in capsys.readouterr().err
