"""Results files of a run folder: written atomically, recomputed when unreadable or stale, keyed on
everything a stage's result depends on."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import bare_record, planted_data, write_probe_cache
from layerprobe import pipeline
from layerprobe.atomic_write import atomic_path, write_text_atomic
from layerprobe.errors import UserError
from layerprobe.results import Document, FoldPredictions, Metric


def small_document(value: float) -> Document:
    """A document of one record whose accuracy is `value`, with a fold of per-class scores."""
    accuracy = Metric(value=value, ci=None, ci_method=None, folds=[value], std=None)
    fold = FoldPredictions([0, 1], ["a", "b"], np.array([[value, 1 - value], [0.5, 0.5]], np.float32))
    record = bare_record(accuracy=accuracy, classes=["a", "b"], predictions=[fold])
    return Document(cache="c.h5", model="m", model_fingerprint="f", protocol="p", protocol_reason="", selection="s",
                    leak=None, n_folds=1, seed=0, split_counts={}, fold_sizes=[], n_clips=2, classes=["a", "b"],
                    label_source=None, clip_ids=["x", "y"], clip_labels=None, warnings=[], results=[record])


def accuracies(document: Document) -> list[float]:
    return [record.accuracy.value for record in document.results]


def computed(value: float):
    calls = []

    def compute() -> Document:
        calls.append(1)
        return small_document(value)
    return compute, calls


@pytest.mark.parametrize("content", [b"", b'{"results": [{"accur', b"\xff\xfe", b"[1, 2]"])
def test_an_unreadable_results_file_is_recomputed_with_a_notice(tmp_path, capsys, content):
    path = tmp_path / "probe_results.json"
    path.write_bytes(content)
    compute, calls = computed(0.9)
    document = pipeline._stage(path, {"folds": 5}, "sig", compute, "probe")
    assert calls and accuracies(document) == [0.9]
    assert json.loads(path.read_text())["results"][0]["accuracy"]["value"] == 0.9
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "probe: probe_results.json" in err and "recomputing" in err


def test_a_whole_result_with_the_same_key_is_reused_and_another_versions_is_not(tmp_path, capsys, monkeypatch):
    path = tmp_path / "probe_results.json"
    pipeline._stage(path, {"folds": 5}, "sig", computed(0.9)[0], "probe")
    compute, calls = computed(0.5)
    assert accuracies(pipeline._stage(path, {"folds": 5}, "sig", compute, "probe")) == [0.9]
    assert not calls
    assert accuracies(pipeline._stage(path, {"folds": 3}, "sig", compute, "probe")) == [0.5]
    capsys.readouterr()
    monkeypatch.setattr(pipeline, "__version__", "9.9.9")
    compute, calls = computed(0.7)
    assert accuracies(pipeline._stage(path, {"folds": 3}, "sig", compute, "probe")) == [0.7]
    assert "written by layerprobe 0.1.0; recomputing" in capsys.readouterr().err


def test_the_cache_signature_covers_the_extraction_settings(tmp_path):
    labels, groups, layers = planted_data()
    full = write_probe_cache(tmp_path / "full.h5", layers, labels, groups)
    fewer = write_probe_cache(tmp_path / "fewer.h5", {i: layers[i] for i in (0, 1, 2)}, labels, groups)
    assert pipeline.cache_signature(full, ()) != pipeline.cache_signature(fewer, ())
    before = pipeline.cache_signature(full, ())
    with h5py.File(full, "a") as f:
        f.attrs["command"] = "another command line"  # how the cache was made, not what it holds
    assert pipeline.cache_signature(full, ()) == before
    for key, value in (("dtype", "float16"), ("chunk_seconds", 10.0), ("model_fingerprint", "885b91")):
        with h5py.File(full, "a") as f:
            f.attrs[key] = value
        assert pipeline.cache_signature(full, ()) != before, key
        before = pipeline.cache_signature(full, ())


def test_an_error_while_writing_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.html"
    write_text_atomic(path, "previous")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(path) as temporary:
            temporary.write_text("half of the new")
            raise RuntimeError("killed")
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_an_unwritable_folder_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(UserError, match=f"cannot write {tmp_path / 'missing' / 'run.json'}: No such file"):
        write_text_atomic(tmp_path / "missing" / "run.json", "{}")
    assert list(tmp_path.iterdir()) == []
