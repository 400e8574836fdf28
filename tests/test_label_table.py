"""Label tables joined to a cache's clips (and other clips/ columns probed), the cache never rewritten."""
import hashlib
import json
import os

import h5py
import numpy as np
import pytest
from conftest import planted_data, run_baseline_sweep, run_sweep, write_probe_cache
from test_baseline_compute import write_dataset
from test_baseline_run import _with_layer

from layerprobe.baselines.features_only import features_only_cache

from layerprobe.data import label_table
from layerprobe.data.label_table import clip_labels
from layerprobe.data.reader import CacheReader
from layerprobe.probes.cli import main

QUICK = dict(layers=2, classifiers="ridge", n_jobs=1)


def _gender(groups):
    return np.where(np.isin(groups, ["spk0", "spk2", "spk4", "spk6"]), "f", "m")


@pytest.fixture
def planted(tmp_path):
    labels, groups, layers = planted_data()
    cache = write_probe_cache(tmp_path / "planted.h5", {2: layers[2]}, labels, groups)
    return cache, labels, groups, layers


def _write_table(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(row) for row in rows]) + "\n")
    return path


def _fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns


def test_joined_table_equals_a_cache_holding_those_labels_and_leaves_the_cache_untouched(tmp_path, planted, capsys):
    cache, labels, groups, layers = planted
    gender = _gender(groups)
    ids = [f"clip{i:04d}.wav" for i in range(len(labels))]
    missing, empty = {3, 50, 51}, {7}
    rows = [[ids[i], "" if i in empty else gender[i]] for i in range(len(ids)) if i not in missing]
    rows += [["not-in-cache.wav", "f"], ["other/clip.wav", "m"]]  # extra ids
    table = _write_table(tmp_path / "gender.csv", ["id", "gender"], rows)
    before = _fingerprint(cache)

    code = main([str(cache), "--layers", "2", "--classifier", "ridge", "--n-jobs", "1", "--labels", str(table),
                 "--label-column", "gender", "--format", "json"])

    assert code == 0 and _fingerprint(cache) == before
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert ("warning: labels from gender.csv: 4 ok clip(s) have no 'gender' label (3 not in the table, 1 with an "
            "empty 'gender') and are left out; 140 are probed; 2 row(s) of gender.csv match no ok clip of the cache "
            "and are ignored") in err.splitlines()
    kept = np.array(sorted(set(range(len(ids))) - missing - empty))
    assert doc["clip_ids"] == [ids[i] for i in kept] and doc["classes"] == ["f", "m"]
    assert doc["label_source"] == {"source": "gender.csv", "column": "gender", "id_column": "id", "unlabelled": 3,
                                   "empty": 1, "unmatched": 2, "n_labelled": 140}
    # The same clips with the same labels written into a cache of their own give the same records.
    direct = write_probe_cache(tmp_path / "direct.h5", {2: layers[2][kept]}, gender[kept], groups[kept])
    reference = [r.to_dict() for r in run_sweep(direct, **QUICK).records]
    assert [r["predictions"] for r in doc["results"]] == [r["predictions"] for r in reference]
    assert [r["balanced_accuracy"] for r in doc["results"]] == [r["balanced_accuracy"] for r in reference]


def test_a_table_without_ids_is_joined_by_path(tmp_path, planted):
    cache, labels, groups, _ = planted
    gender = _gender(groups)
    table = _write_table(tmp_path / "by_path.tsv", ["file", "gender"],
                         [[f"/audio/clip{i:04d}.wav", gender[i]] for i in range(len(labels))])
    table.write_text(table.read_text().replace(",", "\t"))
    result = run_sweep(cache, labels=table, label_column="gender", id_column="file", **QUICK)
    assert result.labels.unlabelled == 0 and result.notes == []
    assert result.records[0].per_class.support == [int((gender == "f").sum()), int((gender == "m").sum())]


@pytest.mark.parametrize("header, rows, arguments, message", [
    (["id", "gender"], [["clip0001.wav", "f"], ["clip0002.wav", "m"], ["clip0001.wav", "m"]],
     ["--label-column", "gender"],
     "error: repeated.csv gives clip clip0001.wav twice (lines 2 and 4); keep one row per clip"),
    (["id", "gender"], [["clip0001.wav", "f"]], ["--label-column", "accent"],
     "error: repeated.csv has no column 'accent'; its columns are 'id', 'gender'"),
    (["name", "gender"], [["clip0001.wav", "f"]], ["--label-column", "gender"],
     "error: repeated.csv has no 'id' or 'path' column to match clips by; name one with --id-column"),
    (["id", "gender"], [["a.wav", "f"], ["b.wav", "m"]], ["--label-column", "gender"],
     "error: no ok clip of the cache has a 'gender' label in repeated.csv: its 'id' values match neither clips/id "
     "nor clips/path (e.g. 'clip0000.wav')"),
    (["id", "gender"], [["clip0001.wav", "f"]], [],
     "error: --labels needs --label-column COL: the table's column holding the labels"),
    (["id", "gender"], [["clip0001.wav", "f"], ["clip0002.wav", '"m'], ["clip0003.wav", "f"]], ["--label-column", "gender"],
     'error: repeated.csv line 3: a quote opens a cell that never closes; close it, or double a quote that is part '
     'of the text ("")'),
    (["id", "gender"], [["clip0001.wav", '"f'], ["clip0002.wav", 'm"'], ["clip0003.wav", "f"]],
     ["--label-column", "gender"], "error: repeated.csv line 2: its 'gender' cell holds a line break, from a quote "
     "that opens there and closes on a later line; close the quote on its line"),
    (["id", "gender"], [["clip0001.wav", "f", "x"]], ["--label-column", "gender"],
     "error: repeated.csv line 2 has 3 cells, its header 2 (id, gender); quote a cell that holds a comma"),
])
def test_table_problems_are_one_line_each(tmp_path, planted, capsys, header, rows, arguments, message):
    cache = planted[0]
    table = _write_table(tmp_path / "repeated.csv", header, rows)
    assert main([str(cache), "--layers", "2", "--classifier", "ridge", "--labels", str(table), *arguments]) == 2
    assert capsys.readouterr().err.strip() == message


def test_a_missing_clips_column_and_a_lone_id_column_are_one_line(planted, capsys):
    cache = planted[0]
    assert main([str(cache), "--layers", "2", "--label-column", "accent"]) == 2
    assert capsys.readouterr().err.strip() == ("error: the cache has no clips/accent; give --labels TABLE to read "
                                               "'accent' from a table")
    assert main([str(cache), "--layers", "2", "--label-column", "duration"]) == 2
    assert capsys.readouterr().err.strip() == ("error: clips/duration holds numbers, not labels; give --labels TABLE "
                                               "for a table of labels")
    assert main([str(cache), "--layers", "2", "--id-column", "id"]) == 2
    assert "--id-column names a column of the --labels table" in capsys.readouterr().err


def test_probing_the_group_itself_uses_stratified_folds_over_clips_and_says_why(planted):
    cache, labels, groups, _ = planted
    result = run_sweep(cache, label_column="group", **QUICK)
    assert result.folds.protocol == "stratified-kfold" and result.folds.groups is None
    assert result.folds.reason.startswith("stratified 5-fold CV over clips, because every 'group' class lies within a "
                                          "single group")
    assert "identifiable" in result.folds.reason and result.folds.leak is None and result.folds.warnings == []
    assert result.classes == sorted(set(groups))
    for fold in result.folds.outer:  # every speaker is seen in training and tested on other clips of theirs
        assert set(groups[fold.test]) <= set(groups[fold.fit])


def test_a_clips_column_with_blanks_leaves_those_clips_out(tmp_path):
    labels, groups, layers = planted_data()
    split = np.where(np.arange(len(labels)) % 4 == 0, "", labels)
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, split, groups)
    result = run_sweep(cache, **QUICK)
    assert result.records[0].n_clips == int((split != "").sum())
    assert result.notes[0].startswith(f"labels from clips/label: {int((split == '').sum())} ok clip(s) have no "
                                      "'label' label (")


def test_baselines_and_the_probe_evaluate_the_same_joined_clips_on_the_same_folds(tmp_path):
    data = write_dataset(tmp_path / "data", speakers=3, per_cell=3)
    cache = _with_layer(tmp_path / "layers.h5", features_only_cache(data, tmp_path / "c.h5"))
    with h5py.File(cache) as file:
        ids, labels = file["clips/id"].asstr()[()], file["clips/label"].asstr()[()]
    rows = [[i, f"digit-{label}"] for i, label in zip(ids, labels)]
    table = _write_table(tmp_path / "t.csv", ["id", "digit"], rows[1:])
    probed = run_sweep(cache, layers=5, classifiers="logreg", n_jobs=1, labels=table, label_column="digit")
    base = run_baseline_sweep(cache, features="mfcc", classifiers="logreg", labels=table, label_column="digit",
                              n_jobs=1)
    assert base.clip_ids == probed.clip_ids == ids[1:].tolist() and base.classes == ["digit-d0", "digit-d1"]
    assert [fold.test.tolist() for fold in base.folds.outer] == [fold.test.tolist() for fold in probed.folds.outer]
    assert base.notes[0].startswith("labels from t.csv: 1 ok clip(s) have no 'digit' label")


def test_baselines_given_data_and_a_table_keep_the_manifest_labels_in_the_cache_and_probe_the_table(tmp_path, capsys):
    from layerprobe.baselines.cli import main as baselines_main

    data = write_dataset(tmp_path / "data", speakers=3, per_cell=3)
    table = _write_table(tmp_path / "pitch.csv", ["path", "pitch"],
                         [[f"spk{s}_{y}_{i}.wav", "high" if y else "low"] for s in range(3) for y in range(2)
                          for i in range(3)])
    out = tmp_path / "out"
    assert baselines_main([str(data), "--out", str(out), "--labels", str(table), "--label-column", "pitch",
                           "--classifier", "logreg", "--format", "json", "--quiet", "--n-jobs", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["classes"] == ["high", "low"] and doc["label_source"]["source"] == "pitch.csv"
    with h5py.File(out / "cache.h5") as file:
        assert set(file["clips/label"].asstr()[()]) == {"d0", "d1"}  # the manifest's own labels


def test_baselines_refuse_to_compare_with_a_probe_of_other_labels(tmp_path, capsys):
    from layerprobe.baselines.cli import main as baselines_main

    data = write_dataset(tmp_path / "data", speakers=3, per_cell=3)
    cache = _with_layer(tmp_path / "layers.h5", features_only_cache(data, tmp_path / "c.h5"))
    with h5py.File(cache) as file:
        ids, labels = file["clips/id"].asstr()[()], file["clips/label"].asstr()[()]
    table = _write_table(tmp_path / "t.csv", ["id", "digit"], [[i, f"digit-{label}"] for i, label in zip(ids, labels)])
    quick = ["--classifier", "logreg", "--quiet", "--n-jobs", "1"]
    assert main([str(cache), *quick, "--out", str(tmp_path / "probe"), "--labels", str(table),
                 "--label-column", "digit"]) == 0
    assert baselines_main([str(cache), *quick, "--compare", str(tmp_path / "probe" / "probe_results.json")]) == 2
    assert capsys.readouterr().err.strip().endswith("probed other labels of these clips: give probe and baselines "
                                                    "the same --labels and --label-column")
    assert baselines_main([str(cache), *quick, "--labels", str(table), "--label-column", "digit",
                           "--compare", str(tmp_path / "probe" / "probe_results.json")]) == 0


def test_a_saved_probe_says_which_labels_it_was_fitted_to(tmp_path, planted):
    from layerprobe.probes.saved_probe import load_probe

    cache, labels, groups, _ = planted
    gender = _gender(groups)
    table = _write_table(tmp_path / "g.csv", ["id", "gender"], [[f"clip{i:04d}.wav", g] for i, g in enumerate(gender)])
    assert main([str(cache), "--layers", "2", "--classifier", "ridge", "--n-jobs", "1", "--quiet", "--labels",
                 str(table), "--label-column", "gender", "--out", str(tmp_path / "run"), "--save-model"]) == 0
    saved = load_probe(tmp_path / "run" / "models" / "layer02_ridge.npz")
    assert list(saved.classes) == ["f", "m"]
    assert saved.meta["label_source"]["source"] == "g.csv" and saved.meta["label_source"]["column"] == "gender"


def test_a_label_with_one_speaker_per_class_is_named_a_speaker_identification_leak(planted, tmp_path, capsys):
    cache, labels, groups, layers = planted
    emotion = np.array([f"e{g[-1]}" for g in groups])  # one speaker per class, under another name
    table = tmp_path / "emotion.csv"
    ids = [f"clip{i:04d}.wav" for i in range(len(labels))]
    table.write_text("id,emotion\n" + "".join(f"{i},{e}\n" for i, e in zip(ids, emotion)))
    result = run_sweep(cache, labels=table, label_column="emotion", **QUICK)
    assert result.folds.protocol == "stratified-kfold"
    assert result.folds.leak.startswith("every 'emotion' class lies within a single group, so the label names the "
                                        "group: the score measures how identifiable the speakers (groups) are")
    assert result.folds.warnings[0] == result.folds.leak
    assert main([str(cache), "--layers", "2", "--classifier", "ridge", "--labels", str(table),
                 "--label-column", "emotion", "--n-jobs", "1"]) == 0
    assert "LEAK: every 'emotion' class lies within a single group" in capsys.readouterr().out


def test_more_clips_x_classes_than_a_probe_holds_are_one_line_before_any_fit(tmp_path, capsys, monkeypatch):
    # The bound is on memory (clips x classes scores a record), not on classes: 1,251 speakers pass.
    monkeypatch.setattr(label_table, "MAX_SCORE_CELLS", 20 * 10)
    values = np.zeros((21, 2), np.float32)
    cache = write_probe_cache(tmp_path / "c.h5", {0: values}, [f"id{i % 10}" for i in range(21)])
    assert main([str(cache), "--layers", "0", "--classifier", "ridge"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: clips/label column 'label' has 10 distinct labels over 21 clips: 210 clip x class scores a record, "
        "above the 200 a probe holds in memory; probe a coarser label or fewer clips")
    with CacheReader(write_probe_cache(tmp_path / "most.h5", {0: values[1:]}, [f"id{i % 10}" for i in range(20)])) as reader:
        assert len(clip_labels(reader).labels) == 20
