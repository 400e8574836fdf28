"""CSV/TSV manifests: one row per clip, paths relative to the manifest's folder."""
from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from layerprobe.data.clips import Clip, FileSource, Manifest
from layerprobe.data.columns import (
    GROUP_COLUMNS,
    LABEL_COLUMNS,
    PATH_COLUMNS,
    SPLIT_COLUMNS,
    describe,
    pick_column,
)
from layerprobe.errors import UserError


def read_table(
    table: Path,
    path_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    split_column: str | None = None,
) -> Manifest:
    """Clips from a .csv or .tsv file (TSV by extension); columns chosen as in pick_column.

    A listed file that does not exist still becomes a clip: decoding it fails and the run goes on.
    """
    header, rows = read_rows(table)
    where = table.name
    path_name = pick_column(header, path_column, PATH_COLUMNS, "path", where, required=True)
    label_name = pick_column(header, label_column, LABEL_COLUMNS, "label", where, required=True)
    group_name = pick_column(header, group_column, GROUP_COLUMNS, "group", where, required=False)
    split_name = pick_column(header, split_column, SPLIT_COLUMNS, "split", where, required=False)
    check_one_line(table, rows, (path_name, label_name, group_name, split_name))

    root = os.path.abspath(table.parent)
    clips = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        given, label = row[path_name], row[label_name]
        if not given:
            raise UserError(f"{where} line {line}: empty {path_name!r}")
        if not label:
            raise UserError(f"{where} line {line}: empty {label_name!r} for {given}")
        clip_id = clip_id_of(given, root)
        if clip_id in first_line:
            raise UserError(f"{where} lists {clip_id} twice (lines {first_line[clip_id]} and {line})")
        first_line[clip_id] = line
        clips.append(
            Clip(
                id=clip_id,
                path=given,
                label=label,
                group=row[group_name] if group_name else "",
                split=row[split_name] if split_name else "",
                source=FileSource(os.path.normpath(os.path.join(root, given))),
            )
        )
    split_source = f"split column {split_name!r}" if split_name else None
    used = {path_name, label_name, group_name, split_name}
    others = {name: [row[name] for _, row in rows] for name in header if name not in used}
    return Manifest(clips, describe(where, clips, group_name, split_source), group_name, others)


def read_rows(table: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs, cells stripped; a row's line is the one it starts on.

    A row with more or fewer cells than the header is an error (an unquoted comma in a label would
    otherwise shift the columns), and so is a quote that never closes (it would take every
    following row into one cell): each one line naming the line number.
    """
    delimiter = "\t" if table.suffix.lower() == ".tsv" else ","
    start = 1  # the line the row being read starts on
    try:
        # utf-8-sig: spreadsheets often save a byte-order mark that would stick to the first column.
        with open(table, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter, strict=True)
            header = [name.strip() for name in next(reader, [])]
            rows = []
            start = reader.line_num + 1
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    rows.append((start, _row(table, start, header, cells)))
                start = reader.line_num + 1
    except csv.Error as error:
        raise UserError(f"{table.name} line {start}: {_csv_cause(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {table}: {error}") from error
    if not header:
        raise UserError(f"{table} is empty")
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise UserError(f"{table} repeats column {repeated[0]!r} in its header")
    if not rows:
        raise UserError(f"{table} has a header but no rows")
    return header, rows


def check_one_line(table: Path, rows: list[tuple[int, dict[str, str]]], columns: Sequence[str | None]) -> None:
    """Refuse a line break in a cell of `columns` (paths, labels, groups, ids): there it is a quote
    that closes rows later, not text. Other columns (a transcript) may hold line breaks."""
    for line, row in rows:
        for name in filter(None, columns):
            if "\n" in row[name] or "\r" in row[name]:
                raise UserError(f"{table.name} line {line}: its {name!r} cell holds a line break, from a quote "
                                "that opens there and closes on a later line; close the quote on its line")


def _csv_cause(error: csv.Error) -> str:
    """The csv module's reason, as the user fixes it."""
    text = str(error)
    if "unexpected end of data" in text:
        return "a quote opens a cell that never closes; close it, or double a quote that is part of the text (\"\")"
    if "expected after" in text:
        return f"text follows a quoted cell's closing quote ({text}); quote the whole cell and double its quotes"
    return text


def _row(table: Path, line: int, header: list[str], cells: list[str]) -> dict[str, str]:
    if any("\0" in cell for cell in cells):
        raise UserError(f"{table.name} line {line} holds a NUL character; a manifest is text")
    if len(cells) != len(header):
        raise UserError(f"{table.name} line {line} has {len(cells)} cells, its header {len(header)} "
                        f"({', '.join(header)}); quote a cell that holds {'a tab' if table.suffix.lower() == '.tsv' else 'a comma'}")
    return dict(zip(header, [cell.strip() for cell in cells]))


def clip_id_of(given: str, root: str) -> str:
    """The path relative to the manifest's folder; an absolute path outside it stays absolute."""
    relative = os.path.relpath(os.path.normpath(os.path.join(root, given)), root)
    if os.path.isabs(given) and relative.startswith(".."):
        return Path(os.path.normpath(given)).as_posix()
    return Path(relative).as_posix()
