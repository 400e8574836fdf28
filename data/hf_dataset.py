"""Hugging Face datasets saved with save_to_disk: a Dataset, or a DatasetDict whose keys are splits.

Import this module only for such a folder: `datasets` is slow to import.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow
import pyarrow.compute
import pyarrow.ipc

from layerprobe.data.audio import ClipError
from layerprobe.data.clips import Clip, Manifest
from layerprobe.data.columns import GROUP_COLUMNS, LABEL_COLUMNS, SPLIT_COLUMNS, describe, pick_column
from layerprobe.errors import UserError


@dataclass(frozen=True, eq=False)
class RowSource:
    """One row's audio, read only when decoded: no audio bytes are held in memory up front."""

    dataset: datasets.Dataset  # its audio column cast to Audio(decode=False)
    row: int
    column: str

    def open(self) -> str | io.BytesIO:
        audio = self.dataset[self.row][self.column]
        if audio is None or not (audio.get("bytes") or audio.get("path")):
            raise ClipError("unreadable", f"row {self.row} has no audio bytes or path")
        # Fresh per call: soundfile moves the position of an in-memory file as it reads.
        return io.BytesIO(audio["bytes"]) if audio.get("bytes") else audio["path"]


def read_saved_dataset(
    folder: Path,
    path_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    split_column: str | None = None,
) -> Manifest:
    """Clips with ids "split/row" (DatasetDict) or "row" (Dataset); ClassLabel labels become names."""
    loaded = _load(folder)
    is_dict = isinstance(loaded, datasets.DatasetDict)
    if is_dict and split_column is not None:
        raise UserError(f"{folder} is a DatasetDict: its splits are {', '.join(loaded)}; drop --split-column")
    parts = list(loaded.items()) if is_dict else [("", loaded)]
    features = parts[0][1].features
    for name, part in parts:
        if part.features != features:
            raise UserError(f"{folder}: split {name!r} has different columns from split {parts[0][0]!r}")

    where = f"{folder.name}/"
    available = list(features)
    audio_column = _audio_column(features, path_column, where)
    label_name = pick_column(available, label_column, LABEL_COLUMNS, "label", where, required=True)
    group_name = pick_column(available, group_column, GROUP_COLUMNS, "group", where, required=False)
    split_name = (
        None if is_dict else pick_column(available, split_column, SPLIT_COLUMNS, "split", where, required=False)
    )

    clips = []
    for split, part in parts:
        part = part.cast_column(audio_column, datasets.Audio(decode=False))
        labels = _column_as_text(part, label_name)
        groups = _column_as_text(part, group_name) if group_name else [""] * len(part)
        splits = _column_as_text(part, split_name) if split_name else [split] * len(part)
        # Only the paths, chunk by chunk from the memory-mapped table: the audio bytes stay on disk.
        paths = pyarrow.compute.struct_field(part.with_format("arrow")[audio_column], "path").to_pylist()
        for row in range(len(part)):
            if not labels[row]:
                raise UserError(f"{where} {split or 'dataset'} row {row}: no label")
            clips.append(
                Clip(
                    id=f"{split}/{row}" if split else str(row),
                    path=paths[row] or "",
                    label=labels[row],
                    group=groups[row],
                    split=splits[row],
                    source=RowSource(part, row, audio_column),
                )
            )
    if not clips:
        raise UserError(f"{folder} holds no rows")
    if is_dict:
        split_source = "splits of the DatasetDict"
    else:
        split_source = f"split column {split_name!r}" if split_name else None
    return Manifest(clips, describe(where, clips, group_name, split_source), group_name)


def _load(folder: Path) -> datasets.Dataset | datasets.DatasetDict:
    """load_from_disk, or one line naming the file that stops it and why."""
    try:
        return datasets.load_from_disk(str(folder))
    except (OSError, ValueError, KeyError, TypeError, pyarrow.ArrowException) as error:
        raise UserError(f"{_unreadable_file(folder, error)}; save the dataset again (save_to_disk)") from None


def _unreadable_file(folder: Path, error: Exception) -> str:
    """Which file of a saved dataset cannot be read, and why: a JSON file that is not JSON, a
    listed file that is missing (a save cut short), an Arrow file that is truncated."""
    listed: list[Path] = []
    for name in sorted(folder.glob("*.json")) + sorted(folder.glob("*/*.json")):
        try:
            record = json.loads(name.read_text(encoding="utf-8"))
        except (OSError, ValueError) as problem:
            return f"{name}: not JSON ({str(problem)[:80]})"
        if not isinstance(record, dict):
            continue
        if name.name == "dataset_dict.json":
            listed += [folder / str(split) / "state.json" for split in record.get("splits", [])]
        if name.name == "state.json":
            listed += [name.parent / str(entry.get("filename")) for entry in record.get("_data_files", [])
                       if isinstance(entry, dict)]
    for name in listed:
        if not name.is_file():
            return f"{name}: missing, a file the saved dataset lists (a save cut short?)"
        if name.suffix != ".arrow":
            continue
        try:
            with pyarrow.memory_map(str(name)) as source:
                pyarrow.ipc.open_stream(source).read_all()
        except (OSError, ValueError, pyarrow.ArrowException) as problem:
            return f"{name}: truncated or not an Arrow file ({str(problem).splitlines()[0][:80]})"
    missing = getattr(error, "filename", None)
    if missing:
        return f"{missing}: missing, a file of the saved dataset (a save cut short?)"
    cause = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
    return f"{folder}: not a readable saved Hugging Face dataset ({cause})"


def _audio_column(features: datasets.Features, explicit: str | None, where: str) -> str:
    audio_columns = [name for name, feature in features.items() if isinstance(feature, datasets.Audio)]
    if explicit is not None:
        if explicit not in audio_columns:
            raise UserError(
                f"{where} has no Audio column {explicit!r}; its Audio columns are {audio_columns or 'none'}"
            )
        return explicit
    if len(audio_columns) != 1:
        raise UserError(
            f"{where} has {len(audio_columns)} Audio columns {audio_columns} among {list(features)}; "
            "name one with --path-column"
        )
    return audio_columns[0]


def _column_as_text(part: datasets.Dataset, column: str) -> list[str]:
    """Values as strings; ClassLabel ids become their names, a missing label (-1 or None) ""."""
    values = list(part[column])
    feature = part.features[column]
    if isinstance(feature, datasets.ClassLabel):
        return [feature.names[value] if value is not None and value >= 0 else "" for value in values]
    return ["" if value is None else str(value).strip() for value in values]
