"""evaluate_baselines(): the probe's folds, chance near chance, and a clear error when a usable clip lacks its feature."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import run_baseline_sweep, run_sweep, write_probe_cache
from test_baseline_compute import write_dataset

from layerprobe.baselines.features_only import features_only_cache
from layerprobe.baselines.paired import compare
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.probes.protocols import outer_folds


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A features-only cache of 3 speakers x 2 labels x 4 clips (labels audible in the pitch)."""
    root = tmp_path_factory.mktemp("run")
    return features_only_cache(write_dataset(root / "data"), root / "cache.h5")


@pytest.fixture(scope="module")
def records(cache):
    return [r.to_dict() for r in run_baseline_sweep(cache, classifiers="svm-rbf,logreg", cv="loso", n_jobs=1).records]


def test_records_follow_the_probe_shape_on_the_probe_folds(cache, records):
    assert [(r["layer"], r["classifier"]) for r in records] == [
        ("mfcc", "svm-rbf"), ("mfcc", "logreg"), ("selected", "selected"), ("chance", "majority"),
        ("chance", "stratified-random")]
    with CacheReader(cache) as reader:
        clips = reader.clips
    folds = outer_folds(clips["label"].to_numpy(), clips["group"].to_numpy(), clips["split"].to_numpy(), cv="loso")
    for record in records:
        assert record["protocol"] == "leave-one-group-out"
        assert [f["index"] for f in record["predictions"]] == [test.tolist() for _, test in folds.splits]
        assert {"accuracy", "balanced_accuracy", "macro_f1", "chance", "params"} <= set(record)
    assert set(records[0]["params"][0]) == {"C", "gamma"}


def test_mfcc_separates_the_audible_labels(records):
    assert records[0]["accuracy"]["value"] >= 0.9


def test_chance_records_are_near_chance(records):
    majority, stratified = records[3], records[4]
    assert majority["accuracy"]["value"] == pytest.approx(majority["chance"]["majority"]["accuracy"])
    assert majority["balanced_accuracy"]["value"] == pytest.approx(0.5)
    assert 0.2 <= stratified["balanced_accuracy"]["value"] <= 0.8


def _with_layer(path, cache):
    """A cache with one encoder layer (label signal) over the clips and audio of `cache`."""
    with h5py.File(cache) as file:
        ids = file["clips/id"].asstr()[()]
        labels = file["clips/label"].asstr()[()]
        groups = file["clips/group"].asstr()[()]
        attrs = {key: file.attrs[key] for key in ("data", "columns")}
    layer = np.random.default_rng(0).normal(size=(len(ids), 4)) + 3 * (labels == "d1")[:, None]
    layered = write_probe_cache(path, {5: layer}, labels, groups)
    with h5py.File(layered, "r+") as file:
        del file["clips/id"]
        file.create_dataset("clips/id", data=ids, dtype=h5py.string_dtype())
        file.attrs.update(attrs)
    return layered


def test_baselines_pair_with_probe_records_on_a_cache_with_layers(tmp_path, cache):
    layered = _with_layer(tmp_path / "layers.h5", cache)
    layer_records = run_sweep(layered, classifiers="logreg", n_jobs=1).records
    baseline_records = run_baseline_sweep(layered, classifiers="logreg", n_jobs=1).records
    result = compare(layer_records, baseline_records).to_dict()
    assert result["best_layer"]["picked"][0]["layer"] == 5 and result["best_baseline"]["picked"][0]["layer"] == "mfcc"
    assert result["n_folds"] == 3 and result["p_value"] is not None


def test_an_ok_clip_without_its_feature_is_a_clear_error(tmp_path):
    data = write_dataset(tmp_path / "data", speakers=3, per_cell=3)
    layered = _with_layer(tmp_path / "layers.h5", features_only_cache(data, tmp_path / "c.h5"))
    with h5py.File(layered) as file:
        first = file["clips/id"].asstr()[0]
    (data / first).write_bytes(b"")  # the encoder read it, the feature stage cannot
    with pytest.raises(UserError, match=f"1 clip.*have no mfcc feature.*{first}: empty"):
        run_baseline_sweep(layered, classifiers="logreg", n_jobs=1)
    with h5py.File(layered, "r+") as file:
        file["clips/status"][0] = b"failed"
    assert run_baseline_sweep(layered, classifiers="logreg", n_jobs=1).records[0].n_clips == 17


def test_stage_by_stage_gives_the_report_the_same_paired_test_as_run(tmp_path, cache, capsys):
    from layerprobe.baselines.cli import main as baselines_main
    from layerprobe.probes.cli import main as probe_main
    from layerprobe.report.cli import main as report_main

    layered, out = _with_layer(tmp_path / "layers.h5", cache), tmp_path / "R"
    assert probe_main([str(layered), "--classifier", "logreg", "--out", str(out), "--n-jobs", "1", "--quiet"]) == 0
    assert baselines_main([str(layered), "--classifier", "logreg", "--out", str(out), "--n-jobs", "1", "--quiet",
                           "--compare", str(out / "probe_results.json")]) == 0
    terminal = capsys.readouterr().out
    assert " feature  classifier" in terminal and "  chance  majority" in terminal
    assert "selected feature and classifier: chosen inside each training part" in terminal
    assert "never predicts" not in capsys.readouterr().err
    assert report_main([str(out)]) == 0
    comparison = (out / "comparison.json").read_text()
    assert comparison and "no paired test was run" not in (out / "report.md").read_text().lower()
    assert "Paired test on the per-fold UAR differences" in (out / "report.md").read_text()


def test_messages_call_a_selected_baseline_a_feature_not_a_layer():
    from layerprobe.results import Pick, Source

    selected = Source.of("selected")
    picked = [Pick.from_dict({"layer": "mfcc", "classifier": "logreg", "C": 1.0}),
              Pick.from_dict({"layer": "logmel", "classifier": "logreg", "C": 1.0})]
    assert selected.describe("logreg", picked) == "selected feature (logreg)"
    assert selected.describe("selected", picked) == "selected feature and classifier"
    assert selected.describe("logreg", [Pick(Source.of(3), "logreg")]) == "selected layer (logreg)"
    assert Source.of(3).describe("ridge") == "layer 3 ridge" and Source.of("mfcc").describe("svm-rbf") == "mfcc svm-rbf"
    assert Source.of("all").describe("weighted-sum") == "all layers weighted-sum"
