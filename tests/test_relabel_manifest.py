"""A manifest's other columns live in the cache: a fold column added after extraction is stored by
giving extract-embeddings the manifest again (nothing is encoded again), and a cache that predates
this reads the column from its manifest whatever that manifest's path column is called."""
from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from conftest import planted_data, run_sweep, write_fold_manifest, write_probe_cache
from layerprobe.data.cache import CacheWriter, Settings
from layerprobe.data.columns import ColumnChoice
from layerprobe.data.demo_dataset import write_demo_dataset
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.probes.cli import main as probe_main


def rewrite(manifest, out, fold_of, path_column="path"):
    """`manifest` with its path column renamed and a fold column (fold_of: speaker -> fold) added."""
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[path_column, "label", "speaker", "fold"])
        writer.writeheader()
        for row in rows:
            writer.writerow({path_column: row["path"], "label": row["label"], "speaker": row["speaker"],
                             "fold": fold_of[row["speaker"]]})
    return out


FOLD_OF = {"speaker0": "A", "speaker1": "A", "speaker2": "B", "speaker3": "B"}


def test_a_fold_column_added_after_extraction_is_stored_and_probed(tmp_path, group_norm_model, monkeypatch, capsys):
    from layerprobe.extract.encoder import Encoder
    from conftest import run_extract

    manifest = write_demo_dataset(tmp_path / "data", speakers=4, clips_per_vowel=2)
    cache = tmp_path / "cache.h5"
    run_extract(str(manifest), str(cache), model=group_norm_model, device="cpu", progress=False)
    with pytest.raises(UserError, match="neither the cache nor its manifest manifest.csv has a column 'fold'"):
        run_sweep(cache, classifiers="ridge", fold_column="fold", n_jobs=1)
    with_folds = rewrite(manifest, manifest.with_name("manifest_folds.csv"), FOLD_OF, path_column="wav")
    monkeypatch.setattr(Encoder, "summarize", lambda *a, **k: pytest.fail("a finished clip was encoded again"))
    summary = run_extract(str(with_folds), str(cache), model=group_norm_model, device="cpu", progress=False,
                      path_column="wav")
    assert summary.ok == 0 and summary.skipped == 24
    with CacheReader(cache) as reader:
        speakers = reader.clips["group"].to_numpy()
        assert reader.clip_values("fold").tolist() == [FOLD_OF[s] for s in speakers]
    with_folds.unlink()  # the stored column is the cache's own: the manifest is not read again
    record = run_sweep(cache, classifiers="logreg", fold_column="fold", n_jobs=1).records[0].to_dict()
    assert record["protocol"] == "predefined-folds"
    assert [fold["index"] for fold in record["predictions"]] == [
        np.flatnonzero(np.isin(speakers, [s for s, f in FOLD_OF.items() if f == name])).tolist() for name in "AB"]
    assert probe_main([str(cache), "--layers", "1", "--classifier", "ridge", "--fold-column", "fold", "--quiet",
                       "--n-jobs", "1"]) == 0
    assert "predefined-folds" in capsys.readouterr().out


def test_a_cache_made_before_keeps_reading_folds_from_a_manifest_whose_path_column_is_wav(tmp_path):
    labels, groups, layers = planted_data(n_groups=6)
    folds = np.array([f"fold{int(g[3:]) // 2}" for g in groups])
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, labels, groups)
    manifest = write_fold_manifest(tmp_path / "manifest.csv", labels, groups, folds, path_column="wav")
    with h5py.File(cache, "a") as f:
        f.attrs["data"] = str(manifest)
        f.attrs["columns"] = ColumnChoice(path="wav", group="speaker").to_attr()
    record = run_sweep(cache, classifiers="logreg", fold_column="actor_fold", n_jobs=1).records[0].to_dict()
    assert [fold["index"] for fold in record["predictions"]] == [
        np.flatnonzero(folds == name).tolist() for name in ("fold0", "fold1", "fold2")]


def test_the_columns_attribute_has_one_schema():
    choice = ColumnChoice(path="wav", label=None, group="speaker", split=None)
    assert json.loads(choice.to_attr()) == {"path": "wav", "label": None, "group": "speaker", "split": None,
                                            "split_lists": None, "speech_commands_classes": None}
    assert ColumnChoice.from_attr(choice.to_attr(), "c.h5") == choice
    assert ColumnChoice.from_attr("", "c.h5") == ColumnChoice()
    assert choice.manifest_kwargs() == {"path_column": "wav", "label_column": None, "group_column": "speaker",
                                        "split_column": None, "split_lists": None}
    assert ColumnChoice(speech_commands_classes=12).manifest_kwargs()["speech_commands_classes"] == 12
    with pytest.raises(UserError, match="should map path/label/group/split to column names"):
        ColumnChoice.from_attr('{"path_column": "wav"}', "c.h5")


def clips(ids):
    return [SimpleNamespace(id=i, path=i, label="a", group="", split="") for i in ids]


SETTINGS = Settings(model="m", model_revision="", model_fingerprint="f", model_type="", sample_rate=16000,
                    layers=(), hidden_size=0, dtype="", chunk_seconds=0.0, pad_short=False)


def test_manifest_columns_merge_by_clip_id_and_never_shadow_the_contracts(tmp_path):
    cache = tmp_path / "c.h5"
    CacheWriter(cache, clips(["x", "y"]), SETTINGS, others={"fold": ["1", "2"], "status": ["s", "s"],
                                                             "a/b": ["n", "n"]}).close()
    # y is relabelled, z is new; the new manifest has no fold but a note; x is not listed.
    CacheWriter(cache, clips(["y", "z"]), SETTINGS, others={"note": ["ny", "nz"]}).close()
    CacheWriter(cache, clips(["z"]), SETTINGS, others={"fold": ["3"]}).close()
    with h5py.File(cache, "r") as f:
        stored = {name: f[f"clips/{name}"].asstr()[()].tolist() for name in ("id", "fold", "note")}
        assert f["clips/status"][()].tolist() == [b"pending"] * 3 and "a" not in f["clips"]
    assert stored == {"id": ["x", "y", "z"], "fold": ["1", "2", "3"], "note": ["", "ny", "nz"]}


def test_a_changed_manifest_column_changes_the_key_layerprobe_run_reuses_results_by(tmp_path):
    from layerprobe.pipeline import cache_signature

    labels, groups, layers = planted_data(n_groups=4, per_cell=2, dim=4)
    cache = write_probe_cache(tmp_path / "c.h5", {0: layers[0]}, labels, groups)
    before = cache_signature(cache, ())
    with h5py.File(cache, "a") as f:
        f.create_dataset("clips/fold", data=np.array(["A", "B"] * (len(labels) // 2), dtype=object),
                         dtype=h5py.string_dtype())
    with_folds = cache_signature(cache, ())
    with h5py.File(cache, "a") as f:
        f["clips/fold"][0] = "B"
    assert len({before, with_folds, cache_signature(cache, ())}) == 3
