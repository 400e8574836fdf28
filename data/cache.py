"""The HDF5 embedding cache (docs/design.md: "The cache contract"): settings, opening, the writer.

How it is stored, grows without copying and survives `kill -9`: data/parts.py (an index of
virtual datasets over part files). The rules every write follows (reserved storage, checked
flushes, atomic replacement, one writer): data/durable.py. A row's values are flushed before its
status says "ok"; a killed run leaves it "pending".
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from layerprobe.data.cache_layout import (ERROR, FORMAT, STATUS, Structure, check_layout, check_statuses, damaged,
                                          first_line, is_text, layer_name, pooling_status_name)
from layerprobe.data.columns import ColumnChoice
from layerprobe.data.durable import WriterLock, remove_stale_lock
from layerprobe.data.parts import (COMPUTED_CLIP_COLUMNS, TEXT_COLUMNS, Column, Part, commit, is_relinked, relinked_index,
                                   text_columns)
from layerprobe.data.row_store import RowStore
from layerprobe.errors import UserError


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
    columns: ColumnChoice = ColumnChoice()  # the manifest columns `data` was read with
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
            "columns": self.columns.to_attr(),
            "group_column": self.group_column,
            "versions": json.dumps(self.versions, sort_keys=True),
            "command": self.command,
        }


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


def encode_error(message: str) -> bytes:
    return message.encode("utf-8")[:ERROR.itemsize].decode("utf-8", "ignore").encode("utf-8")


def is_hdf5_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a regular file holding HDF5 (a cache, as opposed to DATA to read clips from)."""
    return Path(path).is_file() and h5py.is_hdf5(path)


def open_cache(path: str | os.PathLike) -> h5py.File:
    """An existing cache, read-only, checked against the contract (cache_layout.check_layout), or
    a UserError saying why it is not one. A lock file left by a killed writer is removed. A cache
    renamed or copied with its parts folder reads the parts beside it (parts.relinked_index)."""
    remove_stale_lock(Path(path))
    try:
        # Without HDF5's file lock, as the writer opens its parts (durable.open_for_writing): HDF5
        # refuses a file open twice in one process with different locking, and a writer's own
        # stages open the cache while it writes.
        file = h5py.File(path, "r", locking=False)
    except FileNotFoundError:
        raise UserError(f"cache not found: {path}") from None
    except OSError as error:
        raise UserError(f"not an HDF5 file: {path} ({first_line(error)})") from None
    try:
        if "layerprobe_format" not in file.attrs:
            raise UserError(f"not a layerprobe cache (no layerprobe_format attribute): {path}")
        if check_layout(file, path):
            relinked = relinked_index(Path(path), file)
            file.close()
            file = relinked
        check_statuses(file, path)
    except (OSError, RuntimeError) as error:
        file.close()
        raise damaged(path, error) from None
    except BaseException:
        file.close()
        raise
    return file


class CacheWriter:
    """Exclusive writing access to one cache: create or resume, then write rows as clips finish.

    `clips` are the manifest's records (objects with id, path, label, group, split); `others` its
    further columns (name -> one value per clip, e.g. a fold column), stored as clips/NAME where the
    name is free (not a contract name, no "/"); a later manifest may add or change them. Opening
    takes a lock (a second writer is refused), refuses a cache made with other `settings` unless
    `overwrite`, and appends manifest clips the cache does not hold yet. The cache's poolings
    become those it held and those of `settings`; a row is pending until every one is written.
    Growing the cache (new clips, a new pooling) adds a part; nothing stored is copied (parts.py).
    """

    def __init__(self, path: str | os.PathLike, clips: Sequence, settings: Settings, overwrite: bool = False, *,
                 others: Mapping[str, Sequence[str]] | None = None):
        self.path = Path(path)
        self.settings = settings
        self._lock = WriterLock(self.path)
        try:
            self.unlisted, parts, ids = self._prepare(clips, storable(others or {}), overwrite)
            self._rows = RowStore(self.path, parts, len(ids))
        except BaseException:
            self._lock.release()
            raise
        self.ids = np.asarray(ids, dtype=object)
        # This writer is the only one, so which rows are done is known without reading it again.
        self._done = {name: self._rows.read(self._status_name(name)) == b"ok" for name in self.settings.poolings}

    @staticmethod
    def _status_name(pooling: str) -> str:
        return "clips/status" if pooling == "mean" else pooling_status_name(pooling)

    def _prepare(self, clips: Sequence, others: dict[str, list[str]], overwrite: bool
                 ) -> tuple[int, list[Part], list[str]]:
        """Make the cache on disk hold every manifest clip, column and pooling; return how many
        cached clips the manifest lacks, the cache's parts and its clip ids."""
        table = {column: [getattr(c, column) for c in clips] for column in TEXT_COLUMNS} | others
        _check_text(table)
        if overwrite or not self.path.exists():
            parts = commit(self.path, self.settings.attrs(), table, [],
                           [(text_columns(table) + self._columns(), 0, len(table["id"]))])
            return 0, parts, table["id"]
        with open_cache(self.path) as existing:
            differences = _mismatches(self.settings, existing.attrs)
            if differences:
                raise UserError(
                    f"{self.path} was made with other settings: {'; '.join(differences)}; "
                    "use --overwrite to replace it or another --out"
                )
            cache = Structure.of(existing, self.path)
            relinked = is_relinked(existing)
        held = stored_poolings(cache.attrs)
        self.settings = replace(self.settings, poolings=held + tuple(p for p in self.settings.poolings if p not in held))
        merged, unlisted = _merge(cache.table, table)
        rows = len(merged["id"])
        stored = {column.name for column in cache.columns}
        relabelled = [name for name in cache.table if merged[name][:cache.rows] != cache.table[name]]
        added = text_columns([name for name in merged if name not in cache.table])  # a manifest's new column
        added += [column for column in self._columns() if column.name not in stored]  # a new pooling
        new = [(columns, start, stop) for columns, start, stop in (
            (cache.columns, cache.rows, rows),  # the appended clips
            (text_columns(relabelled), 0, cache.rows),  # stored clips whose label, group, fold, ... changed
            (added, 0, rows),
        ) if columns and stop > start]
        if new or cache.parts is None or relinked:  # a renamed cache's index is rewritten to name its folder
            attrs = {**cache.attrs, "pooling": ",".join(self.settings.poolings)}
            return unlisted, commit(self.path, attrs, merged, cache.parts, new), merged["id"]
        return unlisted, cache.parts, merged["id"]

    def _columns(self) -> list[Column]:
        """The per-row datasets these settings ask for."""
        columns = [Column("clips/duration", (), np.dtype(np.float32)), Column("clips/status", (), STATUS),
                   Column("clips/error", (), ERROR)]
        if not self.settings.layers:
            return columns
        for name in self.settings.poolings:
            columns += [Column(layer_name(index, name), (self.settings.hidden_size,), np.dtype(np.float32))
                        for index in self.settings.layers]
            if name != "mean":
                columns.append(Column(pooling_status_name(name), (), STATUS))
        return columns

    def pending(self) -> np.ndarray:
        """Rows not yet "ok" for some pooling (pending, or failed and worth another try)."""
        return np.flatnonzero(~np.logical_and.reduce(list(self._done.values())))

    def write_ok(self, rows: np.ndarray, pooled: dict[str, np.ndarray], durations: np.ndarray) -> None:
        """Store finished clips: pooled maps each pooling to (rows, layers, hidden), layers in the
        order of settings.layers. A pooling a row already holds is left as it is."""
        order = np.argsort(rows)
        rows = np.asarray(rows)[order]
        missing = {name: ~done[rows] for name, done in self._done.items()}
        for name in self.settings.poolings:
            for position, index in enumerate(self.settings.layers):
                self._write(layer_name(index, name), rows[missing[name]], pooled[name][order[missing[name]], position])
        new = rows[missing["mean"]]
        self._write("clips/duration", new, np.asarray(durations, dtype=np.float32)[order][missing["mean"]])
        self._write("clips/error", new, b"")
        self._rows.flush()
        for name in self.settings.poolings:
            self._write(self._status_name(name), rows[missing[name]], b"ok")
            self._done[name][rows[missing[name]]] = True
        self._rows.flush()

    def write_failed(self, row: int, message: str, duration: float) -> None:
        """Record why a clip could not be used; probes never read it. A clip already usable keeps
        its rows; only the poolings it lacked are marked failed."""
        if self._done["mean"][row]:
            for name, done in self._done.items():
                if not done[row]:
                    self._write(self._status_name(name), row, b"failed")
        else:
            self._write("clips/duration", row, duration)
            self._write("clips/error", row, encode_error(message))
            self._write("clips/status", row, b"failed")
        self._rows.flush()

    def _write(self, name: str, rows, values) -> None:
        if np.size(rows):
            self._rows.write(name, rows, values)

    def close(self) -> None:
        try:
            self._rows.close()
        finally:
            self._lock.release()

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_text(table: dict[str, list[str]]) -> None:
    """Refuse a clip whose id, path, label, group or split HDF5 cannot store: a NUL character, or
    bytes that are not UTF-8 (a file name Python keeps as surrogates)."""
    for column, values in table.items():
        for row, value in enumerate(values):
            if "\0" in value or not is_text(value):
                clip = ascii(table["id"][row])[:120]
                raise UserError(f"clip {clip}: its {column} holds a NUL character or bytes that are not UTF-8; "
                                "rename it or fix the manifest")


def storable(others: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The manifest columns that can be clips/NAME: not a name of the contract's own columns, and
    one HDF5 name (no "/")."""
    reserved = TEXT_COLUMNS + COMPUTED_CLIP_COLUMNS
    return {name: list(values) for name, values in others.items()
            if name and name not in reserved and "/" not in name and name != "."}


def _merge(cached: dict[str, list[str]], manifest: dict[str, list[str]]) -> tuple[dict[str, list[str]], int]:
    """Cached rows keep their place (and take the manifest's current metadata); new clips go after them.
    A column only the cache holds keeps its values ("" for new clips); one only the manifest holds
    is "" for the cached clips it does not list."""
    rows = len(cached["id"])
    merged = {column: list(cached.get(column, [""] * rows)) for column in {**cached, **manifest}}
    where = {clip_id: row for row, clip_id in enumerate(cached["id"])}
    for position, clip_id in enumerate(manifest["id"]):
        row = where.get(clip_id)
        if row is None:
            for column, values in merged.items():
                values.append(manifest[column][position] if column in manifest else "")
        else:
            for column, values in manifest.items():
                merged[column][row] = values[position]
    return merged, len(set(cached["id"]) - set(manifest["id"]))
