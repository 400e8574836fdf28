"""Which label each ok clip of a cache is probed for: clips/label, another clips/ column (group,
split, ...), or a column of a label table joined to the clips by id; the cache is never rewritten.

Probing accent and then gender or speaker on the same embeddings is one table (or one column) each:
the embeddings never move.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from layerprobe.data.reader import CacheReader
from layerprobe.data.table import check_one_line, read_rows
from layerprobe.errors import UserError

# The table's column matched to the clips when --id-column is not given, in this order.
ID_COLUMNS = ("id", "path")
# The most clips x classes a probe takes: each record holds a float32 score per clip and class (in
# memory and in its scores file) and the solvers a few float64 arrays of that size, so memory grows
# with their product (nothing grows with classes squared): 250 million are 1 GB of scores a record.
# VoxCeleb1's 153,516 clips x 1,251 speakers are 192 million.
MAX_SCORE_CELLS = 250_000_000


@dataclass(frozen=True)
class ClipLabels:
    """The labelled ok clips: `rows` (positions among the cache's ok clips, sorted) and their `labels`.

    source: where the labels come from ("clips/label", or the table's file name); column: the column
    read; id_column: the table column matched to clips/id (then clips/path), None without a table;
    unlabelled: ok clips left out because the table lacks them; empty: ok clips left out because
    their label cell is empty; unmatched: table rows that match no ok clip.
    """

    rows: np.ndarray
    labels: np.ndarray
    source: str
    column: str
    id_column: str | None = None
    unlabelled: int = 0
    empty: int = 0
    unmatched: int = 0

    def to_dict(self) -> dict:
        """The record written into results documents (without the per-clip arrays)."""
        out = asdict(self)
        del out["rows"], out["labels"]
        return {**out, "n_labelled": int(len(self.rows))}

    def note(self) -> str | None:
        """One line on the clips left out and the table rows unused, None when there are none."""
        parts = []
        if self.unlabelled or self.empty:
            why = []
            if self.unlabelled:
                why.append(f"{self.unlabelled} not in the table")
            if self.empty:
                why.append(f"{self.empty} with an empty {self.column!r}")
            parts.append(f"{self.unlabelled + self.empty} ok clip(s) have no {self.column!r} label "
                         f"({', '.join(why)}) and are left out; {len(self.rows)} are probed")
        if self.unmatched:
            parts.append(f"{self.unmatched} row(s) of {self.source} match no ok clip of the cache and are ignored")
        return f"labels from {self.source}: " + "; ".join(parts) if parts else None


def clip_labels(reader: CacheReader, *, labels: str | Path | None = None, label_column: str | None = None,
                id_column: str | None = None) -> ClipLabels:
    """The label of every ok clip that has one.

    Parameters
    ----------
    reader : the open cache.
    labels : a CSV/TSV label table (TSV by extension) with one row per clip; None (default) reads
        the cache's own clips/ columns.
    label_column : the column holding the labels: of the table (required with `labels`), else a
        clips/ dataset of the cache such as "group" (default "label").
    id_column : the table column matched to clips/id, a value matching no id is tried against
        clips/path; default "id", else "path".

    Raises UserError for a missing column, a table repeating a clip, no labelled clip, or more
    labelled clips x distinct labels than MAX_SCORE_CELLS.
    """
    if labels is None:
        if id_column is not None:
            raise UserError("--id-column names a column of the --labels table; give --labels TABLE")
        found = _cache_column(reader, label_column or "label")
    elif label_column is None:
        raise UserError("--labels needs --label-column COL: the table's column holding the labels")
    else:
        found = _joined(reader, Path(labels), label_column, id_column)
    classes, clips = len(np.unique(found.labels)), len(found.labels)
    if classes * clips > MAX_SCORE_CELLS:
        raise UserError(f"{found.source} column {found.column!r} has {classes:,} distinct labels over {clips:,} clips: "
                        f"{classes * clips:,} clip x class scores a record, above the {MAX_SCORE_CELLS:,} a probe holds "
                        "in memory; probe a coarser label or fewer clips")
    return found


def _cache_column(reader: CacheReader, column: str) -> ClipLabels:
    try:
        values = reader.clip_values(column)
    except TypeError:  # h5py's asstr() on numbers
        raise UserError(f"clips/{column} holds numbers, not labels; give --labels TABLE for a table of "
                        "labels") from None
    if values is None:
        raise UserError(f"the cache has no clips/{column}; give --labels TABLE to read {column!r} from a table")
    rows = np.flatnonzero(values != "")
    if not len(rows):
        raise UserError(f"clips/{column} is empty for every ok clip: nothing to probe")
    return ClipLabels(rows, values[rows].astype(str), f"clips/{column}", column, empty=len(values) - len(rows))


def _joined(reader: CacheReader, table: Path, column: str, id_column: str | None) -> ClipLabels:
    header, table_rows = read_rows(table)
    if column not in header:
        raise UserError(f"{table.name} has no column {column!r}; its columns are {', '.join(map(repr, header))}")
    if id_column is None:
        id_column = next((name for name in ID_COLUMNS if name in header), None)
        if id_column is None:
            raise UserError(f"{table.name} has no 'id' or 'path' column to match clips by; name one with --id-column")
    elif id_column not in header:
        raise UserError(f"{table.name} has no id column {id_column!r}; its columns are {', '.join(map(repr, header))}")
    check_one_line(table, table_rows, (id_column, column))
    clips = reader.clips
    by_id = {clip_id: row for row, clip_id in enumerate(clips["id"])}
    by_path = {path: row for row, path in enumerate(clips["path"])} if "path" in clips else {}
    label_of: dict[int, str] = {}
    line_of: dict[int, int] = {}
    unmatched = 0
    for line, cells in table_rows:
        key = cells[id_column]
        row = by_id.get(key, by_path.get(key))
        if row is None:
            unmatched += 1
            continue
        if row in line_of:
            raise UserError(f"{table.name} gives clip {clips['id'][row]} twice (lines {line_of[row]} and {line}); "
                            "keep one row per clip")
        line_of[row], label_of[row] = line, cells[column]
    labelled = np.array(sorted(row for row, label in label_of.items() if label), dtype=np.int64)
    empty = sum(1 for label in label_of.values() if not label)
    if not len(labelled):
        raise UserError(f"no ok clip of the cache has a {column!r} label in {table.name}: its {id_column!r} "
                        f"values match neither clips/id nor clips/path (e.g. {clips['id'][0]!r})")
    return ClipLabels(labelled, np.array([label_of[row] for row in labelled], dtype=str), table.name, column,
                      id_column, len(clips) - len(label_of), empty, unmatched)
