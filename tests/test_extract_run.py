"""extract-embeddings end to end on generated audio: exact rows, bad clips recorded, resume, kill -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoModel

from audio_files import write_truncated
from layerprobe.data.audio import decode
from layerprobe.data.manifest import load_manifest
from layerprobe.errors import UserError
from layerprobe.extract.encoder import Encoder
from conftest import run_extract

# (seconds, rate, channels, subtype): several rates, bit depths and channel counts
CLIPS = [
    (0.3, 8000, 1, "PCM_16"), (1.7, 16000, 1, "PCM_24"), (0.9, 44100, 2, "FLOAT"), (2.6, 22050, 1, "PCM_U8"),
    (0.02, 16000, 1, "PCM_16"), (1.1, 48000, 6, "PCM_32"), (0.6, 8000, 2, "PCM_16"), (3.2, 16000, 1, "DOUBLE"),
]


def write_clip(path, seconds: float, rate: int, channels: int, subtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.05 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.repeat(tone[:, None], channels, axis=1), rate, subtype=subtype, format="WAV")


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "audio"
    for number, spec in enumerate(CLIPS):
        write_clip(root / ("yes" if number % 2 else "no") / f"clip{number}.wav", *spec, seed=number)
    return root


def stored(cache) -> dict:
    with h5py.File(cache, "r") as f:
        ids = f["clips/id"].asstr()[()]
        status = f["clips/status"].asstr()[()]
        layers = {int(name): f[f"layers/{name}"][()] for name in f["layers"]}
        return {"ids": ids, "status": status, "error": f["clips/error"].asstr()[()], "layers": layers}


@pytest.mark.parametrize("model_fixture", ["group_norm_model", "layer_norm_model"])
def test_every_stored_embedding_matches_the_single_clip_reference(dataset, tmp_path, model_fixture, request):
    model_dir = request.getfixturevalue(model_fixture)
    cache = tmp_path / "cache.h5"
    summary = run_extract(str(dataset), str(cache), model=model_dir, device="cpu", batch_seconds=3.0,
                      chunk_seconds=2.0, progress=False)
    assert summary.ok == len(CLIPS) - 1 and summary.failed == {"too-short": 1}
    rows = stored(cache)
    encoder = Encoder(model_dir, device="cpu")
    model = AutoModel.from_pretrained(model_dir).eval()
    clips = {clip.id: clip for clip in load_manifest(dataset).clips}
    for row, clip_id in enumerate(rows["ids"]):
        if rows["status"][row] != "ok":
            assert clip_id == "no/clip4.wav" and rows["error"][row].startswith("too-short")
            continue
        wave = encoder.normalize(decode(clips[clip_id].source, 16000))
        pieces = np.array_split(wave, int(np.ceil(len(wave) / 32000)))  # chunk_seconds=2.0
        with torch.inference_mode():
            states = [model(torch.from_numpy(p)[None], output_hidden_states=True).hidden_states for p in pieces]
        for layer, values in rows["layers"].items():
            # one piece: the plain reference; several: their frame-weighted mean
            frames = torch.cat([s[layer][0] for s in states])
            expected = frames.mean(0).numpy()
            got = values[row]
            assert got @ expected / np.linalg.norm(got) / np.linalg.norm(expected) >= 0.99999, (clip_id, layer)


def test_bad_clips_are_recorded_and_the_rest_extracted(dataset, tmp_path, group_norm_model):
    (dataset / "no" / "noise.wav").write_bytes(os.urandom(2000))
    (dataset / "no" / "empty.wav").write_bytes(b"")
    sf.write(dataset / "yes" / "nan.wav", np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    write_truncated(dataset / "yes" / "cut.wav", duration=1.0)
    cache = tmp_path / "cache.h5"
    summary = run_extract(str(dataset), str(cache), model=group_norm_model, device="cpu", progress=False)
    rows = stored(cache)
    assert summary.ok == len(CLIPS) - 1
    failed = {i: e.split(":")[0] for i, s, e in zip(rows["ids"], rows["status"], rows["error"]) if s == "failed"}
    assert failed["yes/nan.wav"] == "non-finite" and failed["yes/cut.wav"] == "truncated"
    assert failed["no/clip4.wav"] == "too-short"
    assert set(failed) == {"no/noise.wav", "no/empty.wav", "yes/nan.wav", "yes/cut.wav", "no/clip4.wav"}
    assert sum(summary.failed.values()) == 5
    assert "failed (too-short): 1" in str(summary)


def test_strict_stops_at_the_first_failure(dataset, tmp_path, group_norm_model):
    with pytest.raises(UserError, match="clip4.wav: too-short"):
        run_extract(str(dataset), str(tmp_path / "c.h5"), model=group_norm_model, device="cpu", strict=True,
                progress=False)


def test_pad_short_keeps_the_short_clip(dataset, tmp_path, group_norm_model):
    summary = run_extract(str(dataset), str(tmp_path / "c.h5"), model=group_norm_model, device="cpu", pad_short=True,
                      progress=False)
    assert summary.ok == len(CLIPS) and not summary.failed


def test_a_rerun_encodes_only_what_is_missing(dataset, tmp_path, group_norm_model, monkeypatch):
    cache = tmp_path / "cache.h5"
    run_extract(str(dataset), str(cache), model=group_norm_model, layers=[0, 2], device="cpu", progress=False)
    before = stored(cache)
    assert sorted(before["layers"]) == [0, 2]
    write_clip(dataset / "yes" / "new.wav", 1.0, 16000, 1, "PCM_16", seed=99)
    calls = []
    original = Encoder.summarize
    monkeypatch.setattr(Encoder, "summarize", lambda self, waves, **kw: calls.append(len(waves)) or original(self, waves, **kw))
    summary = run_extract(str(dataset), str(cache), model=group_norm_model, layers=[0, 2], device="cpu", progress=False)
    after = stored(cache)
    # only the new clip and the retried too-short one reach the decoder; only the new one the encoder
    assert summary.ok == 1 and summary.skipped == len(CLIPS) - 1 and sum(calls) == 1
    assert after["ids"][-1] == "yes/new.wav" and after["status"][-1] == "ok"
    for layer in (0, 2):
        np.testing.assert_array_equal(after["layers"][layer][: len(CLIPS)][before["status"] == "ok"],
                                      before["layers"][layer][before["status"] == "ok"])


def test_a_cache_of_another_model_is_refused(dataset, tmp_path, group_norm_model, layer_norm_model):
    cache = tmp_path / "cache.h5"
    run_extract(str(dataset), str(cache), model=group_norm_model, device="cpu", progress=False)
    with pytest.raises(UserError, match="other settings: model_fingerprint"):
        run_extract(str(dataset), str(cache), model=layer_norm_model, device="cpu", progress=False)


def cli(*args: str, **kwargs) -> subprocess.Popen:
    code = "import sys; from layerprobe.extract.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


@pytest.mark.parametrize("grow", [False, True], ids=["new-cache", "growing-cache"])
def test_kill_minus_nine_leaves_a_cache_that_opens_and_completes(tmp_path, group_norm_model, grow):
    """grow: the killed runs extend a cache of 10 of the clips with the other 20 and the std
    pooling for all 30 (new parts and a new index, then values), instead of starting a new one.
    Two command-line runs are killed mid-run; the reference and the completing run are in-process
    (each command-line run costs a process start and torch's import, the most of this test's time)."""
    root = tmp_path / "audio"
    for number in range(30):
        write_clip(root / f"label{number % 3}" / f"c{number:02d}.wav", 0.5 + number / 40, 16000, 1, "PCM_16", number)
    whole, killed = tmp_path / "whole.h5", tmp_path / "killed.h5"
    flags = ["--model", group_norm_model, "--device", "cpu", "--batch-seconds", "0.5", "--quiet"]
    options = dict(model=group_norm_model, device="cpu", batch_seconds=0.5, progress=False)
    if grow:
        first = tmp_path / "first"
        for clip in sorted(root.rglob("*.wav"))[::3]:
            (first / clip.parent.name).mkdir(parents=True, exist_ok=True)
            (first / clip.parent.name / clip.name).write_bytes(clip.read_bytes())
        run_extract(str(first), str(killed), **options)
        flags += ["--pooling", "mean,std"]
        options["pooling"] = ("mean", "std")
    run_extract(str(root), str(whole), **options)
    kills = 0
    for _ in range(4):
        process = cli(str(root), "--out", str(killed), *flags)
        done = _wait_for_progress(killed, process, done_before=_ok_count(killed))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
        with h5py.File(killed, "r") as f:  # opens after every kill
            assert len(f["clips/status"]) in ((10, 30) if grow else (30,))
        if kills == 2 or done == 30:
            break
    assert kills >= 2
    run_extract(str(root), str(killed), **options)
    a, b = stored(whole), stored(killed)
    rows_a, rows_b = np.argsort(a["ids"]), np.argsort(b["ids"])  # a grown cache holds its first 20 clips first
    assert (a["ids"][rows_a] == b["ids"][rows_b]).all() and (b["status"] == "ok").all()
    for layer in a["layers"]:
        np.testing.assert_allclose(b["layers"][layer][rows_b], a["layers"][layer][rows_a], rtol=1e-4, atol=1e-5)
    if grow:
        with h5py.File(whole, "r") as f, h5py.File(killed, "r") as g:
            assert (g["pooled/std/status"][()] == b"ok").all()
            np.testing.assert_allclose(g["pooled/std/02"][()][rows_b], f["pooled/std/02"][()][rows_a],
                                       rtol=1e-4, atol=1e-5)


def _ok_count(cache) -> int:
    if not cache.exists():
        return 0
    with h5py.File(cache, "r", locking=False) as f:
        return int((f["clips/status"][()] == b"ok").sum())


def _wait_for_progress(cache, process, done_before: int) -> int:
    """Wait until the running extraction has stored a few more clips (or ended)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            done = _ok_count(cache)
        except OSError:  # caught mid-rename of a fresh file; look again
            done = done_before
        if done >= done_before + 5:
            return done
        time.sleep(0.05)
    return _ok_count(cache)


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, dataset, group_norm_model):
    cases = [
        ([str(tmp_path / "missing"), "--out", str(tmp_path / "c.h5")], "missing"),
        ([str(dataset), "--out", str(tmp_path / "c.h5"), "--layers", "x"], "layers 'x'"),
        ([str(dataset)], "--out"),
        ([str(dataset), "--out", str(tmp_path / "c.h5"), "--model", str(tmp_path / "nowhere")], "nowhere: no such folder"),
        ([str(dataset), "--out", str(tmp_path / "c.h5"), "--model", group_norm_model, "--layers", "9"], "0-4"),
    ]
    for args, message in cases:
        process = cli(*args)
        out, err = process.communicate()
        assert process.returncode == 2, (args, err)
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_a_local_model_folder_given_relative_is_stored_absolute(dataset, tmp_path, group_norm_model, monkeypatch):
    monkeypatch.chdir(os.path.dirname(group_norm_model))
    run_extract(str(dataset), str(tmp_path / "c.h5"), model=os.path.basename(group_norm_model), device="cpu",
            pad_short=True, progress=False)
    with h5py.File(tmp_path / "c.h5") as f:
        assert f.attrs["model"] == os.path.realpath(group_norm_model)
