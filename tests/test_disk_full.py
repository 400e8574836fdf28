"""A full disk stops a run with one line and exit code 2, loses nothing and leaves no temporary file;
with space again the rerun completes and equals an uninterrupted run. Needs a small tmpfs (root)."""
from __future__ import annotations

import re

import h5py
import numpy as np
import pytest

from audio_files import write_tone
from conftest import fill_disk, mounted_tmpfs, run_extract
from layerprobe.atomic_write import write_text_atomic
from layerprobe.baselines.compute import compute_features
from layerprobe.data.parts import read_parts
from layerprobe.errors import UserError
from layerprobe.extract.cli import main as extract_main

FULL = "No space left on device"
PART = r"(\.parts/part-\d+\.h5)?"  # a cache grows by a new part file, which the line may name instead


def files(disk) -> list[str]:
    """The disk's files, and those in a cache's parts folder: the parts the cache lists, no temporary."""
    names = sorted(p.name for p in disk.iterdir())
    if (disk / "c.h5.parts").exists():
        with h5py.File(disk / "c.h5", "r") as f:
            listed = sorted(part.file for part in read_parts(f))
        assert sorted(p.name for p in (disk / "c.h5.parts").iterdir()) == listed
    return names


@pytest.fixture
def small_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path, "2m", "to fill")



def write_dataset(root, names) -> None:
    for number, name in enumerate(names):
        path = root / ("yes" if number % 2 else "no") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_tone(path, duration=1.0, frequency=200 + 60 * number)


def layers(cache) -> dict[int, np.ndarray]:
    """Every layer's rows, in the order of the clip ids (an extended cache appends its new clips)."""
    with h5py.File(cache, "r") as f:
        assert (f["clips/status"][()] == b"ok").all()
        order = np.argsort(f["clips/id"].asstr()[()])
        return {int(name): f[f"layers/{name}"][()][order] for name in f["layers"]}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_extending_a_cache_on_a_full_disk_stops_cleanly_and_the_rerun_completes(
        small_disk, tmp_path, group_norm_model, capsys):
    names = [f"clip{i}.wav" for i in range(8)]
    write_dataset(tmp_path / "all", names)
    write_dataset(tmp_path / "half", names[:4])  # the same ids for the first four clips
    options = dict(model=group_norm_model, device="cpu", progress=False)
    run_extract(str(tmp_path / "all"), str(tmp_path / "reference.h5"), **options)
    cache = small_disk / "c.h5"
    run_extract(str(tmp_path / "half"), str(cache), **options)
    before = layers(cache)
    fill_disk(small_disk, leave=8192)

    code = extract_main([str(tmp_path / "all"), "--out", str(cache), "--model", group_norm_model,
                         "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(f"error: cannot write {cache}{PART}: {FULL}", err) and "Traceback" not in err
    assert files(small_disk) == ["c.h5", "c.h5.parts", "filler"]
    for index, values in layers(cache).items():  # the finished rows are still there, still ok
        np.testing.assert_array_equal(values, before[index])

    (small_disk / "filler").unlink()
    run_extract(str(tmp_path / "all"), str(cache), **options)
    reference = layers(tmp_path / "reference.h5")
    for index, values in layers(cache).items():
        assert cosines(values, reference[index]).min() >= 0.99999


def test_a_new_cache_on_a_full_disk_is_refused_and_nothing_is_left_behind(small_disk, tmp_path, group_norm_model):
    write_dataset(tmp_path / "all", [f"clip{i}.wav" for i in range(4)])
    fill_disk(small_disk, leave=8192)
    with pytest.raises(UserError, match=f"cannot write {small_disk / 'c.h5'}{PART}: {FULL}"):
        run_extract(str(tmp_path / "all"), str(small_disk / "c.h5"), model=group_norm_model, device="cpu",
                progress=False)
    assert files(small_disk) == ["filler"]


def test_baseline_features_on_a_full_disk_stop_cleanly_and_the_rerun_completes(small_disk, tmp_path,
                                                                              group_norm_model):
    write_dataset(tmp_path / "all", [f"clip{i}.wav" for i in range(4)])
    cache = small_disk / "c.h5"
    run_extract(str(tmp_path / "all"), str(cache), model=group_norm_model, device="cpu", progress=False)
    before = layers(cache)
    fill_disk(small_disk, leave=8192)
    with pytest.raises(UserError, match=f"cannot write {cache}{PART}: {FULL}"):
        compute_features(cache, ("mfcc",), progress=False)
    assert files(small_disk) == ["c.h5", "c.h5.parts", "filler"]
    np.testing.assert_array_equal(layers(cache)[2], before[2])

    (small_disk / "filler").unlink()
    assert compute_features(cache, ("mfcc",), progress=False).computed["mfcc"] == 4
    with h5py.File(cache, "r") as f:
        assert (f["feature_status/mfcc"][()] == b"ok").all() and np.isfinite(f["features/mfcc"][()]).all()


def test_a_results_file_on_a_full_disk_keeps_the_previous_one(small_disk):
    results = small_disk / "probe_results.json"
    results.write_text('{"results": []}')
    fill_disk(small_disk, leave=0)
    with pytest.raises(UserError, match=f"cannot write {results}: {FULL}"):
        write_text_atomic(results, "x" * 100_000)
    assert results.read_text() == '{"results": []}'
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "probe_results.json"]


def test_a_failed_flush_marks_nothing_ok(tmp_path, group_norm_model, monkeypatch):
    """Where HDF5 can only report a write error when it flushes (a value written in place on a
    failing disk), the run stops with one line and the rows stay pending for the rerun."""
    write_dataset(tmp_path / "all", [f"clip{i}.wav" for i in range(4)])
    flush = h5py.File.flush

    def failing_flush(file):
        if "/c.h5.parts/part-" in file.filename:  # a live part, not a new file being built (hidden temporary)
            raise RuntimeError("Unable to synchronously flush file (file write failed: time = ..., "
                               "errno = 5, error message = 'Input/output error', buf = 0x0)")
        flush(file)
    monkeypatch.setattr(h5py.File, "flush", failing_flush)
    with pytest.raises(UserError, match=f"cannot write {tmp_path / 'c.h5'}: Input/output error$"):
        run_extract(str(tmp_path / "all"), str(tmp_path / "c.h5"), model=group_norm_model, device="cpu",
                progress=False)
    monkeypatch.setattr(h5py.File, "flush", flush)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert (f["clips/status"][()] == b"pending").all()
