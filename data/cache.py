"""The HDF5 embedding cache, written crash-safely (DESIGN.md: "The cache contract").

Why it survives `kill -9` at any moment: every change to the file's structure (creating it,
adding clips, adding a dataset) is written to a temporary file that replaces the cache with an
atomic rename. During a run only raw values are written in place, into contiguous datasets whose
storage was allocated when the file was made, so no HDF5 metadata ever changes in the live file.
A row's values are flushed before its status says "ok"; a killed run leaves it "pending".

Why a full disk never leaves zeros marked "ok": the new file's blocks are reserved on disk
(posix_fallocate) before it replaces the cache, so writing values in place needs no new space;
and every flush is checked (h5py only prints errors raised when a dataset handle is garbage
collected), so any write error stops the run before a status says "ok".
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock, Timeout

from layerprobe.atomic_write import atomic_path, sync
from layerprobe.errors import UserError

FORMAT = 1
TEXT_COLUMNS = ("id", "path", "label", "group", "split")
STATUS = h5py.string_dtype("ascii", 8)
ERROR = h5py.string_dtype("utf-8", 256)
ROWS_PER_COPY = 4096
ROW_GROUPS = ("clips", "layers", "pooled", "features", "feature_status", "feature_error")  # one row per clip
METADATA_BYTES = 256 * 1024  # a generous bound on a cache's object headers, heaps and indexes
# HDF5 wraps the system's reason in a long message: "... errno = 28, error message = 'No space left on device', ..."
_HDF5_CAUSE = re.compile(r"error message = '([^']*)'")


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
    poolings: tuple[str, ...] = ("mean",)  # mean always, in layers/NN; the others in pooled/NAME/NN
    data: str = ""  # where the audio came from, so later stages (baselines) can read it again
    columns: dict = field(default_factory=dict)  # the manifest column flags used for `data`
    group_column: str = ""  # where the groups came from ("" without groups)
    versions: dict = field(default_factory=dict)
    command: str = ""

    # Not the poolings: one encoder pass gives them all, so a cache holds any set of them.
    compared = ("model_fingerprint", "sample_rate", "layers", "dtype", "chunk_seconds", "pad_short")

    def attrs(self) -> dict:
        return {
            "layerprobe_format": FORMAT,
            "model": self.model,
            "model_revision": self.model_revision,
            "model_fingerprint": self.model_fingerprint,
            "model_type": self.model_type,
            "sample_rate": self.sample_rate,
            "pooling": ",".join(self.poolings),
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


def layer_name(index: int, pooling: str = "mean") -> str:
    """hidden_states index -> dataset path: 3 -> "layers/03", or "pooled/std/03" for pooling std."""
    return f"layers/{index:02d}" if pooling == "mean" else f"pooled/{pooling}/{index:02d}"


def pooling_status_name(pooling: str) -> str:
    """Which rows of pooled/NAME/NN are written ("ok"), as clips/status says it for layers/NN."""
    return f"pooled/{pooling}/status"


def stored_poolings(attrs: h5py.AttributeManager) -> tuple[str, ...]:
    """The poolings a cache holds, from its `pooling` attr ("mean,std")."""
    return tuple(str(_show(attrs.get("pooling", "mean"))).split(","))


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


def storage_error(path: Path, error: Exception) -> UserError:
    """One line naming the file and the system's reason, from an h5py OSError or RuntimeError."""
    found = _HDF5_CAUSE.search(str(error))
    if found:
        cause = found.group(1)
    elif isinstance(error, OSError) and error.errno:
        cause = os.strerror(error.errno)
    else:
        cause = str(error).splitlines()[0]
    return UserError(f"cannot write {path}: {cause}")


@contextlib.contextmanager
def replacing(path: Path, needed: int) -> Iterator[Path]:
    """A temporary path for a new HDF5 file of about `needed` bytes that replaces `path` once
    complete; on any error the temporary is removed and a UserError names `path` and the cause.

    A disk without `needed` bytes free is refused before anything is written: while HDF5 builds a
    file's structure it cannot always report a full disk (h5py prints the error and may crash).
    """
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise UserError(f"cannot write {path}: No space left on device "
                        f"(it needs about {needed / 1e6:.2f} MB, {free / 1e6:.2f} MB are free)")
    with atomic_path(path) as temporary:
        try:
            yield temporary
        except (OSError, RuntimeError) as error:  # h5py raises RuntimeError when a flush fails
            raise storage_error(path, error) from None


def reserve(file: h5py.File, path: Path) -> None:
    """Once every dataset of a new file exists, allocate all its blocks on disk, before any value
    is written: from here on no write needs space. Without this the file is sparse, and on a full
    disk a value written later fails only when HDF5 flushes it, where h5py cannot always raise."""
    file.flush()  # sets the file's length to the end of its last dataset
    descriptor = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(descriptor, 0, os.fstat(descriptor).st_size)
    except OSError as error:
        # A file system that cannot reserve space (some network and copy-on-write ones) still gets
        # every flush checked; only a full disk is an error here.
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(descriptor)


def checked_flush(file: h5py.File, path: Path) -> None:
    """Flush `file` and sync it to the disk, so what was written is known to be there; a write
    error (full disk, quota, I/O) becomes a UserError naming `path`."""
    try:
        file.flush()
        sync(path)
    except (OSError, RuntimeError) as error:
        raise storage_error(path, error) from None


def checked_write(dataset: h5py.Dataset, rows, values, path: Path) -> None:
    """dataset[rows] = values; a write error becomes a UserError naming `path`."""
    try:
        dataset[rows] = values
    except (OSError, RuntimeError) as error:
        raise storage_error(path, error) from None


def encode_error(message: str) -> bytes:
    return message.encode("utf-8")[:ERROR.itemsize].decode("utf-8", "ignore").encode("utf-8")


def lock(path: Path) -> FileLock:
    """Hold the cache's writer lock (released by close, or by the process dying), or refuse."""
    held = FileLock(f"{path}.lock", timeout=0)
    try:
        held.acquire()
    except Timeout:
        raise UserError(f"{path} is being written by another process (its lock {held.lock_file} is held)") from None
    except OSError as error:  # a read-only or missing folder
        raise UserError(f"cannot write {held.lock_file}: {error.strerror or error}") from None
    return held


def open_for_writing(path: Path) -> h5py.File:
    """The cache opened to write values in place, or a UserError saying why it cannot be."""
    try:
        return h5py.File(path, "r+")
    except BlockingIOError:
        raise UserError(f"{path} is open in another process (HDF5 locks it while it is read); "
                        "close that process first") from None
    except OSError as error:
        raise storage_error(path, error) from None


def open_cache(path: Path) -> h5py.File:
    """An existing cache, read-only, or a UserError saying why it is not one."""
    try:
        file = h5py.File(path, "r")
    except FileNotFoundError:
        raise UserError(f"{path}: no such cache") from None
    except BlockingIOError:
        raise UserError(f"{path} is open for writing in another process; wait until it ends") from None
    except OSError as error:
        raise UserError(f"{path} exists but is not an HDF5 file; use another --out or --overwrite") from error
    if "layerprobe_format" not in file.attrs:
        file.close()
        raise UserError(f"{path} is not a layerprobe cache; use another --out or --overwrite")
    try:
        check_format(file, path)
        check_rows(file, path)
    except UserError:
        file.close()
        raise
    return file


def check_format(file: h5py.File, path: str | os.PathLike) -> None:
    """Refuse a cache written in another layout than the one this version reads and writes."""
    found = file.attrs.get("layerprobe_format")
    if not (isinstance(found, (int, np.integer)) and found == FORMAT):
        raise UserError(f"{path} is a layerprobe cache of format {_show(found)}; this version reads format {FORMAT}")


def check_rows(file: h5py.File, path: str | os.PathLike) -> None:
    """Every per-clip dataset has one row per clip: a shorter or longer one would misalign labels."""
    rows = len(file["clips/status"])
    names: list[str] = []
    file.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    for name in names:
        if name.split("/")[0] in ROW_GROUPS and len(file[name]) != rows:
            raise UserError(f"{path} is damaged: {name} has {len(file[name])} rows, clips/status {rows}")


class CacheWriter:
    """Exclusive writing access to one cache: create or resume, then write rows as clips finish.

    `clips` are the manifest's records (objects with id, path, label, group, split). Opening
    takes a lock (a second writer is refused), refuses a cache made with other `settings` unless
    `overwrite`, and appends manifest clips the cache does not hold yet. The cache's poolings
    become those it held and those of `settings`; a row is pending until every one is written.
    """

    def __init__(self, path: str | os.PathLike, clips: Sequence, settings: Settings, overwrite: bool = False):
        self.path = Path(path)
        self.settings = settings
        self._lock = lock(self.path)
        try:
            self.unlisted = self._prepare(clips, overwrite)
            self._file = open_for_writing(self.path)
        except BaseException:
            self._lock.release()
            raise
        self.ids = self._file["clips/id"].asstr()[()]
        # Handles held open for the whole run: a handle dropped after each write would flush when
        # garbage collected, where h5py only prints a write error instead of raising it.
        self._values = {name: [self._file[layer_name(index, name)] for index in self.settings.layers]
                        for name in self.settings.poolings}
        self._duration = self._file["clips/duration"]
        self._error = self._file["clips/error"]
        self._status = {name: self._file[self._status_name(name)] for name in self.settings.poolings}
        # This writer is the only one, so which rows are done is known without reading it again.
        self._done = {name: status[()] == b"ok" for name, status in self._status.items()}

    @staticmethod
    def _status_name(pooling: str) -> str:
        return "clips/status" if pooling == "mean" else pooling_status_name(pooling)

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
            held = stored_poolings(existing.attrs)
        poolings = held + tuple(name for name in self.settings.poolings if name not in held)
        self.settings = replace(self.settings, poolings=poolings)
        merged, unlisted = _merge(cached, table)
        if merged != cached or poolings != held:
            self._rewrite(merged, source=self.path)
        return unlisted

    def _rewrite(self, table: dict[str, list[str]], source: Path | None) -> None:
        """Write the whole file anew beside the cache, then atomically put it in place."""
        count = len(table["id"])
        old = h5py.File(source, "r") if source else None
        try:
            with replacing(self.path, self._bytes_needed(table, old)) as temporary, h5py.File(temporary, "w") as new:
                new.attrs.update(old.attrs if old else self.settings.attrs())
                new.attrs["pooling"] = self.settings.attrs()["pooling"]
                for column in TEXT_COLUMNS:
                    new.create_dataset(f"clips/{column}", data=table[column], dtype=h5py.string_dtype())
                duration = contiguous(new, "clips/duration", (count,), np.float32)
                status = contiguous(new, "clips/status", (count,), STATUS)
                error = contiguous(new, "clips/error", (count,), ERROR)
                statuses = [status]
                for name in self.settings.poolings:
                    for index in self.settings.layers:
                        contiguous(new, layer_name(index, name), (count, self.settings.hidden_size), np.float32)
                    if name != "mean" and self.settings.layers:
                        statuses.append(contiguous(new, pooling_status_name(name), (count,), STATUS))
                pairs = _add_row_datasets(old, new) if old else []
                reserve(new, temporary)
                duration[...] = np.nan
                for pending in statuses:
                    pending[...] = b"pending"
                error[...] = b""
                for source_rows, target in pairs:
                    _copy_values(source_rows, target)
                new.flush()
        finally:
            if old:
                old.close()

    def _bytes_needed(self, table: dict[str, list[str]], old: h5py.File | None) -> int:
        """About how large the rewritten file will be: its per-row datasets, strings and metadata."""
        poolings = len(self.settings.poolings)
        row_bytes = (self.settings.hidden_size * 4 * len(self.settings.layers) + STATUS.itemsize) * poolings \
            + 4 + ERROR.itemsize
        if old:
            row_bytes = max(row_bytes, sum(old[name].dtype.itemsize * int(np.prod(old[name].shape[1:]))
                                           for name in _row_datasets(old)))
        text_bytes = sum(len(value.encode()) + 32 for column in TEXT_COLUMNS for value in table[column])
        return len(table["id"]) * row_bytes + text_bytes + METADATA_BYTES

    def pending(self) -> np.ndarray:
        """Rows not yet "ok" for some pooling (pending, or failed and worth another try)."""
        return np.flatnonzero(~np.logical_and.reduce(list(self._done.values())))

    def write_ok(self, rows: np.ndarray, pooled: dict[str, np.ndarray], durations: np.ndarray) -> None:
        """Store finished clips: pooled maps each pooling to (rows, layers, hidden), layers in the
        order of settings.layers. A pooling a row already holds is left as it is."""
        order = np.argsort(rows)
        rows = np.asarray(rows)[order]
        missing = {name: ~done[rows] for name, done in self._done.items()}
        for name, layers in self._values.items():
            for position, layer in enumerate(layers):
                self._write(layer, rows[missing[name]], pooled[name][order[missing[name]], position])
        new = rows[missing["mean"]]
        self._write(self._duration, new, np.asarray(durations, dtype=np.float32)[order][missing["mean"]])
        self._write(self._error, new, b"")
        checked_flush(self._file, self.path)
        for name, status in self._status.items():
            self._write(status, rows[missing[name]], b"ok")
            self._done[name][rows[missing[name]]] = True
        checked_flush(self._file, self.path)

    def write_failed(self, row: int, message: str, duration: float) -> None:
        """Record why a clip could not be used; probes never read it. A clip already usable keeps
        its rows; only the poolings it lacked are marked failed."""
        if self._done["mean"][row]:
            for name, done in self._done.items():
                if not done[row]:
                    self._write(self._status[name], row, b"failed")
        else:
            self._write(self._duration, row, duration)
            self._write(self._error, row, encode_error(message))
            self._write(self._status["mean"], row, b"failed")
        checked_flush(self._file, self.path)

    def _write(self, dataset: h5py.Dataset, rows, values) -> None:
        if np.size(rows):
            checked_write(dataset, rows, values, self.path)

    def close(self) -> None:
        try:
            checked_flush(self._file, self.path)
        finally:
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


def _add_row_datasets(old: h5py.File, new: h5py.File) -> list[tuple[h5py.Dataset, h5py.Dataset]]:
    """Create in `new` every per-clip dataset of `old` that it lacks (attrs too); returns the
    (old, new) dataset pairs whose values _copy_values then copies into the first rows."""
    pairs = []
    for name in _row_datasets(old):
        source = old[name]
        if name in new:
            target = new[name]
        else:
            target = contiguous(new, name, (len(new["clips/id"]), *source.shape[1:]), source.dtype)
        target.attrs.update(source.attrs)
        pairs.append((source, target))
    return pairs


def _copy_values(source: h5py.Dataset, target: h5py.Dataset) -> None:
    if target.name.startswith("/feature_status/"):
        target[len(source):] = b"pending"  # clips appended after the feature was computed
    for start in range(0, len(source), ROWS_PER_COPY):
        stop = min(start + ROWS_PER_COPY, len(source))
        target[start:stop] = source[start:stop]


def _row_datasets(file: h5py.File) -> Iterable[str]:
    names: list[str] = []
    file.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return [n for n in names if n.split("/")[-1] not in TEXT_COLUMNS or not n.startswith("clips/")]
