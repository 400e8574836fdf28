"""Inputs a hostile or unlucky user gives: symlink loops, forged headers, shifted CSV rows, caches of
another format. Each fails the clip or gives one line; none crashes or silently mislabels."""
from __future__ import annotations

import os
import re
import signal
import socket

import h5py
import numpy as np
import pytest

from audio_files import write_tone
from conftest import planted_data, run_extract, write_probe_cache
from layerprobe.data.audio import ClipError, decode, header_duration
from layerprobe.data.cache import open_cache
from layerprobe.data.clips import FileSource
from layerprobe.data.manifest import load_manifest
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError


def two_labels(root, per_label: int = 2):
    for label in ("a", "b"):
        for number in range(per_label):
            (root / label).mkdir(parents=True, exist_ok=True)
            write_tone(root / label / f"{number}.wav", duration=0.6, frequency=300 + 100 * number)


def test_a_symlink_loop_lists_every_clip_once_under_its_own_label(tmp_path):
    data = tmp_path / "data"
    two_labels(data)
    os.symlink("..", data / "a" / "loop")
    os.symlink("../b", data / "a" / "b_again")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_tone(outside / "x.wav", duration=0.6)
    os.symlink(outside, data / "a" / "external")
    os.symlink(".", outside / "self")  # a loop outside the dataset, reached through a followed link
    clips = load_manifest(data).clips
    assert sorted((c.id, c.label) for c in clips) == [
        ("a/0.wav", "a"), ("a/1.wav", "a"), ("a/external/x.wav", "a"), ("b/0.wav", "b"), ("b/1.wav", "b")]


def forged_rate(path, rate: int) -> None:
    """A good 16 kHz WAV whose header then claims another sample rate (and byte rate)."""
    write_tone(path, duration=1.0, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = rate.to_bytes(4, "little")
    data[28:32] = (rate * 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("rate", [1, 999, 1_000_000])
def test_a_header_with_an_implausible_rate_fails_the_clip(tmp_path, rate):
    forged_rate(tmp_path / "forged.wav", rate)
    with pytest.raises(ClipError, match=f"bad-rate: the header says {rate} Hz"):
        decode(FileSource(str(tmp_path / "forged.wav")), 16000)


def test_a_clip_longer_than_max_seconds_fails_before_it_is_decoded(tmp_path):
    write_tone(tmp_path / "long.wav", duration=3.0)
    with pytest.raises(ClipError, match="too-long"):
        decode(FileSource(str(tmp_path / "long.wav")), 16000, max_seconds=2.0)
    assert len(decode(FileSource(str(tmp_path / "long.wav")), 16000, max_seconds=3.0)) == 48000


def test_forged_and_overlong_clips_fail_and_the_run_goes_on(tmp_path, group_norm_model):
    data = tmp_path / "data"
    two_labels(data)
    forged_rate(data / "a" / "forged.wav", 1)
    write_tone(data / "b" / "long.wav", duration=3.0)
    summary = run_extract(str(data), str(tmp_path / "c.h5"), model=group_norm_model, device="cpu", max_seconds=2.0,
                      progress=False)
    assert summary.ok == 4 and summary.failed == {"bad-rate": 1, "too-long": 1}


def not_regular(folder):
    """Paths that are not regular files, each with the cause its clip must name."""
    os.mkfifo(folder / "fifo.wav")
    (folder / "dir.wav").mkdir()
    os.symlink("loop.wav", folder / "loop.wav")
    os.symlink("gone.wav", folder / "dangling.wav")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(folder / "socket.wav"))
    return listening, {
        "fifo.wav": "not a regular file: .*fifo.wav is a FIFO \\(named pipe\\)",
        "dir.wav": "not a regular file: .*dir.wav is a directory",
        "loop.wav": "symlink loop: .*loop.wav",
        "dangling.wav": "a symlink to a missing file: .*dangling.wav",
        "socket.wav": "not a regular file: .*socket.wav is a socket",
        "/dev/null": "not a regular file: /dev/null is a character device",
    }


@pytest.fixture
def alarm():
    """A test that would hang (a FIFO opened for reading waits for a writer) fails after 60 s instead."""
    def expired(*_):
        raise TimeoutError("hung: more than 60 s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_path_that_is_not_a_regular_file_fails_with_its_real_cause_before_it_is_opened(tmp_path, alarm):
    listening, causes = not_regular(tmp_path)
    with listening:
        for name, cause in causes.items():
            source = FileSource(str(tmp_path / name))
            assert np.isnan(header_duration(source))
            with pytest.raises(ClipError, match=f"^unreadable: {cause}$"):
                decode(source, 16000)


def test_a_fifo_device_or_socket_among_the_clips_fails_alone(tmp_path, group_norm_model, alarm):
    data = tmp_path / "data"
    two_labels(data)
    listening, causes = not_regular(data)
    rows = [f"{label}/{number}.wav,{label}" for label in "ab" for number in range(2)] + [f"{name},a" for name in causes]
    (data / "manifest.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    with listening:
        summary = run_extract(str(data), str(tmp_path / "c.h5"), model=group_norm_model, device="cpu", progress=False)
    assert summary.ok == 4 and summary.failed == {"unreadable": len(causes)}
    with h5py.File(tmp_path / "c.h5") as f:
        errors = dict(zip(f["clips/path"].asstr()[()], f["clips/error"].asstr()[()]))
    for name, cause in causes.items():
        assert re.fullmatch(f"unreadable: {cause}", errors[name])


def test_layers_0_alone_is_extracted(tmp_path, group_norm_model):
    data = tmp_path / "data"
    two_labels(data)
    summary = run_extract(str(data), str(tmp_path / "c.h5"), model=group_norm_model, device="cpu", layers=[0],
                      progress=False)
    assert summary.ok == 4
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert list(f["layers"]) == ["00"] and np.isfinite(f["layers/00"][()]).all()


@pytest.mark.parametrize("row, cells", [("wav/a.wav,happy, excited,spk0", 4), ("wav/a.wav,happy", 2)])
def test_a_row_with_more_or_fewer_cells_than_the_header_names_its_line(tmp_path, row, cells):
    (tmp_path / "manifest.csv").write_text(f"path,label,speaker\nwav/b.wav,sad,spk1\n{row}\n")
    with pytest.raises(UserError, match=f"manifest.csv line 3 has {cells} cells, its header 3"):
        load_manifest(tmp_path / "manifest.csv")


@pytest.mark.parametrize("found, message", [
    (0, "cache of format 0; this version reads format 1"),
    (99, "cache of format 99; this version reads format 1"),
    ("1", "attribute layerprobe_format is str '1'; expected the integer 1"),
])
def test_a_cache_of_another_format_is_refused(tmp_path, found, message):
    labels, groups, layers = planted_data()
    cache = write_probe_cache(tmp_path / "c.h5", layers, labels, groups)
    with h5py.File(cache, "a") as f:
        f.attrs["layerprobe_format"] = found
    for opening in (open_cache, CacheReader):
        with pytest.raises(UserError, match=message):
            opening(cache)


@pytest.mark.parametrize("clip_id, label", [("a\udcff.wav", "a"), ("b.wav", "x\0y")])
def test_a_clip_whose_text_hdf5_cannot_store_is_one_line(tmp_path, clip_id, label):
    from types import SimpleNamespace

    from layerprobe.data.cache import CacheWriter, Settings

    clip = SimpleNamespace(id=clip_id, path=clip_id, label=label, group="", split="")
    settings = Settings(model="m", model_revision="", model_fingerprint="f", model_type="wav2vec2", sample_rate=16000,
                        layers=(0,), hidden_size=2, dtype="float32", chunk_seconds=30.0, pad_short=False)
    with pytest.raises(UserError, match=f"clip {re.escape(ascii(clip_id))}: its (id|label) holds a NUL character or bytes that "
                                        "are not UTF-8; rename it or fix the manifest"):
        CacheWriter(tmp_path / "c.h5", [clip], settings)
    assert not (tmp_path / "c.h5").exists()


def test_a_nul_in_a_manifest_cell_names_its_line(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label\na.wav,x\nb.wav,y\0z\n")
    with pytest.raises(UserError, match="manifest.csv line 3 holds a NUL character; a manifest is text"):
        load_manifest(tmp_path / "manifest.csv")


def test_a_fold_column_of_numbers_is_one_line(tmp_path, capsys):
    from layerprobe.probes.cli import main as probe_main

    labels, groups, layers = planted_data()
    cache = write_probe_cache(tmp_path / "c.h5", layers, labels, groups)
    assert probe_main([str(cache), "--layers", "1", "--fold-column", "duration", "--quiet"]) == 2
    assert capsys.readouterr().err == "error: clips/duration holds numbers, not text; name a column of text\n"
