"""The typed results contract (layerprobe/results.py): a fresh file reads back to itself, files written by
main 2cede23 still load and render, a newer format is refused, and report.md prints labels literally."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import planted_data, write_probe_cache
from test_baseline_compute import write_dataset
from test_baseline_run import _with_layer

from layerprobe.baselines.cli import main as baselines_main
from layerprobe.baselines.features_only import features_only_cache
from layerprobe.errors import UserError
from layerprobe.probes.cli import main as probe_main
from layerprobe.report.cli import main as report_main
from layerprobe.results import (CHANCE, FEATURE, LAYER, SELECTED, Comparison, DetectionMetric, Document, Record,
                                RunFacts, Source)
from layerprobe.results_file import read_document

OLD_MAIN = Path(__file__).parent / "fixtures" / "main_2cede23"


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """probe and baselines --compare on two classes (detection metrics, recall at a precision, stored
    scores, permutations): the files of today's code, on 3 speakers x 2 labels x 4 clips."""
    out = tmp_path_factory.mktemp("fresh")
    audio = features_only_cache(write_dataset(out / "data"), out / "audio.h5")
    cache = _with_layer(out / "cache.h5", audio)
    shared = ["--cv", "loso", "--permutations", "9", "--at-precision", "0.5", "--n-jobs", "1", "--quiet",
              "--out", str(out)]
    assert probe_main([str(cache), "--classifier", "ridge,logreg", *shared]) == 0
    assert baselines_main([str(cache), "--features", "mfcc", "--classifier", "ridge", *shared,
                           "--compare", str(out / "probe_results.json")]) == 0
    return out


@pytest.mark.parametrize("name", ["probe_results.json", "baseline_results.json"])
def test_a_fresh_document_reads_back_to_the_same_json_and_says_its_format(fresh, name):
    written = _read(fresh / name)
    assert written["format"] == 3
    doc = read_document(fresh / name)
    assert doc.to_dict() == written
    assert all(isinstance(record, Record) for record in doc.results)
    top = next(r for r in doc.results if r.layer.kind == SELECTED and r.classifier == SELECTED)
    assert top.significance.permutations == 9 and top.recall_at_precision.precision == 0.5
    scores = top.predictions[0].scores
    assert scores.dtype == np.float32 and scores.shape == (len(top.predictions[0].index), 2)
    assert np.array_equal(scores[:, 1], top.predictions[0].score) and np.array_equal(scores[:, 0], -scores[:, 1])


def test_a_fresh_comparison_reads_back_to_the_same_json(fresh):
    written = _read(fresh / "comparison.json")
    comparison = Comparison.from_dict(written)
    assert comparison.to_dict() == written
    assert comparison.best_baseline.describe() == "selected feature and classifier"
    assert Document.from_dict(_read(fresh / "baseline_results.json")).comparison == comparison


def test_run_facts_read_back_to_the_same_json():
    facts = {"data": "/corpora/vowels/manifest.csv", "n_clips": 48, "n_failed": 2, "classes": {"a": 24, "i": 24},
             "groups": 4, "group_column": "speaker", "protocol": "leave-one-group-out", "model": "m",
             "model_revision": "", "layers": [0, 1], "stage_seconds": {"probe": 1.5}, "command": "layerprobe run x"}
    assert RunFacts.from_dict(facts).to_dict() == facts
    del facts["command"]
    assert RunFacts.from_dict(facts).to_dict() == facts


def test_a_source_is_written_as_the_layer_field_always_was():
    for value, kind in ((7, LAYER), ("mfcc", FEATURE), ("selected", SELECTED), ("chance", CHANCE),
                        ("all", "all-layers")):
        source = Source.of(value)
        assert source.kind == kind and source.to_json() == value and str(source) == str(value)
    assert Source.of(0).describe() == "layer 0" and Source.of("chance").describe("majority") == "chance majority"


@pytest.mark.parametrize("run", ["three", "two"])
def test_files_written_by_main_2cede23_load_with_the_added_fields_defaulted(run):
    for name in ("probe_results.json", "baseline_results.json"):
        written = _read(OLD_MAIN / run / name)
        doc = Document.from_dict(written)
        assert doc.format == 1 and doc.clip_ids == written["clip_ids"] and doc.options["cv"] == "loso"
        for record, old in zip(doc.results, written["results"]):
            assert record.layer.to_json() == old["layer"] and record.accuracy.value == old["accuracy"]["value"]
            assert record.predictions[0].scores is None and record.detection.stored is None
            defined = [v for v in old["roc_auc"]["folds"] if v is not None]
            assert isinstance(record.roc_auc, DetectionMetric) and "fold_mean" not in old["roc_auc"]
            assert record.roc_auc.fold_mean == pytest.approx(np.mean(defined))
            if record.significance is not None:
                assert record.significance.p_value == old["p_value"] and record.significance.permutation_folds is None
        comparison = Comparison.from_dict(_read(OLD_MAIN / run / "comparison.json"))
        assert comparison.to_dict() == _read(OLD_MAIN / run / "comparison.json")
        again = doc.to_dict()
        assert again.pop("format") == 1
        assert again["results"][0]["roc_auc"].pop("fold_mean") is not None


@pytest.mark.parametrize("run", ["three", "two"])
def test_the_report_renders_a_run_folder_of_main_2cede23(tmp_path, run, capsys):
    folder = shutil.copytree(OLD_MAIN / run, tmp_path / run)
    assert report_main([str(folder)]) == 0
    assert "warning: run.json is missing" in capsys.readouterr().err
    markdown = (folder / "report.md").read_text()
    assert "The layer chosen inside each training part (layer 0" in markdown
    assert "Paired test on the per-fold UAR differences" in markdown
    results = _read(folder / "results.json")
    assert len(results["results"]) == len(_read(folder / "probe_results.json")["results"]) + len(
        _read(folder / "baseline_results.json")["results"])
    assert results["probe"]["format"] == 1
    if run == "two":  # two classes: the detection lead and the precision-recall figure from `score`
        assert "average precision of 'i'" in markdown and (folder / "precision_recall_best_layer.png").is_file()


def test_a_document_of_a_newer_format_is_refused_in_one_line(fresh, tmp_path, capsys):
    with pytest.raises(UserError, match="format 4; this version reads formats 1 to 3"):
        Document.from_dict({**_read(fresh / "probe_results.json"), "format": 4})
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "probe_results.json").write_text(json.dumps({**_read(fresh / "probe_results.json"), "format": 4}))
    assert report_main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "upgrade layerprobe" in err


def test_report_md_prints_hostile_labels_literally(tmp_path):
    labels, groups, layers = planted_data(n_groups=4, per_cell=4)
    hostile = {"class0": "<script>alert(1)</script>", "class1": "left|right", "class2": "two\nlines"}
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, [hostile[label] for label in labels], groups)
    run = tmp_path / "run"
    assert probe_main([str(cache), "--classifier", "ridge", "--n-jobs", "1", "--quiet", "--out", str(run)]) == 0
    assert report_main([str(run), "--quiet"]) == 0
    markdown = (run / "report.md").read_text()
    assert "<script" not in markdown and "&lt;script>alert(1)&lt;/script>" in markdown
    table = markdown.split("## Per class")[1].split("\n\n")[1].splitlines()
    assert len(table) == 2 + 3  # header, rule, one row per class: the newline did not split a row
    for row in table:
        assert len(re.findall(r"(?<!\\)\|", row)) == 8  # 7 cells: the label's pipe is escaped
    assert r"| left\|right | 16 |" in markdown and "| two lines | 16 |" in markdown
    page = (run / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_document_lacking_a_field_is_one_line_naming_the_file_and_the_field(fresh, tmp_path, capsys):
    written = _read(fresh / "probe_results.json")
    del written["results"][0]["classifier"]
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "probe_results.json").write_text(json.dumps(written))
    assert report_main([str(folder)]) == 2
    assert capsys.readouterr().err == (f"error: {folder / 'probe_results.json'} lacks 'classifier': not a Document "
                                       "file this version reads\n")


def test_a_numpy_layer_index_is_a_layer():
    assert Source.of(np.int64(3)) == Source.of(3) and Source.of(np.int64(3)).to_json() == 3
