"""A per-clip column beyond the cache contract's own (e.g. predefined folds), aligned to the ok clips.

It comes from the cache itself (clips/NAME: extract-embeddings stores a manifest's other columns,
and a manifest given again adds its new ones), else, for a cache written before that, from the
manifest the cache was made from (the `data` attribute) read with the columns it was made with
(the `columns` attribute), joined on the clip ids; the cache is never rewritten for it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from layerprobe.data.columns import PATH_COLUMNS, ColumnChoice, pick_column
from layerprobe.data.manifest import TABLE_NAMES
from layerprobe.data.reader import CacheReader
from layerprobe.data.table import clip_id_of, read_rows
from layerprobe.errors import UserError


def clip_column(reader: CacheReader, column: str) -> np.ndarray:
    """The value of `column` for every ok clip of the cache, as strings.

    Raises UserError when neither the cache nor its manifest has the column, or a clip has no value.
    """
    try:
        stored = reader.clip_values(column)
    except TypeError:  # h5py's asstr() on numbers
        raise UserError(f"clips/{column} holds numbers, not text; name a column of text") from None
    if stored is not None:
        values = stored
    else:
        table = _manifest_table(reader)
        header, rows = read_rows(table)
        if column not in header:
            raise UserError(f"neither the cache nor its manifest {table.name} has a column {column!r}; "
                            f"the manifest's columns are {', '.join(map(repr, header))} (extract-embeddings "
                            "with a manifest that has it stores it in the cache, encoding nothing again)")
        chosen = ColumnChoice.from_attr(reader.attrs.get("columns"), reader.path)
        path_name = pick_column(header, chosen.path, PATH_COLUMNS, "path", table.name, required=True)
        root = os.path.abspath(table.parent)
        by_id = {clip_id_of(row[path_name], root): row[column] for _, row in rows}
        values = np.array([by_id.get(clip_id, "") for clip_id in reader.clips["id"]], dtype=object)
    blank = np.flatnonzero(values == "")
    if len(blank):
        raise UserError(f"{len(blank)} ok clip(s) have no {column!r} value, e.g. {reader.clips['id'][blank[0]]}")
    return values.astype(str)


def _manifest_table(reader: CacheReader) -> Path:
    data = Path(str(reader.attrs.get("data", "")))
    if data.is_dir():
        data = next((data / name for name in TABLE_NAMES if (data / name).is_file()), data)
    if not data.is_file() or data.suffix.lower() not in (".csv", ".tsv"):
        raise UserError(f"the cache has no clips column to take folds from, and its data ({data}) is not a "
                        "CSV/TSV manifest that could have one")
    return data
