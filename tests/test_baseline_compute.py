"""compute_features: features/NAME for every clip, read back through the cache's data attrs; failures
recorded; the same values from a pool of workers as in one process; long clips streamed; resumable
after kill -9, with no worker left behind; parameters checked."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from audio_files import sine, write_signal, write_zero_bytes
from conftest import write_probe_cache

from layerprobe.baselines import feature_pool, features
from layerprobe.baselines.compute import compute_features
from layerprobe.baselines.features import FEATURES, mfcc_stats
from layerprobe.baselines.features_only import features_only_cache
from layerprobe.data.audio import decode
from layerprobe.data.clips import FileSource
from layerprobe.data.feature_writer import FeatureWriter
from layerprobe.errors import UserError


def write_dataset(root: Path, speakers: int = 3, labels: int = 2, per_cell: int = 4, seconds: float = 0.3,
                  rate: int = 8000) -> Path:
    """A manifest.csv (path, label, speaker) of tones whose pitch follows the label, with a speaker
    timbre and noise; returns the manifest's folder."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in range(speakers):
        for y in range(labels):
            for i in range(per_cell):
                n = int(rate * seconds)
                wave = sine(n, rate, 200 + 250 * y + 20 * s + 5 * i, 0.3) + sine(n, rate, 1500 + 300 * s, 0.1)
                path = f"spk{s}_{y}_{i}.wav"
                write_signal(root / path, wave + 0.02 * rng.normal(size=n), rate)
                rows.append({"path": path, "label": f"d{y}", "speaker": f"spk{s}"})
    with open(root / "manifest.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, ["path", "label", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def _read(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path) as file:
        return file[f"features/{name}"][()], file[f"feature_status/{name}"][()]


def test_features_only_cache_gets_features_equal_to_the_function_on_decoded_audio(tmp_path):
    data = write_dataset(tmp_path / "data")
    cache = features_only_cache(data, tmp_path / "cache.h5")
    summary = compute_features(cache, ("mfcc", "logmel"), progress=False)
    assert summary.computed == {"mfcc": 24, "logmel": 24} and not any(summary.failed.values())
    values, status = _read(cache, "mfcc")
    with h5py.File(cache) as file:
        ids = file["clips/id"].asstr()[()]
        assert (file["clips/status"][()] == b"ok").all()
        np.testing.assert_allclose(file["clips/duration"][()], 0.3, atol=1e-3)
        assert json.loads(file["features/mfcc"].attrs["params"])["hop_length"] == 160
        assert file["features/mfcc"].attrs["win_length"] == 400
    assert (status == b"ok").all()
    wave = decode(FileSource(str(data / ids[5])), 16000)
    np.testing.assert_array_equal(values[5], mfcc_stats(wave))


def test_failed_clips_are_recorded_with_their_reason_and_counted(tmp_path):
    data = write_dataset(tmp_path / "data")
    write_zero_bytes(data / "spk0_0_0.wav")
    cache = features_only_cache(data, tmp_path / "cache.h5")
    summary = compute_features(cache, ("mfcc",), progress=False)
    assert summary.failed["mfcc"] == {"empty": 1} and summary.computed["mfcc"] == 23
    with h5py.File(cache) as file:
        row = list(file["clips/id"].asstr()[()]).index("spk0_0_0.wav")
        assert file["clips/status"][row] == b"failed"
        assert b"empty" in file["clips/error"][row] and b"empty" in file["feature_error/mfcc"][row]
        assert (np.delete(file["clips/status"][()], row) == b"ok").all()
    assert compute_features(cache, ("mfcc",), progress=False).skipped["mfcc"] == 23


def test_a_pool_of_workers_stores_the_values_and_failures_of_one_process(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_pool, "CHUNK", 4)  # 24 clips: 6 chunks over 2 spawned workers
    data = write_dataset(tmp_path / "data")
    write_zero_bytes(data / "spk1_0_2.wav")
    single = features_only_cache(data, tmp_path / "single.h5")
    pooled = features_only_cache(data, tmp_path / "pooled.h5")
    compute_features(single, ("mfcc", "logmel"), progress=False, n_jobs=1)
    summary = compute_features(pooled, ("mfcc", "logmel"), progress=False, n_jobs=2)
    assert summary.computed == {"mfcc": 23, "logmel": 23} and summary.failed["mfcc"] == {"empty": 1}
    with h5py.File(single) as a, h5py.File(pooled) as b:
        for name in ("features/mfcc", "features/logmel", "feature_status/mfcc", "feature_error/mfcc",
                     "clips/status", "clips/error", "clips/duration"):
            np.testing.assert_array_equal(a[name][()], b[name][()])


def _warning_mfcc(wave: np.ndarray) -> np.ndarray:
    warnings.warn("a library's note from inside the feature", RuntimeWarning, stacklevel=1)
    return mfcc_stats(wave)


def test_a_workers_warnings_are_raised_in_the_parent_not_printed_by_the_worker(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(feature_pool, "CHUNK", 4)  # 12 clips: 3 chunks over 2 spawned workers
    data = write_dataset(tmp_path / "data", speakers=3, labels=2, per_cell=2)
    sources = [FileSource(path) for path in sorted(data.glob("*.wav"))]
    feature = dataclasses.replace(FEATURES["mfcc"], compute=_warning_mfcc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = list(feature_pool.clip_outcomes(feature, sources, n_jobs=2))
    assert sum(len(chunk) for chunk in chunks) == len(sources)
    notes = [w for w in caught if "a library's note" in str(w.message)]
    assert notes and all(w.category is RuntimeWarning and w.filename == __file__ for w in notes)
    assert "a library's note" not in capfd.readouterr().err


def test_a_long_clip_is_streamed_to_the_values_of_the_whole_clip(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_pool, "LONG_SECONDS", 1.0)  # the 3 s clip is "long"
    monkeypatch.setattr(features, "SEGMENT_FRAMES", 64)
    data = write_dataset(tmp_path / "data", speakers=1, labels=1, per_cell=1, seconds=3.0)
    cache = features_only_cache(data, tmp_path / "cache.h5")
    compute_features(cache, ("mfcc", "logmel"), progress=False, n_jobs=1)
    wave = decode(FileSource(str(data / "spk0_0_0.wav")), 16000)
    for name in ("mfcc", "logmel"):
        values, status = _read(cache, name)
        assert status.tolist() == [b"ok"]
        np.testing.assert_allclose(values[0], FEATURES[name].compute(wave), rtol=1e-5, atol=1e-5)
    with h5py.File(cache) as file:
        np.testing.assert_allclose(file["clips/duration"][0], 3.0, atol=1e-3)


def test_a_cache_with_layers_keeps_its_clip_status(tmp_path):
    data = write_dataset(tmp_path / "data", speakers=1, per_cell=2)
    ids = sorted(p.name for p in data.glob("*.wav"))
    cache = write_probe_cache(tmp_path / "c.h5", {0: np.zeros((4, 2))}, ["a"] * 4, status=["ok", "failed", "ok", "ok"])
    with h5py.File(cache, "r+") as file:
        del file["clips/id"]
        file.create_dataset("clips/id", data=ids, dtype=h5py.string_dtype())
        file.attrs["data"] = str(data)
        file.attrs["columns"] = json.dumps({"path": None, "label": None, "group": None, "split": None})
    compute_features(cache, ("mfcc",), progress=False)
    values, status = _read(cache, "mfcc")
    with h5py.File(cache) as file:
        assert file["clips/status"][()].tolist() == [b"ok", b"failed", b"ok", b"ok"]
    assert (status == b"ok").all() and np.isfinite(values).all()


def test_other_parameters_are_refused_unless_overwrite(tmp_path):
    cache = features_only_cache(write_dataset(tmp_path / "data", speakers=1), tmp_path / "cache.h5")
    compute_features(cache, ("mfcc",), progress=False)
    params = {**FEATURES["mfcc"].params, "n_mfcc": 13}
    with pytest.raises(UserError, match="use --overwrite"):
        FeatureWriter(cache, "mfcc", 78, params)
    with FeatureWriter(cache, "mfcc", 78, params, overwrite=True) as writer:
        assert len(writer.pending()) == 8
    with pytest.raises(UserError, match="n_mfcc"):
        compute_features(cache, ("mfcc",), progress=False)


def test_unknown_feature_is_a_user_error(tmp_path):
    cache = features_only_cache(write_dataset(tmp_path / "data", speakers=1), tmp_path / "cache.h5")
    with pytest.raises(UserError, match="unknown feature 'mel'"):
        compute_features(cache, ("mel",), progress=False)


SLOW_RUN = """
import sys, time
from layerprobe.baselines import compute, features
from layerprobe.data.feature_writer import FeatureWriter

slow = features.FEATURES["mfcc"]
compute.FEATURES = {"mfcc": features.Feature("mfcc", lambda w: (time.sleep(0.02), slow.compute(w))[1], slow.dim,
                                             slow.params)}
compute.ROWS_PER_WRITE = 2
original = FeatureWriter.write_ok
def write_ok(self, rows, values, durations=None):
    original(self, rows, values, durations)
    print("wrote", flush=True)
FeatureWriter.write_ok = write_ok
compute.compute_features(sys.argv[1], ("mfcc",), progress=False)
"""


def test_resume_after_kill_equals_an_uninterrupted_run(tmp_path):
    data = write_dataset(tmp_path / "data", speakers=3, labels=2, per_cell=8)
    killed = features_only_cache(data, tmp_path / "killed.h5")
    whole = features_only_cache(data, tmp_path / "whole.h5")
    child = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(killed)], stdout=subprocess.PIPE, text=True)
    for _ in range(3):  # three batches of two rows are stored, the run is mid-way
        assert child.stdout.readline().strip() == "wrote"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    values, status = _read(killed, "mfcc")
    done = int((status == b"ok").sum())
    assert 6 <= done < 48
    summary = compute_features(killed, ("mfcc",), progress=False)
    assert summary.skipped["mfcc"] == done and summary.computed["mfcc"] == 48 - done
    compute_features(whole, ("mfcc",), progress=False)
    resumed, status = _read(killed, "mfcc")
    assert (status == b"ok").all()
    np.testing.assert_array_equal(resumed, _read(whole, "mfcc")[0])
    with h5py.File(killed) as a, h5py.File(whole) as b:
        np.testing.assert_array_equal(a["clips/status"][()], b["clips/status"][()])


POOLED_RUN = """
import sys, time
from layerprobe.baselines import compute, feature_pool
from layerprobe.data.feature_writer import FeatureWriter

feature_pool.CHUNK = 2
compute.ROWS_PER_WRITE = 2
original = FeatureWriter.write_ok
def write_ok(self, rows, values, durations=None):
    original(self, rows, values, durations)
    print("wrote", flush=True)
    time.sleep(0.05)
FeatureWriter.write_ok = write_ok
compute.compute_features(sys.argv[1], ("mfcc",), progress=False, n_jobs=2)
"""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")
def test_a_pooled_run_killed_leaves_no_worker_and_resumes_to_the_same_values(tmp_path):
    data = write_dataset(tmp_path / "data", speakers=3, labels=2, per_cell=8)
    killed = features_only_cache(data, tmp_path / "killed.h5")
    whole = features_only_cache(data, tmp_path / "whole.h5")
    child = subprocess.Popen([sys.executable, "-c", POOLED_RUN, str(killed)], stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        assert child.stdout.readline().strip() == "wrote"
    workers = _children(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert len(workers) >= 2  # the spawned workers (and multiprocessing's resource tracker)
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers))
    done = int((_read(killed, "mfcc")[1] == b"ok").sum())
    assert 6 <= done < 48
    summary = compute_features(killed, ("mfcc",), progress=False, n_jobs=1)
    assert summary.skipped["mfcc"] == done and summary.computed["mfcc"] == 48 - done
    compute_features(whole, ("mfcc",), progress=False, n_jobs=1)
    np.testing.assert_array_equal(_read(killed, "mfcc")[0], _read(whole, "mfcc")[0])
