"""What a cache file must hold (docs/design.md: "The cache contract"), checked before any work.

open_cache (data/cache.py) runs check_layout on every cache it opens, for readers and writers
alike: each dataset's rank, dtype and row count, the root attrs' types, that nothing is read from
outside the cache and its parts folder (no external links, no external raw storage, no virtual
dataset but those over the listed parts, data/parts.py), that the parts carry the cache's id,
and that no dataset declares far more bytes than its file holds; then check_statuses. A violation
is one UserError naming the dataset and what was expected. The reader adds check_finite: the
embeddings and features of rows whose status is "ok" are finite, checked as each is read.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from layerprobe.data.parts import (ID_ATTR, PART_NAME, part_ids, TEXT_COLUMNS, Column, Part, parts_folder, read_parts, row_columns,
                                   segments, stored_text_names)
from layerprobe.errors import UserError

FORMAT = 1
STATUS = h5py.string_dtype("ascii", 8)
ERROR = h5py.string_dtype("utf-8", 256)
STATUSES = (b"ok", b"failed", b"pending")
ROW_GROUPS = ("clips", "layers", "pooled", "features", "feature_status", "feature_error")  # one row per clip
REQUIRED = (*(f"clips/{name}" for name in TEXT_COLUMNS), "clips/status")
_TWO_DIGITS = r"\d{2}"
_LAYER = re.compile(rf"^layers/{_TWO_DIGITS}$")
_POOLED_LAYER = re.compile(rf"^pooled/[^/]+/{_TWO_DIGITS}$")
_STATUS = re.compile(r"^(clips/status|pooled/[^/]+/status|feature_status/[^/]+)$")
_TEXT = re.compile(r"^(clips/(id|path|label|group|split|error)|feature_error/[^/]+)$")
_VALUES = re.compile(rf"^(layers/{_TWO_DIGITS}|pooled/[^/]+/{_TWO_DIGITS}|features/[^/]+)$")
_TEXT_ATTRS = ("model", "model_revision", "model_fingerprint", "model_type", "pooling", "dtype", "data", "columns",
               "group_column", "versions", "command")
_INTEGER_ATTRS = ("sample_rate", "hidden_size")
_SHOWN = 120  # characters of a name a message shows: a crafted name cannot make a long line
# A dataset may declare more bytes than its file holds only by this much (compression, unwritten
# rows): a few-KB file declaring gigabytes would make a reader allocate them.
_DECLARED_PER_STORED = 64
_DECLARED_FREE = 64 * 2**20


def layer_name(index: int, pooling: str = "mean") -> str:
    """hidden_states index -> dataset path: 3 -> "layers/03", or "pooled/std/03" for pooling std."""
    return f"layers/{index:02d}" if pooling == "mean" else f"pooled/{pooling}/{index:02d}"


def pooling_status_name(pooling: str) -> str:
    """Which rows of pooled/NAME/NN are written ("ok"), as clips/status says it for layers/NN."""
    return f"pooled/{pooling}/status"


def shown(name: str) -> str:
    """A dataset, attribute or file name as a message shows it: cut to a readable length."""
    return name if len(name) <= _SHOWN else f"{name[:_SHOWN]}..."


def check_format(file: h5py.File, path: str | os.PathLike) -> None:
    """Refuse a cache written in another layout than the one this version reads and writes."""
    found = file.attrs.get("layerprobe_format")
    if not isinstance(found, (int, np.integer)) or isinstance(found, (bool, np.bool_)):
        raise UserError(f"{path}: attribute layerprobe_format is {_kind(found)}; expected the integer {FORMAT}")
    if found != FORMAT:
        raise UserError(f"{path} is a layerprobe cache of format {found}; this version reads format {FORMAT}")


def check_layout(file: h5py.File, path: str | os.PathLike) -> bool:
    """Refuse, in one line naming the dataset or attribute, a cache that breaks the contract;
    returns whether its index reads its parts under another folder name than the one beside it
    (a cache renamed or copied with its folder, bound to it by its id): then the index must be
    relinked (parts.relinked_index) before any of its rows is read."""
    check_format(file, path)
    _check_attrs(file.attrs, path)
    datasets = _datasets(file, path)
    for name in REQUIRED:
        if name not in datasets:
            raise UserError(f"{path}: no dataset {name}; a cache holds {', '.join(REQUIRED)}")
    for name, dataset in datasets.items():
        _check_dataset(name, dataset, path)
    rows = len(datasets["clips/status"])
    for name, dataset in datasets.items():
        found = dataset.shape[0] if dataset.shape else "no"  # a scalar or empty dataset has no rows
        if name.split("/")[0] in ROW_GROUPS and found != rows:
            raise UserError(f"{path} is damaged: {shown(name)} has {found} rows, clips/status {rows}")
    for name in file.get("pooled", {}):
        if f"pooled/{name}/status" not in datasets:
            raise UserError(f"{path}: no dataset pooled/{shown(name)}/status; expected one beside its layers")
    parts = _listed_parts(file, path, rows)
    if parts is not None:
        _check_parts(parts, datasets, path, rows, _cache_id(file["clips"], path))
    read_from = _check_sources(datasets, parts, path)
    renamed = read_from is not None and read_from != parts_folder(Path(path)).name
    if renamed and _cache_id(file["clips"], path) is None:
        raise UserError(f"{path} reads its parts from {shown(read_from)}, not from {parts_folder(Path(path)).name} "
                        "beside it: it was renamed or copied, and it was made before a cache carried an id binding "
                        f"it to its parts; give it back its name (and its folder {shown(read_from)}) to read it")
    return renamed


def check_statuses(file: h5py.File, path: str | os.PathLike) -> None:
    """Refuse a status dataset holding anything but ok, failed or pending (its rows are read)."""
    for name, dataset in _datasets(file, path).items():
        if _STATUS.match(name):
            _check_statuses(name, dataset[()], path)


def check_finite(file: h5py.File, path: str | os.PathLike, name: str, values: np.ndarray, ok: np.ndarray) -> None:
    """Refuse NaN or infinity in `values`, the ok rows of dataset `name` as read (rows that their own
    status, for pooled/NAME/NN and features/NAME, marks unwritten aside). Checked as each dataset is
    read, not on open: on open it meant reading every layer of the cache once more, 11.7 times the
    read of the one layer `probe --layers N` needs (bench/cache_open.py, 10,000 clips)."""
    usable = _own_status(file, name)[ok]
    with np.errstate(over="ignore"):  # beyond float32 is infinite, and said so below
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1) & usable
    if bad.any():
        first = int(np.flatnonzero(ok)[np.argmax(bad)])
        raise UserError(f"{path}: {shown(name)} has NaN or infinity in {int(bad.sum())} of its "
                        f"{int(usable.sum())} ok rows (first: row {first}); expected finite values")


def damaged(path: str | os.PathLike, error: Exception) -> UserError:
    """One line naming a cache whose objects HDF5 cannot read, and HDF5's reason."""
    return UserError(f"{path} is damaged: {first_line(error)}")


def first_line(error: Exception) -> str:
    """An exception's message cut to one readable line."""
    text = str(error).strip()
    return shown(text.splitlines()[0]) if text else type(error).__name__


def read_text(dataset: h5py.Dataset, path: str | os.PathLike) -> np.ndarray:
    """Every row of a text dataset as str, or one line saying which dataset is not text."""
    try:
        return dataset.asstr()[()]
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: {shown(dataset.name.lstrip('/'))} holds bytes that are not "
                        f"{error.encoding} text (at byte {error.start} of a row)") from None


@dataclass(frozen=True)
class Structure:
    """What a cache holds, as its writers need it: root attrs, the clips' text columns (those a
    manifest added included), its parts
    (None for a cache written whole in one file, before parts) and its per-row datasets."""

    attrs: dict
    table: dict[str, list[str]]
    parts: list[Part] | None
    columns: list[Column]

    @classmethod
    def of(cls, file: h5py.File, path: str | os.PathLike | None = None) -> Structure:
        """The structure of a cache that check_layout accepted; `path` names it in messages (default:
        the file's name)."""
        table = {column: read_text(file[f"clips/{column}"], path or file.filename).tolist()
                 for column in stored_text_names(file)}
        return cls(dict(file.attrs), table, read_parts(file), row_columns(file))

    @property
    def rows(self) -> int:
        return len(self.table["id"])


def _own_status(file: h5py.File, name: str) -> np.ndarray:
    """Where the rows of `name` are written by its own status (all rows for layers/NN)."""
    group, rest = name.split("/", 1)
    status = {"pooled": f"pooled/{rest.split('/')[0]}/status", "features": f"feature_status/{rest}"}.get(group)
    if status is None or status not in file:
        return np.ones(len(file[name]), dtype=bool)
    return file[status][()] == b"ok"


def _kind(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} {value.shape}"
    plain = value.item() if isinstance(value, np.generic) else value
    return f"{type(value).__name__} {shown(repr(plain))}"


def _check_text_attrs(item: h5py.HLObject, path) -> None:
    """Attribute names and text values a writer can copy (h5py keeps bytes that are not UTF-8 as surrogates)."""
    for key, value in item.attrs.items():
        if not is_text(key) or (isinstance(value, str) and not is_text(value)):
            where = "" if item.name == "/" else f" of {shown(item.name.lstrip('/'))}"
            raise UserError(f"{path}: attribute {shown(repr(key))}{where} is not UTF-8 text")


def _check_attrs(attrs: h5py.AttributeManager, path) -> None:
    """The root attrs the cache's settings hold (cache.Settings.attrs) have their types."""
    for key, value in attrs.items():
        if key in _TEXT_ATTRS and not isinstance(value, (str, bytes)):
            expected = "text"
        elif key in _INTEGER_ATTRS and not (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))):
            expected = "an integer"
        elif key == "chunk_seconds" and not isinstance(value, (float, int, np.floating, np.integer)):
            expected = "a number"
        elif key == "pad_short" and not isinstance(value, (bool, np.bool_)):
            expected = "true or false"
        elif key == "layers" and not (isinstance(value, np.ndarray) and value.ndim == 1
                                      and (value.dtype.kind in "iu" or value.size == 0)):
            expected = "a 1-D array of integers"
        else:
            continue
        raise UserError(f"{path}: attribute {shown(key)} is {_kind(value)}; expected {expected}")


def is_text(value: str | bytes) -> bool:
    """Whether a name or value is UTF-8 (h5py and os.listdir keep other bytes as surrogates)."""
    try:
        value.decode("utf-8") if isinstance(value, bytes) else value.encode("utf-8")
    except UnicodeError:
        return False
    return True


def _datasets(file: h5py.File, path) -> dict[str, h5py.Dataset]:
    """Every dataset by name, refusing soft and external links (a link may lead out of the file),
    names that are not UTF-8 and attributes a writer could not copy."""
    found: dict[str, h5py.Dataset] = {}
    groups = [("", file)]
    try:
        file.visititems(lambda name, item: groups.append((name, item)) if isinstance(item, h5py.Group)
                        else found.__setitem__(name, item))
    except KeyError as error:  # h5py's error for an object whose header HDF5 cannot decode
        raise damaged(path, error) from None
    for name, item in (*groups, *found.items()):
        if not is_text(name):
            raise UserError(f"{path}: {shown(repr(name))} is not a UTF-8 name")
        _check_text_attrs(item, path)
    for name, group in groups:
        for key in group:
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                where = f"{name}/{key}".lstrip("/")
                raise UserError(f"{path}: {shown(where)} is a link ({type(link).__name__}); expected a dataset or "
                                "group stored in the cache")
    for name in ROW_GROUPS:
        if name in file and not isinstance(file[name], h5py.Group):
            raise UserError(f"{path}: {name} is a dataset; expected a group")
    for name in file.get("pooled", {}):
        if not isinstance(file["pooled"][name], h5py.Group):
            raise UserError(f"{path}: pooled/{shown(name)} is a dataset; expected a group of layers")
    return found


def _check_dataset(name: str, dataset: h5py.Dataset, path) -> None:
    if dataset.external:
        raise UserError(f"{path}: {shown(name)} is stored in an external file ({shown(dataset.external[0][0])}); "
                        "expected its values inside the cache")
    _check_declared_size(name, dataset, path)
    if _STATUS.match(name) or _TEXT.match(name):
        expected, rank, fits = "text", 1, h5py.check_string_dtype(dataset.dtype) is not None
    elif name == "clips/duration":
        expected, rank, fits = "float32 seconds", 1, dataset.dtype.kind == "f"
    elif _LAYER.match(name) or _POOLED_LAYER.match(name) or name.startswith("features/"):
        expected, rank, fits = "float32 values", 2, dataset.dtype.kind == "f"
    else:
        return  # extra datasets are welcome
    shape = dataset.shape
    if shape is None or len(shape) != rank or (rank == 2 and shape[1] == 0):
        what = "one per clip" if rank == 1 else "(clips, dims), dims >= 1"
        raise UserError(f"{path}: {shown(name)} has shape {shape}; expected {what}")
    if not fits:
        raise UserError(f"{path}: {shown(name)} holds {_dtype_name(dataset.dtype)}; expected {expected}")


def _check_declared_size(name: str, dataset: h5py.Dataset, path) -> None:
    """Refuse a dataset that declares far more bytes than its file holds, before any of it is read
    (a virtual dataset declares its parts' rows, each part checked in its own file)."""
    if dataset.is_virtual:
        return
    declared = dataset.size * dataset.dtype.itemsize
    stored = os.path.getsize(dataset.file.filename)
    if declared > max(_DECLARED_PER_STORED * stored, _DECLARED_FREE):
        raise UserError(f"{path}: {shown(name)} declares {_gib(declared)} ({_dtype_name(dataset.dtype)} "
                        f"{dataset.shape}) in a file of {_gib(stored)}; expected its values stored in the file")


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size} bytes"


def _dtype_name(dtype: np.dtype) -> str:
    return "text" if h5py.check_string_dtype(dtype) is not None else str(dtype)


def _check_statuses(name: str, values: np.ndarray, path) -> None:
    known = np.isin(values, STATUSES)
    if not known.all():
        first = values[np.argmin(known)]
        first = first.item() if isinstance(first, np.generic) else first
        raise UserError(f"{path}: {shown(name)} holds {shown(repr(first))} in {int((~known).sum())} rows; "
                        "expected ok, failed or pending")


def _listed_parts(file: h5py.File, path, rows: int) -> list[Part] | None:
    """The parts the /clips attr lists, each a plain file name in the parts folder; None for a
    cache written whole in one file."""
    listed = file["clips"].attrs.get("parts")
    if listed is None:
        return None
    try:
        records = json.loads(listed)
        if not isinstance(records, list) or not all(isinstance(record, dict) and isinstance(record.get("datasets"), list)
                                                    for record in records):
            raise ValueError("expected a list of {file, start, stop, datasets}, datasets a list")
        parts = [Part.from_dict(record) for record in records]
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise UserError(f"{path}: attribute clips/parts is not a list of parts ({first_line(error)})") from None
    for part in parts:
        if not (isinstance(part.file, str) and PART_NAME.fullmatch(part.file)):
            raise UserError(f"{path}: attribute clips/parts names {shown(repr(part.file))}; expected part files "
                            "named part-NNNNNN.h5 inside the parts folder")
        if not 0 <= part.start <= part.stop <= rows or not all(isinstance(name, str) for name in part.datasets):
            raise UserError(f"{path}: attribute clips/parts lists rows {part.start}-{part.stop} of {part.file}; "
                            f"expected rows within 0-{rows} and dataset names")
    return parts


def _check_sources(datasets: Mapping[str, h5py.Dataset], parts: list[Part] | None, path) -> str | None:
    """Virtual datasets read only their own name in the listed parts, in one folder named by a
    plain name (that beside the cache, or the one it had before it was renamed or copied);
    returns that folder's name (None without virtual datasets)."""
    folder = parts_folder(Path(path)).name
    listed = {part.file for part in parts or []}
    read_from = set()
    for name, dataset in datasets.items():
        if not dataset.is_virtual:
            continue
        for source in dataset.virtual_sources():
            file_name = source.file_name.replace("%%", "%")
            head, _, tail = file_name.rpartition("/")
            read_from.add(head)
            if (tail not in listed or source.dset_name.lstrip("/") != name or head in ("", ".", "..")
                    or "/" in head or len(read_from) > 1):
                raise UserError(f"{path}: {shown(name)} is a virtual dataset reading {shown(file_name)}; expected "
                                f"only the part files {folder}/part-NNNNNN.h5 listed in its parts")
    return read_from.pop() if read_from else None


def _cache_id(holder: h5py.Group, path) -> str | None:
    """The id (parts.ID_ATTR) an index holds on /clips, a part on its root: text, or None for a
    cache made before ids."""
    value = holder.attrs.get(ID_ATTR)
    if value is not None and not isinstance(value, str):
        where = "" if holder.name == "/" else f"{holder.name.lstrip('/')}/"
        raise UserError(f"{path}: attribute {where}{ID_ATTR} is {_kind(value)}; expected text")
    return value


def _check_parts(parts: list[Part], datasets: Mapping[str, h5py.Dataset], path, rows: int,
                 cache_id: str | None) -> None:
    """Every listed part is there beside the cache, holds the cache's id and reads nothing from
    elsewhere; together they cover every row of every dataset they list, and each holds the
    datasets the index reads from it in the index's shape and dtype."""
    folder = parts_folder(Path(path))
    # An index without an id over parts carrying one: a cache made since ids, whose index an older
    # version (2726365, 2cede23) rewrote when it grew the cache, keeping the parts' ids (its own new
    # parts carry none) but writing none of its own. Its parts are read as those of any cache made
    # before ids, at the one id they share (check_layout still refuses such an index renamed or
    # copied); parts of two ids are two caches.
    carried = part_ids(Path(path), parts) - {None} if cache_id is None else set()
    expected = cache_id if cache_id is not None else (next(iter(carried)) if len(carried) == 1 else None)
    missing = [part.file for part in parts if not (folder / part.file).is_file()]
    if missing:
        raise UserError(f"{path} lacks {len(missing)} of its part files in {folder} (first: {missing[0]}); "
                        "a cache is the file and that folder: copy or move both")
    read_from: dict[str, set[str]] = {}  # the parts the index reads each dataset from (the newest win)
    for name in sorted({name for part in parts for name in part.datasets}):
        if name not in datasets:
            raise UserError(f"{path}: its parts list {shown(name)}, which the cache lacks")
        try:
            read_from[name] = {part.file for _, _, part in segments(parts, name, rows)}
        except ValueError as error:
            raise UserError(f"{path}: its parts hold {shown(name)} incompletely ({error})") from None
    for part in parts:
        where = folder / part.file
        try:
            with h5py.File(where, "r", locking=False) as file:
                held = _datasets(file, where)
                found = _cache_id(file, where)
                if found != expected and not (cache_id is None and found is None):
                    raise UserError(f"{where} is a part of another cache (id {found or 'none'}; {path} has id "
                                    f"{cache_id or 'none'}): a cache is the file and the folder beside it, copied or "
                                    "moved together")
                for name in (name for name in part.datasets if part.file in read_from[name]):
                    _check_part_dataset(held.get(name), datasets[name], name, part, where)
        except OSError as error:
            raise UserError(f"{where} (a part of {path}) is not a readable HDF5 file ({first_line(error)})") from None


def _check_part_dataset(dataset: h5py.Dataset | None, indexed: h5py.Dataset, name: str, part: Part, where) -> None:
    expected = (part.stop - part.start, *indexed.shape[1:])
    if dataset is None:
        raise UserError(f"{where}: no dataset {shown(name)}; its cache lists it there")
    if dataset.is_virtual or dataset.external:
        raise UserError(f"{where}: {shown(name)} reads another file; expected its values inside the part")
    if dataset.shape != expected or dataset.dtype != indexed.dtype:
        raise UserError(f"{where}: {shown(name)} is {_dtype_name(dataset.dtype)} {dataset.shape}; "
                        f"expected {_dtype_name(indexed.dtype)} {expected}")
    _check_declared_size(name, dataset, where)
