"""A cache's identity, its model fingerprint, covers what changes its rows: weights, config and the
preprocessor's settings. Resuming with another preprocessor is refused as another model is; a cache
fingerprinted before the preprocessor counted is still read."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
from transformers import AutoModel

from audio_files import write_tone
from layerprobe.data.demo_dataset import write_demo_dataset
from layerprobe.extract.cli import main as extract_main
from layerprobe.extract.encoder import UNCOMPUTED_CONFIG_KEYS, Encoder
from layerprobe.probes.cli import main as probe_main


def with_preprocessor(model_dir: str, folder: Path, **settings) -> str:
    """A copy of the model, same weights and config, its preprocessor_config.json changed by `settings`."""
    shutil.copytree(model_dir, folder)
    path = folder / "preprocessor_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **settings}))
    return str(folder)


def legacy_fingerprint(model_dir: str) -> str:
    """The fingerprint as layerprobe computed it before the preprocessor counted: config and weights."""
    model = AutoModel.from_pretrained(model_dir)
    config = {k: v for k, v in model.config.to_dict().items() if k not in UNCOMPUTED_CONFIG_KEYS}
    digest = hashlib.blake2b(json.dumps(config, sort_keys=True, default=str).encode(), digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def error_line(err: str) -> str:
    """The one error line extract-embeddings ends with (after its manifest and encoder lines)."""
    lines = err.splitlines()
    assert "Traceback" not in err and [line for line in lines if line.startswith("error:")] == lines[-1:]
    return lines[-1]


def extract_args(data: Path, cache: Path, model: str) -> list[str]:
    return [str(data), "--out", str(cache), "--model", model, "--device", "cpu", "--layers", "1", "--quiet"]


def test_the_fingerprint_covers_the_preprocessor(group_norm_model, tmp_path):
    same = Encoder(with_preprocessor(group_norm_model, tmp_path / "same"), device="cpu").info.fingerprint
    other = Encoder(with_preprocessor(group_norm_model, tmp_path / "raw", do_normalize=False), device="cpu")
    assert Encoder(group_norm_model, device="cpu").info.fingerprint == same != other.info.fingerprint


def test_resuming_with_another_preprocessor_is_refused_in_one_line(group_norm_model, tmp_path, capsys):
    (tmp_path / "data" / "a").mkdir(parents=True)
    for number in range(3):
        write_tone(tmp_path / "data" / "a" / f"{number}.wav", duration=0.4, frequency=200 + 90 * number)
    cache = tmp_path / "c.h5"
    assert extract_main(extract_args(tmp_path / "data", cache, group_norm_model)) == 0
    write_tone(tmp_path / "data" / "a" / "new.wav", duration=0.4)
    capsys.readouterr()
    raw = with_preprocessor(group_norm_model, tmp_path / "raw", do_normalize=False)
    assert extract_main(extract_args(tmp_path / "data", cache, raw)) == 2
    assert f"{cache} was made with other settings: model_fingerprint " in error_line(capsys.readouterr().err)
    with h5py.File(cache, "r") as f:
        assert len(f["clips/id"]) == 3  # nothing was added


def test_a_cache_fingerprinted_before_the_preprocessor_counted_is_read_by_probe_and_refused_on_resume(
        group_norm_model, tmp_path, capsys):
    manifest = write_demo_dataset(tmp_path / "data", speakers=4, clips_per_vowel=2)
    cache = tmp_path / "c.h5"
    assert extract_main(extract_args(manifest, cache, group_norm_model)) == 0
    legacy = legacy_fingerprint(group_norm_model)
    with h5py.File(cache, "r+") as f:
        assert f.attrs["model_fingerprint"] != legacy
        f.attrs["model_fingerprint"] = legacy
    capsys.readouterr()
    assert probe_main([str(cache), "--layer", "1", "--classifier", "logreg", "--format", "json", "--n-jobs", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model_fingerprint"] == legacy and doc["results"][0]["layer"] == 1
    assert extract_main(extract_args(manifest, cache, group_norm_model)) == 2
    assert f"model_fingerprint {legacy} (this run: " in error_line(capsys.readouterr().err)

