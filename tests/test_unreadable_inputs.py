"""A saved dataset, a manifest, a saved probe or a model folder that cannot be read is one line
naming the file and the cause, exit code 2."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from audio_files import write_tone
from conftest import planted_data, write_probe_cache
from layerprobe.data.manifest import load_manifest
from layerprobe.errors import UserError
from layerprobe.extract.cli import main as extract_main
from layerprobe.extract.encoder import Encoder
from layerprobe.probes.cli import main as probe_main
from layerprobe.probes.saved_probe import load_probe, save_probe
from layerprobe.probes.spec import LinearModel


@pytest.fixture
def saved_dataset(tmp_path):
    import datasets

    for number in range(2):
        write_tone(tmp_path / f"{number}.wav", duration=0.3, frequency=300 + 100 * number)
    rows = {"audio": [str(tmp_path / f"{n}.wav") for n in range(2)], "label": ["a", "b"]}
    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())}
                         ).save_to_disk(str(folder))
    return folder


def truncate(path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def arrow_file(folder):
    return next((folder / "train").glob("*.arrow"))


@pytest.mark.parametrize("damage, message", [
    (lambda folder: truncate(arrow_file(folder), 0.5),
     r"saved/train/data-00000-of-00001.arrow: truncated or not an Arrow file \(Expected to be able to read"),
    (lambda folder: (folder / "dataset_dict.json").write_text("{not json"), r"saved/dataset_dict.json: not JSON"),
    (lambda folder: (folder / "train" / "state.json").write_text('{"_data_files": [{"filename": '),
     r"saved/train/state.json: not JSON"),
    (lambda folder: arrow_file(folder).unlink(),
     r"saved/train/data-00000-of-00001.arrow: missing, a file the saved dataset lists \(a save cut short\?\)"),
    (lambda folder: shutil.rmtree(folder / "train"), r"saved/train/state.json: missing, a file the saved dataset lists"),
])
def test_a_broken_saved_dataset_names_the_file_and_the_cause(saved_dataset, damage, message):
    load_manifest(saved_dataset)  # whole, it reads
    damage(saved_dataset)
    with pytest.raises(UserError, match=message + r".*; save the dataset again \(save_to_disk\)$"):
        load_manifest(saved_dataset)


def test_extract_on_a_broken_saved_dataset_exits_2_with_one_line(saved_dataset, tmp_path, group_norm_model, capsys):
    truncate(arrow_file(saved_dataset), 0.5)
    assert extract_main([str(saved_dataset), "--out", str(tmp_path / "c.h5"), "--model", group_norm_model,
                         "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data-00000-of-00001.arrow: truncated" in err


@pytest.mark.parametrize("content, message", [
    (b"path,label\n\xff\xfe,a\n", "cannot read .*manifest.csv: 'utf-8' codec can't decode byte 0xff"),
    (b"", "manifest.csv is empty"),
    (b"path,label\n\"a.wav,x\nb.wav,y\n", "manifest.csv line 2: a quote opens a cell that never closes"),
])
def test_a_manifest_that_cannot_be_read_names_the_file_and_the_cause(tmp_path, content, message):
    (tmp_path / "manifest.csv").write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_manifest(tmp_path / "manifest.csv")


@pytest.fixture
def saved_probe(tmp_path):
    model = LinearModel(np.zeros(4), np.ones(4), np.ones((1, 4)), np.zeros(1))
    return save_probe(model, ["a", "b"], tmp_path / "p.npz", {"layer": 1, "model": "synthetic/encoder", "pooling": "mean"})


def with_meta(path, **changes):
    arrays = dict(np.load(path))
    arrays["meta"] = np.array(json.dumps({**json.loads(str(arrays["meta"])), **changes}))
    np.savez(path, **arrays)


@pytest.mark.parametrize("changes, message", [
    ({"pooling": 3}, "its meta field 'pooling' is int 3; expected text"),
    ({"layer": [1]}, "its meta field 'layer' is list \\[1\\]; expected an integer or text"),
    ({"layer": True}, "its meta field 'layer' is bool True; expected an integer or text"),
    ({"model": None}, "its meta field 'model' is NoneType None; expected text"),
    ({"model_fingerprint": 12}, "its meta field 'model_fingerprint' is int 12; expected text"),
])
def test_a_saved_probe_with_a_wrongly_typed_field_is_refused(saved_probe, changes, message):
    load_probe(saved_probe)
    with_meta(saved_probe, **changes)
    with pytest.raises(UserError, match=f"not a saved probe .*p.npz \\({message}\\)"):
        load_probe(saved_probe)


def test_probe_predict_with_that_probe_exits_2_with_one_line(saved_probe, tmp_path, capsys):
    labels, groups, layers = planted_data(n_groups=2, per_cell=2, dim=4)
    cache = write_probe_cache(tmp_path / "c.h5", layers, labels, groups)
    with_meta(saved_probe, pooling=3)
    assert probe_main([str(cache), "--predict", str(saved_probe), "--out", str(tmp_path / "pred"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its meta field 'pooling' is int 3; expected text" in err


@pytest.mark.parametrize("keep", [0.001, 0.5])  # the header cut, or the tensors
def test_a_model_with_truncated_weights_names_the_file(group_norm_model, tmp_path, keep):
    model = shutil.copytree(group_norm_model, tmp_path / "model")
    truncate(model / "model.safetensors", keep)
    with pytest.raises(UserError, match=f"cannot load model '{model}': {model}/model.safetensors is truncated or "
                                        r"damaged \(.+\)$"):
        Encoder(str(model), device="cpu")


def test_extract_with_truncated_weights_exits_2_with_one_line(group_norm_model, tmp_path, capsys):
    model = shutil.copytree(group_norm_model, tmp_path / "model")
    truncate(model / "model.safetensors", 0.5)
    (tmp_path / "data" / "a").mkdir(parents=True)
    write_tone(tmp_path / "data" / "a" / "0.wav", duration=0.3)
    assert extract_main([str(tmp_path / "data"), "--out", str(tmp_path / "c.h5"), "--model", str(model),
                         "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors is truncated or damaged" in err
