"""No lock file or temporary file outlives its writer: a finished writer removes its own, and the next
run removes what a killed one left, never a user's file nor a live writer's."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from layerprobe.atomic_write import write_text_atomic
from layerprobe.data.cache import CacheWriter, Settings, open_cache
from layerprobe.data.feature_writer import FeatureWriter
from layerprobe.errors import UserError


def clips(count):
    return [SimpleNamespace(id=f"c{i}", path=f"c{i}.wav", label="ab"[i % 2], group="g", split="") for i in range(count)]


def settings(**changes):
    base = dict(model="m", model_revision="", model_fingerprint="abc", model_type="wav2vec2", sample_rate=16000,
                layers=(0,), hidden_size=2, dtype="float32", chunk_seconds=30.0, pad_short=False)
    return Settings(**{**base, **changes})


def test_finished_and_refused_writers_leave_no_lock_file(tmp_path):
    path = tmp_path / "c.h5"
    with CacheWriter(path, clips(3), settings()) as cache:
        assert (tmp_path / "c.h5.lock").exists()  # held while writing
        cache.write_ok(np.arange(3), {"mean": np.ones((3, 1, 2), np.float32)}, np.ones(3))
    with CacheWriter(path, clips(4), settings()):  # resuming opens the cache: its own lock is not stale
        open_cache(path).close()
        assert (tmp_path / "c.h5.lock").exists()
    with FeatureWriter(path, "mfcc", 2, {"n": 1}):
        pass
    with pytest.raises(UserError, match="other settings"):
        CacheWriter(path, clips(3), settings(model_fingerprint="other"))
    assert sorted(os.listdir(tmp_path)) == ["c.h5", "c.h5.parts"]


# Holds the cache's writer lock and is half-way through an atomic write, then waits to be killed.
KILLED_WRITER = """
import sys, time
from pathlib import Path
from layerprobe.atomic_write import atomic_path
from layerprobe.data.durable import WriterLock
held = WriterLock(Path(sys.argv[1]))
with atomic_path(Path(sys.argv[2])) as temporary:
    temporary.write_text('{"half": ')
    print("ready", flush=True)
    time.sleep(60)
"""


def killed_writer(cache, result):
    """A writer killed with SIGKILL while it held the lock of `cache` and wrote `result`; returns its pid."""
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(cache), str(result)],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    writer.kill()
    writer.wait(timeout=10)
    return writer.pid


def test_a_killed_writers_lock_and_temporary_are_removed_by_the_next_run(tmp_path):
    path = tmp_path / "c.h5"
    CacheWriter(path, clips(3), settings()).close()
    pid = killed_writer(path, tmp_path / "results.json")
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
    litter = {"c.h5.lock", f".results.json.{host}-{pid}.tmp.json"}
    # not our pattern, another suffix, a live process, or another machine's process (its id says nothing here)
    users = {".results.json.tmp.json", f".results.json.{host}-{pid}.tmp.csv", f".notes.{pid}.txt",
             "results.json.1.tmp.json", f".results.json.{host}-{os.getppid()}.tmp.json",
             f".results.json.{host}x-{pid}.tmp.json"}
    for name in users:
        (tmp_path / name).write_text("mine")
    assert litter <= set(os.listdir(tmp_path))

    open_cache(path).close()  # a reader: the stale lock goes
    assert not (tmp_path / "c.h5.lock").exists()
    write_text_atomic(tmp_path / "report.md", "# report")  # any result written there: the temporary goes
    assert sorted(os.listdir(tmp_path)) == sorted({"c.h5", "c.h5.parts", "report.md", *users})


def test_a_live_writers_lock_stays_and_still_excludes(tmp_path):
    path = tmp_path / "c.h5"
    CacheWriter(path, clips(3), settings()).close()
    holder = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(tmp_path / "r.json")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        open_cache(path).close()
        write_text_atomic(tmp_path / "other.json", "{}")
        host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
        assert {"c.h5.lock", f".r.json.{host}-{holder.pid}.tmp.json"} <= set(os.listdir(tmp_path))
        with pytest.raises(UserError, match="being written by another process"):
            CacheWriter(path, clips(3), settings())
    finally:
        holder.kill()
        holder.wait(timeout=10)
    CacheWriter(path, clips(4), settings()).close()  # its lock was the dead holder's file
    assert not (tmp_path / "c.h5.lock").exists()


def test_a_users_file_in_the_parts_folder_survives_the_cache_growing(tmp_path):
    path = tmp_path / "c.h5"
    CacheWriter(path, clips(3), settings()).close()
    (tmp_path / "c.h5.parts" / "notes.txt").write_text("mine")
    (tmp_path / "c.h5.parts" / "part-000099.h5").write_text("a part no index lists: a killed writer's")
    CacheWriter(path, clips(5), settings()).close()  # a new part and index
    assert sorted(os.listdir(tmp_path / "c.h5.parts")) == ["notes.txt", "part-000000.h5", "part-000100.h5"]
