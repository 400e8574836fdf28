"""A cache that grows without copying: per-row values live in part files, joined by virtual datasets.

CACHE.h5 is the index: the root attrs and one HDF5 virtual dataset per per-row dataset (clips/id,
clips/status, layers/07, pooled/std/07, features/mfcc, ...), mapping its rows onto the part files
in the folder CACHE.h5.parts/. Readers see the contract's names and shapes
(`h5py.File(cache)["layers/07"][()]`) and never the parts.

A part holds some datasets for a range of rows: appending clips adds a part with every dataset for
the new rows (their names and paths too); adding a pooling or a feature adds a part with only its
datasets for every row; a manifest that relabels stored clips adds a part with the clips' text
columns. Where parts overlap, the newer one holds a dataset's rows (a feature recomputed with
other parameters). Nothing already stored is copied: a structural change writes the new part,
then a new index, whose size grows with the number of parts, not of clips.

Why it survives `kill -9` at any moment: a part is built whole in a temporary file (its storage
allocated and reserved, its statuses "pending") and renamed into the folder; only then is the new
index, naming it, renamed over CACHE.h5. Until that rename the old index is the cache and the new
part an unlisted file, removed by the next writer. During a run only values are written in place,
into contiguous storage allocated when the part was made, so no HDF5 metadata changes in a live
file; a row's values are flushed before its status says "ok".
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from layerprobe.data.durable import METADATA_BYTES, contiguous, replacing, reserve

FOLDER_SUFFIX = ".parts"
PART_NAME = re.compile(r"part-([0-9]+)\.h5")  # whole names only (fullmatch): no trailing newline
TEXT_COLUMNS = ("id", "path", "label", "group", "split")
# clips/ datasets that are computed per clip; every other one is a text column from a manifest.
COMPUTED_CLIP_COLUMNS = ("duration", "status", "error")
# The parts list is an attr of /clips, not of the root: the root attrs say how rows were computed
# (a later stage keys its results on them), and adding a feature changes no row a probe reads.
PARTS_ATTR = "parts"
# What binds an index to its parts: an id made with the cache, in the index's /clips attrs and in
# every part's root attrs. A renamed or copied cache keeps it; parts of another cache do not
# have it. Caches made before it have it on neither side.
ID_ATTR = "cache_id"


def parts_folder(cache: Path) -> Path:
    """Where the parts of `cache` live: beside it, named after it (a.h5 -> a.h5.parts)."""
    return cache.with_name(cache.name + FOLDER_SUFFIX)


@dataclass(frozen=True)
class Part:
    """One part file: rows [start, stop) of `datasets`."""

    file: str
    start: int
    stop: int
    datasets: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"file": self.file, "start": self.start, "stop": self.stop, "datasets": list(self.datasets)}

    @classmethod
    def from_dict(cls, record: Mapping) -> Part:
        return cls(record["file"], int(record["start"]), int(record["stop"]), tuple(record["datasets"]))


@dataclass(frozen=True)
class Column:
    """A per-row dataset: its name, the shape of one row, its dtype and attrs."""

    name: str
    row_shape: tuple[int, ...]
    dtype: np.dtype
    attrs: Mapping = ()

    @classmethod
    def of(cls, dataset: h5py.Dataset) -> Column:
        return cls(dataset.name.lstrip("/"), tuple(dataset.shape[1:]), dataset.dtype, dict(dataset.attrs))


def read_parts(index: h5py.File) -> list[Part] | None:
    """The parts an index lists, oldest first; None for a cache written whole in one file."""
    listed = index["clips"].attrs.get(PARTS_ATTR)
    return None if listed is None else [Part.from_dict(record) for record in json.loads(listed)]


def row_columns(file: h5py.File) -> list[Column]:
    """Every per-row dataset of a cache (index or whole file)."""
    found: list[Column] = []
    file.visititems(lambda name, item: found.append(Column.of(item)) if isinstance(item, h5py.Dataset) else None)
    return found


def text_columns(names: Iterable[str] = TEXT_COLUMNS) -> list[Column]:
    """The clips' text columns (clips/id, ...) as per-row datasets of variable-length strings."""
    return [Column(f"clips/{name}", (), h5py.string_dtype()) for name in names]


def stored_text_names(index: h5py.File) -> list[str]:
    """The clips' text columns a cache holds: the contract's, then those a manifest added (clips/fold)."""
    reserved = TEXT_COLUMNS + COMPUTED_CLIP_COLUMNS
    others = [name for name, item in index["clips"].items() if name not in reserved
              and isinstance(item, h5py.Dataset) and h5py.check_string_dtype(item.dtype) is not None]
    return [*TEXT_COLUMNS, *sorted(others)]


def segments(parts: Iterable[Part], name: str, rows: int) -> list[tuple[int, int, Part]]:
    """Which part holds which rows of dataset `name`: (start, stop, part) runs covering [0, rows),
    the newest part winning where parts overlap."""
    parts = list(parts)
    if rows == 0:
        return []
    owner = np.full(rows, -1)
    for number, part in enumerate(parts):
        if name in part.datasets:
            owner[part.start:part.stop] = number
    if (owner < 0).any():
        raise ValueError(f"no part holds rows {np.flatnonzero(owner < 0)[:5].tolist()} of {name}")
    edges = np.flatnonzero(np.diff(owner)) + 1
    starts, stops = np.r_[0, edges], np.r_[edges, rows]
    return [(int(a), int(b), parts[owner[a]]) for a, b in zip(starts, stops)]


def next_part_name(folder: Path) -> str:
    """A name no file in the folder has had yet (past every listed or leftover part)."""
    numbers = [int(m.group(1)) for m in map(PART_NAME.fullmatch, os.listdir(folder)) if m] if folder.exists() else []
    return f"part-{max(numbers, default=-1) + 1:06d}.h5"


def initial_value(name: str):
    """What a dataset's rows hold before they are computed: statuses pending, errors empty,
    durations NaN; None where the values stay unwritten (embeddings: their status guards them)."""
    last = name.split("/")[-1]
    if name == "clips/status" or name.startswith("feature_status/") or (name.startswith("pooled/") and last == "status"):
        return b"pending"
    if name == "clips/error" or name.startswith("feature_error/"):
        return b""
    if name == "clips/duration":
        return np.nan
    return None


def stored_id(path: Path) -> str | None:
    """The id of the cache whose index is at `path`: its own, or where an older version rewrote the
    index without it, the one every part carries (part_ids), which its next index carries again;
    None for a cache made before ids (or grown by such a version: some parts carry none)."""
    with h5py.File(path, "r", locking=False) as index:
        found = index["clips"].attrs.get(ID_ATTR)
        parts = read_parts(index) or []
    if found is not None or not parts:
        return found
    ids = part_ids(path, parts)
    return next(iter(ids)) if len(ids) == 1 and isinstance(next(iter(ids)), str) else None


def part_ids(path: Path, parts: Iterable[Part]) -> set:
    """The ids the listed parts of the cache at `path` carry (None for a part without one; a missing
    or unreadable part is the layout check's to name)."""
    found = set()
    for part in parts:
        try:
            with h5py.File(parts_folder(path) / part.file, "r", locking=False) as file:
                found.add(file.attrs.get(ID_ATTR))
        except OSError:
            continue
    return found


def write_index(file: h5py.File, parts: list[Part], rows: int, folder_name: str, part_files: Mapping[str, Path],
                cache_id: str | None) -> None:
    """Add to a new index `file` one virtual dataset per per-row dataset of `parts`, the parts list
    and the cache's id.

    folder_name: the parts folder as the virtual datasets name it (relative to the index's folder,
    or absolute). part_files: each part's file, to read its datasets' dtype, row shape and attrs
    (a dataset takes the attrs of the newest part holding it).
    """
    columns: dict[str, Column] = {}
    for part in parts:
        with h5py.File(part_files[part.file], "r", locking=False) as source:
            columns.update({name: Column.of(source[name]) for name in part.datasets})
    for name, column in columns.items():
        layout = h5py.VirtualLayout(shape=(rows, *column.row_shape), dtype=column.dtype)
        for start, stop, part in segments(parts, name, rows):
            # HDF5 reads a source file name as a printf-like pattern: a literal % is written %%.
            source = h5py.VirtualSource(f"{folder_name}/{part.file}".replace("%", "%%"), name,
                                        shape=(part.stop - part.start, *column.row_shape), dtype=column.dtype)
            layout[start:stop] = source[start - part.start:stop - part.start]
        # A missing part reads as NaN, never as zeros that look like values.
        fill = np.nan if column.dtype.kind == "f" else None
        dataset = file.create_virtual_dataset(name, layout, fillvalue=fill)
        dataset.attrs.update(column.attrs)
    file["clips"].attrs[PARTS_ATTR] = json.dumps([part.to_dict() for part in parts])
    if cache_id is not None:
        file["clips"].attrs[ID_ATTR] = cache_id


def relinked_index(path: Path, index: h5py.File) -> h5py.File:
    """The index of a cache renamed or copied with its parts folder (whose virtual datasets still
    name the folder it had), reading the parts in the folder beside `path`: the index a writer
    would write now, held in memory, its parts named by absolute path. The file on disk is not
    changed (a reader may not write there); the next writer puts such an index in place."""
    folder = parts_folder(path).absolute()
    parts = read_parts(index)
    # The core driver with no backing store never opens a file of that name: the name is a label,
    # one of its own, since HDF5 refuses two such files of one name open at once.
    relinked = h5py.File(f"{path}.relinked-{uuid.uuid4().hex}", "w", driver="core", backing_store=False)
    relinked.attrs.update(index.attrs)
    write_index(relinked, parts, len(index["clips/status"]), os.fspath(folder),
                {part.file: folder / part.file for part in parts}, index["clips"].attrs.get(ID_ATTR))
    return relinked


def is_relinked(index: h5py.File) -> bool:
    """Whether `index` is relinked_index's, not the file on disk."""
    return index.driver == "core"


def unlisted_files(folder: Path, parts: Iterable[Part]) -> list[Path]:
    """Part files in the parts folder that the index does not list: parts of a run killed before
    its index was in place, or of an index since replaced. Only the writer (holding the lock)
    removes them; a file not named as a part is not ours to remove (a killed writer's temporary
    goes with atomic_write.remove_litter)."""
    if not folder.exists():
        return []
    listed = {part.file for part in parts}
    return [folder / name for name in sorted(os.listdir(folder)) if PART_NAME.fullmatch(name) and name not in listed]


def commit(path: Path, attrs: Mapping, table: dict[str, list[str]], parts: list[Part] | None,
           new: Sequence[tuple[Sequence[Column], int, int]]) -> list[Part]:
    """Grow the cache at `path`: make the parts `new` (columns, start row, stop row), then put in
    place an index of `attrs` and every part; returns the parts it lists. `table` is the clips'
    text columns after the change (its rows are the cache's), read for the text of new parts.

    parts: those the cache lists now ([] for a new cache, which gets a new id; None for a whole-file
    cache, which becomes its own first part by a hard link, not a copy). Nothing stored is
    rewritten. On any error the new parts are removed and the cache is as it was.
    """
    cache_id = uuid.uuid4().hex if parts == [] else stored_id(path)
    folder = parts_folder(path)
    made_folder = not folder.exists()
    folder.mkdir(exist_ok=True)
    made: list[Part] = []  # the files this call adds, removed again on any error
    try:
        if parts is None:
            made.append(_adopt(path, folder, len(table["id"])))
        for columns, start, stop in new:
            made.append(_make_part(folder, columns, start, stop, table, cache_id))
        listed = [*(parts or []), *made]
        needed = METADATA_BYTES + 256 * len(listed) * max(len(part.datasets) for part in listed)
        with replacing(path, needed) as temporary, h5py.File(temporary, "w") as index:
            index.attrs.update(attrs)
            write_index(index, listed, len(table["id"]), folder.name, {part.file: folder / part.file for part in listed},
                        cache_id)
    except BaseException:
        for part in made:
            (folder / part.file).unlink(missing_ok=True)
        if made_folder:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    for leftover in unlisted_files(folder, listed):
        leftover.unlink()
    return listed


def _adopt(path: Path, folder: Path, rows: int) -> Part:
    """A cache written whole in one file becomes the first part of the index that replaces it:
    a second name (hard link) for the same bytes, so nothing is copied."""
    name = next_part_name(folder)
    os.link(path, folder / name)
    with h5py.File(folder / name, "r") as whole:
        return Part(name, 0, rows, tuple(column.name for column in row_columns(whole)))


def _make_part(folder: Path, columns: Sequence[Column], start: int, stop: int, table: dict[str, list[str]],
               cache_id: str | None) -> Part:
    """A new part file for rows [start, stop) of `columns`, storage reserved, every row at its
    initial value (text columns: their rows of `table`), renamed into the folder once whole."""
    name = next_part_name(folder)
    rows = stop - start
    text = {f"clips/{name}": values[start:stop] for name, values in table.items()
            if f"clips/{name}" in {column.name for column in columns}}
    needed = sum(column.dtype.itemsize * int(np.prod(column.row_shape)) for column in columns) * rows \
        + sum(len(value.encode()) + 32 for values in text.values() for value in values) + METADATA_BYTES
    with replacing(folder / name, needed) as temporary, h5py.File(temporary, "w") as part:
        if cache_id is not None:
            part.attrs[ID_ATTR] = cache_id
        datasets = [part.create_dataset(column.name, data=text[column.name], dtype=column.dtype)
                    if column.name in text else contiguous(part, column.name, (rows, *column.row_shape), column.dtype)
                    for column in columns]
        for dataset, column in zip(datasets, columns):
            dataset.attrs.update(column.attrs)
        reserve(part, temporary)
        for dataset, column in zip(datasets, columns):
            value = initial_value(column.name)
            if value is not None:
                dataset[...] = value
        part.flush()
    return Part(name, start, stop, tuple(column.name for column in columns))
