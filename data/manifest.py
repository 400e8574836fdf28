"""Read a dataset, whatever its shape, into a list of Clips (the records every stage consumes)."""
from __future__ import annotations

import os
from pathlib import Path

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
) -> Manifest:
    """Clips from DATA, which is one of:

    - a .csv/.tsv manifest (path and label columns; optional group and split columns);
    - a folder holding manifest.csv or manifest.tsv;
    - a folder saved by Hugging Face `save_to_disk` (Dataset or DatasetDict);
    - a folder of label folders (root/<label>/**, or root/<split>/<label>/**).

    The column arguments name columns explicitly (None: the defaults, see data.columns).
    Raises UserError for anything the user must fix; a listed file that is missing is not one.
    """
    root = Path(data)
    columns = dict(path_column=path_column, label_column=label_column, group_column=group_column,
                   split_column=split_column)
    if not root.exists():
        raise UserError(f"{root}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() not in (".csv", ".tsv"):
            raise UserError(f"{root}: not a manifest (a .csv or .tsv file, or a folder, is expected)")
        return read_table(root, **columns)
    if _is_saved_dataset(root):
        from layerprobe.data import hf_dataset  # `datasets` is heavy: only for this case

        return hf_dataset.read_saved_dataset(root, **columns)
    tables = [root / name for name in TABLE_NAMES if (root / name).is_file()]
    if len(tables) > 1:
        raise UserError(f"{root} holds both manifest.csv and manifest.tsv: give the one to use")
    if tables:
        return read_table(tables[0], **columns)
    given = [f"--{name.replace('_', '-')}" for name, value in columns.items() if value is not None]
    if given:
        raise UserError(f"{root} is a folder of label folders, which has no columns: drop {', '.join(given)}")
    return read_audio_folder(root)


def _is_saved_dataset(folder: Path) -> bool:
    """The files save_to_disk writes for a DatasetDict, or for a single Dataset."""
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )
