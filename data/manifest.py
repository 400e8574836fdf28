"""Read a dataset, whatever its shape, into a list of Clips (the records every stage consumes)."""
from __future__ import annotations

import os
from pathlib import Path

from layerprobe.data import speech_commands
from layerprobe.data.audio_folder import read_audio_folder
from layerprobe.data.clips import AudioSource, Clip, FileSource, Manifest
from layerprobe.data.table import read_table
from layerprobe.errors import UserError

__all__ = ["AudioSource", "Clip", "FileSource", "Manifest", "load_manifest"]

TABLE_NAMES = ("manifest.csv", "manifest.tsv")


def load_manifest(
    data: str | os.PathLike,
    path_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    split_column: str | None = None,
    *,
    split_lists: str | None = None,
    speech_commands_classes: int = speech_commands.ALL_CLASSES,
) -> Manifest:
    """Clips from DATA, which is one of:

    - a .csv/.tsv manifest (path and label columns; optional group and split columns);
    - a folder holding manifest.csv or manifest.tsv;
    - a folder saved by Hugging Face `save_to_disk` (Dataset or DatasetDict);
    - a Speech Commands folder: keyword folders beside validation_list.txt and testing_list.txt
      (or the two files `split_lists` names, "VALIDATION.txt,TESTING.txt"); see data.speech_commands;
    - a folder of label folders (root/<label>/**, or root/<split>/<label>/**).

    The column arguments name columns explicitly (None: the defaults, see data.columns).
    speech_commands_classes: 35 (every keyword folder) or 12 (SUPERB's classes), for Speech Commands only.
    Raises UserError for anything the user must fix; a listed file that is missing is not one.
    """
    root = Path(data)
    columns = dict(path_column=path_column, label_column=label_column, group_column=group_column,
                   split_column=split_column)
    if not root.exists():
        raise UserError(f"{root}: no such file or folder")
    tables = [root / name for name in TABLE_NAMES if (root / name).is_file()]
    if root.is_dir() and not tables and not _is_saved_dataset(root) and speech_commands.laid_out(root, split_lists):
        _refuse_columns(root, columns, "a Speech Commands folder (keyword folders beside its list files)")
        return speech_commands.read_speech_commands(root, split_lists=split_lists, classes=speech_commands_classes)
    speech_commands.refuse_options(root, split_lists, speech_commands_classes)
    if root.is_file():
        if root.suffix.lower() not in (".csv", ".tsv"):
            raise UserError(f"{root}: not a manifest (a .csv or .tsv file, or a folder, is expected)")
        return read_table(root, **columns)
    if _is_saved_dataset(root):
        from layerprobe.data import hf_dataset  # `datasets` is heavy: only for this case

        return hf_dataset.read_saved_dataset(root, **columns)
    if len(tables) > 1:
        raise UserError(f"{root} holds both manifest.csv and manifest.tsv: give the one to use")
    if tables:
        return read_table(tables[0], **columns)
    _refuse_columns(root, columns, "a folder of label folders")
    return read_audio_folder(root)


def _refuse_columns(root: Path, columns: dict[str, str | None], kind: str) -> None:
    given = [f"--{name.replace('_', '-')}" for name, value in columns.items() if value is not None]
    if given:
        raise UserError(f"{root} is {kind}, which has no columns: drop {', '.join(given)}")


def _is_saved_dataset(folder: Path) -> bool:
    """The files save_to_disk writes for a DatasetDict, or for a single Dataset."""
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )
