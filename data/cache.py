"""The HDF5 embedding cache, written crash-safely (DESIGN.md: "The cache contract").

Why it survives `kill -9` at any moment: every change to the file's structure (creating it,
adding clips, adding a dataset) is written to a temporary file that replaces the cache with an
atomic rename. During a run only raw values are written in place, into contiguous datasets whose
storage was allocated when the file was made, so no HDF5 metadata ever changes in the live file.
A row's values are flushed before its status says "ok"; a killed run leaves it "pending".
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock, Timeout

from layerprobe.errors import UserError

FORMAT = 1
TEXT_COLUMNS = ("id", "path", "label", "group", "split")
STATUS = h5py.string_dtype("ascii", 8)
ERROR = h5py.string_dtype("utf-8", 256)
ROWS_PER_COPY = 4096


@dataclass(frozen=True)
class Settings:
    """What makes rows of one cache comparable; a resumed run must match `compared` exactly."""

    model: str
    model_revision: str
    model_fingerprint: str
    model_type: str
    sample_rate: int
    layers: tuple[int, ...]
    hidden_size: int
    dtype: str
    chunk_seconds: float
    pad_short: bool
    pooling: str = "mean"
    data: str = ""  # where the audio came from, so later stages (baselines) can read it again
    columns: dict = field(default_factory=dict)  # the manifest column flags used for `data`
    group_column: str = ""  # where the groups came from ("" without groups)
    versions: dict = field(default_factory=dict)
    command: str = ""

    compared = ("model_fingerprint", "sample_rate", "pooling", "layers", "dtype", "chunk_seconds", "pad_short")

    def attrs(self) -> dict:
        return {
            "layerprobe_format": FORMAT,
            "model": self.model,
            "model_revision": self.model_revision,
            "model_fingerprint": self.model_fingerprint,
            "model_type": self.model_type,
            "sample_rate": self.sample_rate,
            "pooling": self.pooling,
            "layers": np.asarray(self.layers, dtype=np.int64),
            "hidden_size": self.hidden_size,
            "dtype": self.dtype,
            "chunk_seconds": self.chunk_seconds,
            "pad_short": self.pad_short,
            "data": self.data,
            "columns": json.dumps(self.columns, sort_keys=True),
            "group_column": self.group_column,
            "versions": json.dumps(self.versions, sort_keys=True),
            "command": self.command,
        }


def layer_name(index: int) -> str:
    """hidden_states index -> dataset path: 3 -> "layers/03"."""
    return f"layers/{index:02d}"


def _mismatches(settings: Settings, attrs: h5py.AttributeManager) -> list[str]:
    wanted = settings.attrs()
    found = []
    for key in Settings.compared:
        have = attrs.get(key)
        want = wanted[key]
        if have is None or not np.array_equal(np.asarray(have), np.asarray(want)):
            found.append(f"{key} {_show(have)} (this run: {_show(want)})")
    return found


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return ",".join(str(v) for v in value.tolist())
    return str(value.decode() if isinstance(value, bytes) else value)


def contiguous(group: h5py.Group, name: str, shape: tuple, dtype) -> h5py.Dataset:
    """A dataset whose storage exists from the start, so writing values never touches metadata."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return group.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl, track_times=False)


def encode_error(message: str) -> bytes:
    return message.encode("utf-8")[:ERROR.itemsize].decode("utf-8", "ignore").encode("utf-8")


def lock(path: Path) -> FileLock:
    """Hold the cache's writer lock (released by close, or by the process dying), or refuse."""
    held = FileLock(f"{path}.lock", timeout=0)
    try:
        held.acquire()
    except Timeout:
        raise UserError(f"{path} is being written by another process (its lock {held.lock_file} is held)") from None
    return held


def open_cache(path: Path) -> h5py.File:
    """An existing cache, read-only, or a UserError saying why it is not one."""
    try:
        file = h5py.File(path, "r")
    except FileNotFoundError:
        raise UserError(f"{path}: no such cache") from None
    except OSError as error:
        raise UserError(f"{path} exists but is not an HDF5 file; use another --out or --overwrite") from error
    if "layerprobe_format" not in file.attrs:
        file.close()
        raise UserError(f"{path} is not a layerprobe cache; use another --out or --overwrite")
    return file


class CacheWriter:
    """Exclusive writing access to one cache: create or resume, then write rows as clips finish.

    `clips` are the manifest's records (objects with id, path, label, group, split). Opening
    takes a lock (a second writer is refused), refuses a cache made with other `settings` unless
    `overwrite`, and appends manifest clips the cache does not hold yet.
    """

    def __init__(self, path: str | os.PathLike, clips: Sequence, settings: Settings, overwrite: bool = False):
        self.path = Path(path)
        self.settings = settings
        self._lock = lock(self.path)
        try:
            self.unlisted = self._prepare(clips, overwrite)
            self._file = h5py.File(self.path, "r+")
        except BaseException:
            self._lock.release()
            raise
        self.ids = self._file["clips/id"].asstr()[()]

    def _prepare(self, clips: Sequence, overwrite: bool) -> int:
        """Make the file on disk hold every manifest clip; return how many cached clips the manifest lacks."""
        table = {column: [getattr(c, column) for c in clips] for column in TEXT_COLUMNS}
        if overwrite or not self.path.exists():
            self._rewrite(table, source=None)
            return 0
        with open_cache(self.path) as existing:
            differences = _mismatches(self.settings, existing.attrs)
            if differences:
                raise UserError(
                    f"{self.path} was made with other settings: {'; '.join(differences)}; "
                    "use --overwrite to replace it or another --out"
                )
            cached = {column: existing[f"clips/{column}"].asstr()[()].tolist() for column in TEXT_COLUMNS}
        merged, unlisted = _merge(cached, table)
        if merged != cached:
            self._rewrite(merged, source=self.path)
        return unlisted

    def _rewrite(self, table: dict[str, list[str]], source: Path | None) -> None:
        """Write the whole file anew beside the cache, then atomically put it in place."""
        count = len(table["id"])
        temporary = self.path.with_name(self.path.name + ".tmp")
        old = h5py.File(source, "r") if source else None
        try:
            with h5py.File(temporary, "w") as new:
                new.attrs.update(old.attrs if old else self.settings.attrs())
                for column in TEXT_COLUMNS:
                    new.create_dataset(f"clips/{column}", data=table[column], dtype=h5py.string_dtype())
                contiguous(new, "clips/duration", (count,), np.float32)[...] = np.nan
                contiguous(new, "clips/status", (count,), STATUS)[...] = b"pending"
                contiguous(new, "clips/error", (count,), ERROR)[...] = b""
                for index in self.settings.layers:
                    contiguous(new, layer_name(index), (count, self.settings.hidden_size), np.float32)
                if old:
                    _copy_rows(old, new)
            os.replace(temporary, self.path)
        finally:
            if old:
                old.close()

    def pending(self) -> np.ndarray:
        """Rows not yet "ok" (pending, or failed and worth another try)."""
        return np.flatnonzero(self._file["clips/status"][()] != b"ok")

    def write_ok(self, rows: np.ndarray, pooled: np.ndarray, durations: np.ndarray) -> None:
        """Store finished clips: pooled is (rows, layers, hidden) in the order of settings.layers."""
        order = np.argsort(rows)
        rows = np.asarray(rows)[order]
        for position, index in enumerate(self.settings.layers):
            self._file[layer_name(index)][rows] = pooled[order, position]
        self._file["clips/duration"][rows] = np.asarray(durations, dtype=np.float32)[order]
        self._file["clips/error"][rows] = b""
        self._file.flush()
        self._file["clips/status"][rows] = b"ok"
        self._file.flush()

    def write_failed(self, row: int, message: str, duration: float) -> None:
        """Record why a clip could not be used; probes never read it."""
        self._file["clips/duration"][row] = duration
        self._file["clips/error"][row] = encode_error(message)
        self._file["clips/status"][row] = b"failed"
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        self._lock.release()

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _merge(cached: dict[str, list[str]], manifest: dict[str, list[str]]) -> tuple[dict[str, list[str]], int]:
    """Cached rows keep their place (and take the manifest's current metadata); new clips go after them."""
    merged = {column: list(values) for column, values in cached.items()}
    where = {clip_id: row for row, clip_id in enumerate(cached["id"])}
    for position, clip_id in enumerate(manifest["id"]):
        row = where.get(clip_id)
        if row is None:
            for column in TEXT_COLUMNS:
                merged[column].append(manifest[column][position])
        else:
            for column in TEXT_COLUMNS:
                merged[column][row] = manifest[column][position]
    return merged, len(set(cached["id"]) - set(manifest["id"]))


def _copy_rows(old: h5py.File, new: h5py.File) -> None:
    """Copy every per-clip value of the old file into the first rows of the new one."""
    for name in _row_datasets(old):
        source = old[name]
        if name in new:
            target = new[name]
        else:
            target = contiguous(new, name, (len(new["clips/id"]), *source.shape[1:]), source.dtype)
            if name.startswith("feature_status/"):
                target[len(source):] = b"pending"  # clips appended after the feature was computed
        target.attrs.update(source.attrs)
        for start in range(0, len(source), ROWS_PER_COPY):
            stop = min(start + ROWS_PER_COPY, len(source))
            target[start:stop] = source[start:stop]


def _row_datasets(file: h5py.File) -> Iterable[str]:
    names: list[str] = []
    file.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return [n for n in names if n.split("/")[-1] not in TEXT_COLUMNS or not n.startswith("clips/")]
