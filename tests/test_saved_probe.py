"""Saved probes: applied only to embeddings of the same encoder weights, and a damaged or foreign
.npz is one line, never a traceback."""
from __future__ import annotations

import json
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import planted_data, write_probe_cache
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.probes.saved_probe import load_probe, predict_cache, save_probe
from layerprobe.probes.spec import linear_model


def cache_of(path, fingerprint: str):
    labels, groups, layers = planted_data()
    write_probe_cache(path, layers, labels, groups)
    with h5py.File(path, "a") as f:
        f.attrs["model_fingerprint"] = fingerprint
    return path


@pytest.fixture
def saved(tmp_path):
    cache = cache_of(tmp_path / "fitted.h5", "382cb9e0aa")
    with CacheReader(cache) as reader:
        X, y = reader.layer(2), reader.clips["label"]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    meta = {"layer": 2, "classifier": "logreg", "model": "synthetic/encoder", "model_fingerprint": "382cb9e0aa",
            "cache": str(cache)}
    return save_probe(linear_model(pipeline), list(pipeline.classes_), tmp_path / "models" / "layer02_logreg.npz", meta)


def test_a_probe_is_refused_on_another_encoder_with_the_same_name_unless_forced(saved, tmp_path, capsys):
    probe = load_probe(saved)
    assert probe.meta["model_fingerprint"] == "382cb9e0aa"
    assert (predict_cache(probe, tmp_path / "fitted.h5")["predicted"] != "").all()
    other = cache_of(tmp_path / "other.h5", "885b91ffff")
    with pytest.raises(UserError, match="fingerprint 382cb9e0aa.*fingerprint 885b91ffff.*--force applies it anyway"):
        predict_cache(probe, other)
    assert len(predict_cache(probe, other, force=True)) == 144
    assert "applied anyway (--force)" in capsys.readouterr().err


def rewritten(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("changes, message", [
    (dict(meta=np.array("{not json")), "Expecting property name"),
    (dict(meta=np.array(json.dumps({"format": 1}))), "meta is not a format-1 probe"),
    (dict(meta=None), "meta is not a file in the archive"),
    (dict(coef=np.ones((3, 7))), "mean has shape (32,), coef (3, 7) needs (7,)"),
    (dict(intercept=np.ones(5)), "intercept has shape (5,)"),
    (dict(scale=np.zeros(32)), "non-positive scale"),
    (dict(coef=np.array([["a"] * 32] * 3)), "not a (classes, dims) array of numbers"),
])
def test_a_damaged_probe_file_is_one_line(saved, changes, message):
    with pytest.raises(UserError, match="not a saved probe") as raised:
        load_probe(rewritten(saved, **changes))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_small_file_declaring_gigabytes_is_refused_before_anything_is_allocated(saved, tmp_path):
    # coef's header declares 2 GiB of float64, in a deflated member of a few KB (a zip bomb's shape):
    # the declared size is checked against the bytes the member takes before a byte is allocated.
    with np.load(saved, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files if name != "coef"}
    bomb = tmp_path / "bomb.npz"
    np.savez(bomb, **arrays)
    header = {"descr": "<f8", "fortran_order": False, "shape": (2**28,)}
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive, archive.open("coef.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
        member.write(bytes(2**20))
    assert bomb.stat().st_size < 100_000
    tracemalloc.start()
    with pytest.raises(UserError, match=r"coef declares 2,147,483,648 bytes of float64 \(268435456,\) in [\d,]+ bytes of "
                                        r"the file; refused before loading") as raised:
        load_probe(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20 and "\n" not in str(raised.value)


def test_an_array_of_python_objects_is_refused_unread(saved):
    rewritten(saved, classes=np.array([{"a": 1}, "b"], dtype=object))
    with pytest.raises(UserError, match="classes declares Python objects"):
        load_probe(saved)
