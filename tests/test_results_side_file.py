"""The per-class decision scores of a results document live in a side file beside its JSON, bound to
it by a digest (layerprobe/results_file.py): round trip, refusal of a missing or another run's side
file, no stale pairing after a kill, format 2 files (scores inline) still load, and a probe of more
than a thousand classes runs, keeping its confusion matrix as nonzero cells."""
from __future__ import annotations

import base64
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import bare_record, write_probe_cache
from test_results_files import small_document

from layerprobe import pipeline, results_file
from layerprobe.errors import UserError
from layerprobe.probes.cli import main as probe_main
from layerprobe.probes.metrics import DENSE_CONFUSION_MAX
from layerprobe.report.cli import main as report_main
from layerprobe.results import FoldPredictions
from layerprobe.results_file import read_document, write_document

FORMAT_2 = Path(__file__).parent / "fixtures" / "format2_c1c10ab"


def _sides(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if ".scores-" in path.name)


def test_a_document_and_its_side_file_read_back_to_the_same_arrays_and_json(tmp_path):
    doc = small_document(0.8)
    shared = doc.results[0].predictions[0]
    # A second record holding the same array (a selected record's and its layer's): written once.
    doc = replace(doc, results=[doc.results[0], bare_record(1, predictions=[shared])])
    path = tmp_path / "probe_results.json"
    written = write_document(doc, path)
    on_disk = json.loads(path.read_text())
    assert on_disk["format"] == 3 and on_disk["scores_file"] == written.scores_file.to_dict()
    assert _sides(tmp_path) == [f"probe_results.scores-{written.scores_file.digest}.npz"]
    assert [f["scores"] for r in on_disk["results"] for f in r["predictions"]] == [
        {"dtype": "<f4", "shape": [2, 2], "member": "r0_f0"}] * 2
    with np.load(tmp_path / written.scores_file.name, allow_pickle=False) as side:
        assert sorted(side.files) == ["digest", "r0_f0"]
    again = read_document(path)
    assert again.to_dict() == on_disk
    for record in again.results:
        np.testing.assert_array_equal(record.predictions[0].scores, shared.scores)
    unread = read_document(path, scores=False)  # the report's way: the references kept, the arrays not read
    assert unread.results[0].predictions[0].scores is None and unread.to_dict() == on_disk
    with pytest.raises(UserError, match="the document was read without its scores"):
        write_document(unread, tmp_path / "elsewhere.json")


def test_a_missing_changed_or_other_runs_side_file_is_refused_in_one_line(tmp_path):
    first, other = tmp_path / "a" / "probe_results.json", tmp_path / "b" / "probe_results.json"
    for path, value in ((first, 0.8), (other, 0.6)):
        path.parent.mkdir()
        write_document(small_document(value), path)
    name = json.loads(first.read_text())["scores_file"]["name"]
    side = first.with_name(name)
    kept = side.read_bytes()
    shutil.copy(other.with_name(json.loads(other.read_text())["scores_file"]["name"]), side)  # another run's
    with pytest.raises(UserError, match=rf"^{first}: {name} is not the scores file of this document \(another "
                                        r"run's, or changed since\): run the stage again$"):
        read_document(first)
    side.unlink()
    with pytest.raises(UserError, match=rf"^{first}: its decision scores are in {name}, which is missing"):
        read_document(first)
    # Same digest member, other values: the arrays are hashed again on read.
    with np.load(other.with_name(json.loads(other.read_text())["scores_file"]["name"])) as stored:
        np.savez(side, digest=np.array(json.loads(first.read_text())["scores_file"]["digest"]),
                 r0_f0=stored["r0_f0"])
    with pytest.raises(UserError, match="is not the scores file of this document"):
        read_document(first)
    side.write_bytes(kept)
    assert read_document(first).results[0].accuracy.value == 0.8
    forged = json.loads(first.read_text())
    forged["scores_file"]["name"] = f"../b/{other.name}"
    first.write_text(json.dumps(forged))
    with pytest.raises(UserError, match="is not a plain .npz name beside the document"):
        read_document(first)


def test_a_run_reuses_a_stage_only_with_its_own_side_file(tmp_path, capsys):
    path = tmp_path / "probe_results.json"
    calls = []

    def compute():
        calls.append(1)
        return small_document(0.9)
    pipeline._stage(path, {"folds": 5}, "sig", compute, "probe")
    pipeline._stage(path, {"folds": 5}, "sig", compute, "probe")
    assert len(calls) == 1
    for side in tmp_path.glob("*.npz"):
        side.unlink()
    capsys.readouterr()
    document = pipeline._stage(path, {"folds": 5}, "sig", compute, "probe")
    assert len(calls) == 2 and document.results[0].predictions[0].scores is not None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "probe: probe_results.json cannot be reused" in err and "missing" in err
    assert read_document(path).results[0].accuracy.value == 0.9


def test_a_kill_between_the_side_file_and_the_json_leaves_the_old_pair_whole(tmp_path, monkeypatch):
    path = tmp_path / "probe_results.json"
    old = write_document(small_document(0.8), path)

    def killed(*args):
        raise RuntimeError("killed")
    monkeypatch.setattr(results_file, "write_text_atomic", killed)
    with pytest.raises(RuntimeError, match="killed"):
        write_document(small_document(0.6), path)
    monkeypatch.undo()
    assert read_document(path).results[0].accuracy.value == 0.8  # its own side file is still there
    assert len(_sides(tmp_path)) == 2
    new = write_document(small_document(0.6), path)
    assert _sides(tmp_path) == [new.scores_file.name] != [old.scores_file.name]  # replaced ones go


@pytest.mark.parametrize("run", ["three", "two"])
def test_format_2_files_with_scores_inline_load_them(tmp_path, run):
    path = FORMAT_2 / run / "probe_results.json"
    written = json.loads(path.read_text())
    assert written["format"] == 2
    doc = read_document(path)
    assert doc.format == 2 and doc.scores_file is None
    for record, old in zip(doc.results, written["results"]):
        for fold, stored in zip(record.predictions, old["predictions"]):
            raw = base64.b64decode(stored["scores"]["base64"])
            np.testing.assert_array_equal(fold.scores, np.frombuffer(raw, "<f4").reshape(stored["scores"]["shape"]))
            assert fold.scores.shape == (len(fold.index), len(record.classes))
        assert record.confusion_matrix == old["confusion_matrix"] and record.confusion_cells is None
    # Written again, it is a format 3 pair with the same scores.
    again = write_document(doc, tmp_path / "probe_results.json")
    assert again.format == 3
    for record, reread in zip(doc.results, read_document(tmp_path / "probe_results.json").results):
        np.testing.assert_array_equal(record.predictions[0].scores, reread.predictions[0].scores)
    folder = shutil.copytree(FORMAT_2 / run, tmp_path / run)
    assert report_main([str(folder), "--quiet"]) == 0


def test_a_fold_whose_inline_scores_do_not_fit_it_is_refused():
    stored = {"dtype": "<f4", "shape": [2, 2], "base64": base64.b64encode(b"\0" * 12).decode()}
    with pytest.raises(UserError, match=r"stored scores hold 12 bytes, not the 16 of \[2, 2\]"):
        FoldPredictions.from_dict({"index": [0, 1], "predicted": ["a", "b"], "scores": stored})


def test_more_than_a_thousand_classes_are_probed_with_their_confusions_as_cells(tmp_path, capsys):
    classes, per_class = 1010, 6
    rng = np.random.default_rng(0)
    labels = np.repeat([f"spk{k:04d}" for k in range(classes)], per_class)
    X = rng.normal(size=(classes, 4))[np.repeat(np.arange(classes), per_class)] + 0.3 * rng.normal(
        size=(len(labels), 4))
    cache = write_probe_cache(tmp_path / "many.h5", {0: X}, labels)
    run = tmp_path / "run"
    assert probe_main([str(cache), "--layers", "0", "--classifier", "ridge", "--cv", "stratified", "--folds", "2",
                       "--n-jobs", "1", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    doc = read_document(run / "probe_results.json")
    record = doc.results[0]
    assert record.confusion_matrix is None and len(record.classes) == classes > DENSE_CONFUSION_MAX
    pooled_truth = np.searchsorted(record.classes, np.asarray(doc.clip_labels)[
        np.concatenate([fold.index for fold in record.predictions])])
    pooled_predicted = np.searchsorted(record.classes, np.concatenate([fold.predicted for fold in record.predictions]))
    cells, counts = np.unique(pooled_truth * classes + pooled_predicted, return_counts=True)
    assert record.confusion_cells == [[int(c // classes), int(c % classes), int(n)] for c, n in zip(cells, counts)]
    assert sum(n for i, j, n in record.confusions() if i == j) == round(record.accuracy.value * len(labels))
    assert record.predictions[0].scores.shape == (len(record.predictions[0].index), classes)
    assert report_main([str(run), "--quiet"]) == 0
    assert (run / "confused_pairs_best_layer.png").is_file() and not (run / "confusion_best_layer.png").exists()
    markdown = (run / "report.md").read_text()
    assert "too many for a matrix" in markdown and f"The 50 classes of lowest recall of {classes}" in markdown
    table = markdown.split("## Per class")[1].split("\n\n")[1].splitlines()[2:]
    worst = sorted(range(classes), key=lambda i: (record.per_class.recall[i], i))[:50]
    assert [row.split("|")[1].strip() for row in table] == [record.classes[i] for i in worst]
