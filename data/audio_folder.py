"""Folders whose subfolders are the labels: root/<label>/**/*.wav, or root/<split>/<label>/**."""
from __future__ import annotations

import os
from pathlib import Path

from layerprobe.data.clips import Clip, FileSource, Manifest
from layerprobe.data.columns import describe
from layerprobe.errors import UserError

# What libsndfile reads; other files (.txt, .m4a, ...) are counted and named in the summary.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc", ".au",
     ".snd", ".caf", ".w64", ".rf64"}
)
SPLIT_FOLDERS = frozenset({"train", "validation", "valid", "dev", "test"})


def read_audio_folder(root: Path) -> Manifest:
    """One clip per audio file, in sorted order; ids are paths relative to root.

    If every top-level folder is a split name (train/validation/valid/dev/test), the labels are
    the folders below them and the split is the top-level folder's name, as written.
    """
    top = _subfolders(root)
    if not top:
        raise UserError(f"{root} holds no label folders, manifest.csv/.tsv or saved Hugging Face dataset")
    by_split = all(folder.name.lower() in SPLIT_FOLDERS for folder in top)
    clips: list[Clip] = []
    ignored: list[str] = []
    walked: set[str] = set()
    for split_folder in top if by_split else [root]:
        split = split_folder.name if by_split else ""
        _refuse_loose_audio(split_folder)
        for label_folder in _subfolders(split_folder):
            for path in _files_under(label_folder, os.path.realpath(root), walked):
                if path.suffix.lower() not in AUDIO_EXTENSIONS:
                    ignored.append(path.suffix.lower() or path.name)
                    continue
                clip_id = path.relative_to(root).as_posix()
                clips.append(Clip(clip_id, clip_id, label_folder.name, "", split, FileSource(str(path))))
    if not clips:
        raise UserError(f"{root} holds no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) in label folders")
    summary = describe(f"{root.name}/", clips, None, "splits from folders" if by_split else None)
    if ignored:
        summary += f"; ignored {len(ignored)} other files ({', '.join(sorted(set(ignored)))})"
    return Manifest(clips, summary)


def _subfolders(folder: Path) -> list[Path]:
    # Hidden entries (.git, macOS ._ files) are never data.
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files_under(folder: Path, root: str, walked: set[str]) -> list[Path]:
    """Every non-hidden file below folder, sorted by path, following a symlinked folder once.

    root: the dataset's real path. A symlinked folder that leads back into the dataset is skipped
    (its files are listed where they are, under their own label; `ln -s .. loop` would list every
    clip again, under this label), and so is one already walked (walked: real paths, updated).
    """
    found = []
    for directory, subdirectories, files in os.walk(folder, followlinks=True):
        walked.add(os.path.realpath(directory))
        subdirectories[:] = [
            name for name in subdirectories
            if not name.startswith(".") and _follow(Path(directory, name), root, walked)
        ]
        found += [Path(directory, name) for name in files if not name.startswith(".")]
    return sorted(found)


def _follow(folder: Path, root: str, walked: set[str]) -> bool:
    if not folder.is_symlink():
        return True
    target = os.path.realpath(folder)
    common = os.path.commonpath([target, root])
    # Inside the dataset, or above it (so holding it): either way the walk would come back to its clips.
    return common not in (root, target) and target not in walked


def _refuse_loose_audio(folder: Path) -> None:
    """Audio beside the label folders has no label: say so rather than drop it."""
    loose = sorted(
        p.name for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_EXTENSIONS
    )
    if loose:
        raise UserError(
            f"{folder / loose[0]} is not inside a label folder ({len(loose)} such files); "
            f"expected {folder}/<label>/..."
        )
