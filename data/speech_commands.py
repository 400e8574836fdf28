"""Speech Commands as it is distributed: keyword folders beside validation_list.txt and testing_list.txt.

The layout (v0.01 and v0.02 alike)::

    ROOT/<keyword>/<speaker>_nohash_<n>.wav    one folder per keyword, one-second clips
    ROOT/validation_list.txt                   paths relative to ROOT, one a line ("yes/0a7c2a8d_nohash_0.wav")
    ROOT/testing_list.txt
    ROOT/_background_noise_/*.wav              a few long noise recordings: not a keyword

Each clip's label is its folder, its group the speaker (the file name before "_nohash_"), its split
"validation" or "test" when a list names it and "train" otherwise. `_background_noise_` is left out.

With classes=12, the labels are SUPERB's keyword-spotting classes (s3prl's speech_commands
downstream): yes, no, up, down, left, right, on, off, stop, go, `_unknown_` for every other
keyword folder, and `_silence_` cut from the background noise by this rule. Each audio file of
`_background_noise_` is cut into consecutive one-second windows from its start (floor(seconds)
windows; the remainder is dropped). Of a file's n windows the last n // 10 are test, the n // 10
before them validation and the rest train: contiguous blocks, so that few neighbouring windows
straddle two splits (10% each, the TensorFlow reference's validation and testing percentages).
SUPERB itself crops one random second of a noise file whenever it draws it for training or
validation, and tests on the `_silence_` clips that come pre-cut in Google's separate test archive;
the rule here is deterministic, so every run sees the same clips. A window's id is
`_background_noise_/<file>#k` (seconds k to k + 1), its path the noise file, its group
`_background_noise_/<file>:<split>` (the block of that recording in one split): the recordings are
not speakers, and a group per block keeps train and test group-disjoint, as the protocol that
uses the official split requires.
"""
from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from layerprobe.data.audio import ClipError
from layerprobe.data.audio_folder import AUDIO_EXTENSIONS
from layerprobe.data.clips import Clip, FileSource, Manifest
from layerprobe.errors import UserError

LISTS = ("validation_list.txt", "testing_list.txt")
NOISE_FOLDER = "_background_noise_"
SPEAKER_MARK = "_nohash_"
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
ALL_CLASSES = 35  # every keyword folder is a class (the default); 12: SUPERB's classes
CLASS_SETS = (12, ALL_CLASSES)
HELD_OUT = 10  # 1 in HELD_OUT noise windows is validation, 1 in HELD_OUT test


@dataclass(frozen=True)
class Segment:
    """`frames` frames of an audio file from frame `start`, opened as an in-memory WAV of those frames."""

    path: str
    start: int
    frames: int

    def open(self) -> io.BytesIO:
        try:
            audio, rate = sf.read(self.path, start=self.start, frames=self.frames, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, OSError) as error:
            raise ClipError("unreadable", f"{self.path}: {error}") from error
        if len(audio) < self.frames:
            raise ClipError("truncated", f"{self.path} ends {self.frames - len(audio)} frames before this window does")
        # 32-bit float: the decoded samples are exactly those of the whole file at these frames.
        wav = io.BytesIO()
        sf.write(wav, audio, rate, format="WAV", subtype="FLOAT")
        wav.seek(0)
        return wav


def list_files(root: Path, split_lists: str | None) -> tuple[Path, Path]:
    """The validation and testing lists: "VALIDATION.txt,TESTING.txt" (relative to root, or absolute),
    by default validation_list.txt and testing_list.txt."""
    names = LISTS if split_lists is None else tuple(name.strip() for name in split_lists.split(","))
    if len(names) != 2 or not all(names):
        raise UserError(f"--split-lists {split_lists!r}: give two list files, VALIDATION.txt,TESTING.txt")
    return root / names[0], root / names[1]


def laid_out(root: Path, split_lists: str | None) -> bool:
    """Whether the folder holds both list files (the layout's mark)."""
    return all(path.is_file() for path in list_files(root, split_lists))


def refuse_options(root: Path, split_lists: str | None, classes: int) -> None:
    """DATA is not read as Speech Commands: the options that only apply to it are errors."""
    _check_classes(classes)
    if split_lists is not None:
        missing = next((path for path in list_files(root, split_lists) if not path.is_file()), None)
        if root.is_dir() and missing is not None:
            raise UserError(f"--split-lists: {missing} is not a file")
        raise UserError(f"--split-lists applies to a folder of keyword folders beside its list files, not {root}")
    if classes != ALL_CLASSES:
        raise UserError(f"--speech-commands-classes {classes} applies to a Speech Commands folder (keyword folders "
                        f"beside {LISTS[0]} and {LISTS[1]}), which {root} is not")


def read_speech_commands(root: Path, *, split_lists: str | None = None, classes: int = ALL_CLASSES) -> Manifest:
    """The clips of a Speech Commands folder (see the module docstring): keyword folders in sorted
    order, then with classes=12 the silence windows.

    Parameters
    ----------
    root : the folder holding the keyword folders and the two list files.
    split_lists : "VALIDATION.txt,TESTING.txt", other list files of the same kind, relative to root
        (default None: validation_list.txt and testing_list.txt).
    classes : 35 (default: every keyword folder is a class) or 12 (SUPERB's: ten keywords,
        `_unknown_` and `_silence_` cut from `_background_noise_`).

    Returns
    -------
    Manifest
        Its description holds three lines: the clips, what became of the noise folder, and whether
        the lists are speaker-disjoint.
    """
    _check_classes(classes)
    lists = list_files(root, split_lists)
    split_of = _listed_splits(lists)
    if classes == 12:
        absent = [word for word in KEYWORDS if not (root / word).is_dir()]
        if absent:
            raise UserError(f"--speech-commands-classes 12 needs the folders {', '.join(KEYWORDS)}; {root} lacks "
                            f"{', '.join(absent)}")
    clips, ignored = _keyword_clips(root, split_of, classes)
    speakers = _speaker_line(clips, lists)
    unmatched = sorted(set(split_of) - {clip.id for clip in clips})
    noise = root / NOISE_FOLDER
    if classes == 12:
        if not noise.is_dir():
            raise UserError(f"--speech-commands-classes 12 cuts {SILENCE} clips from {NOISE_FOLDER}/, which "
                            f"{root} lacks")
        silence = silence_clips(noise)
        clips += silence
        noise_line = (f"{NOISE_FOLDER}/: not a keyword; its {len({clip.path for clip in silence})} audio files cut "
                      f"into {len(silence)} one-second {SILENCE} clips ({_per_split(clip.split for clip in silence)})")
    elif noise.is_dir():
        noise_line = f"{NOISE_FOLDER}/: left out ({len(_audio_files(noise))} noise recordings, not a keyword)"
    else:
        noise_line = f"no {NOISE_FOLDER}/ folder"
    first = (f"{root.name}/ (Speech Commands layout): {len(clips)} clips, {len({clip.label for clip in clips})} "
             f"labels{' (SUPERB: 10 keywords, _unknown_, _silence_)' if classes == 12 else ''}, groups: "
             f"{len({clip.group for clip in clips if clip.label != SILENCE})} speakers from the file names, splits "
             f"from {lists[0].name} and {lists[1].name} ({_per_split(clip.split for clip in clips)})")
    if unmatched:
        first += f"; {len(unmatched)} listed files are not in the folders (e.g. {unmatched[0]})"
    if ignored:
        first += f"; ignored {ignored} non-audio files"
    return Manifest(clips, "\n".join([first, noise_line, speakers]), group_column="speaker")


def _keyword_clips(root: Path, split_of: dict[str, str], classes: int) -> tuple[list[Clip], int]:
    """The clips of every keyword folder, and how many non-audio files they hold."""
    clips: list[Clip] = []
    ignored = 0
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != NOISE_FOLDER)
    for folder in folders:
        label = folder.name if classes == ALL_CLASSES or folder.name in KEYWORDS else UNKNOWN
        # scandir and names, not Paths: about 100,000 files, each stat'ed and compared once.
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries if entry.is_file() and not entry.name.startswith("."))
        for name in names:
            if os.path.splitext(name)[1].lower() not in AUDIO_EXTENSIONS:
                ignored += 1
                continue
            clip_id = f"{folder.name}/{name}"
            clips.append(Clip(clip_id, clip_id, label, _speaker(clip_id), split_of.get(clip_id, "train"),
                              FileSource(os.path.join(folder, name))))
    if not clips:
        raise UserError(f"{root} has the list files of Speech Commands but no audio in keyword folders")
    return clips, ignored


def silence_clips(noise: Path) -> list[Clip]:
    """One-second `_silence_` windows of every audio file in `noise`, split by the module's rule."""
    clips = []
    for path in _audio_files(noise):
        try:
            info = sf.info(str(path))
        except (sf.SoundFileError, RuntimeError) as error:
            raise UserError(f"cannot read {path}: {error}") from None
        rate, windows = info.samplerate, info.frames // info.samplerate
        held = windows // HELD_OUT
        relative = f"{NOISE_FOLDER}/{path.name}"
        # Absolute: a Ray worker may open it from another working directory.
        for k in range(windows):
            split = "test" if k >= windows - held else "validation" if k >= windows - 2 * held else "train"
            clips.append(Clip(f"{relative}#{k}", relative, SILENCE, f"{relative}:{split}", split,
                              Segment(os.path.abspath(path), k * rate, rate)))
    return clips


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_EXTENSIONS)


def _listed_splits(lists: Sequence[Path]) -> dict[str, str]:
    """Clip id -> "validation" or "test", from the two lists; a path in both is an error."""
    split_of: dict[str, str] = {}
    for path, split in zip(lists, ("validation", "test")):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read {path}: {error}") from None
        for line in lines:
            if not line.strip():
                continue
            clip_id = Path(line.strip()).as_posix()
            if split_of.get(clip_id, split) != split:
                raise UserError(f"{clip_id} is in both {lists[0].name} and {lists[1].name}")
            split_of[clip_id] = split
    return split_of


def _speaker(clip_id: str) -> str:
    name = clip_id.rsplit("/", 1)[-1]
    if SPEAKER_MARK not in name:
        raise UserError(f"{clip_id} is not named <speaker>{SPEAKER_MARK}<n>.wav, so its speaker is unknown")
    return name.split(SPEAKER_MARK, 1)[0]


def _speaker_line(clips: Sequence[Clip], lists: Sequence[Path]) -> str:
    """One line: whether any speaker has clips in two of train, validation and test."""
    speakers = {split: {clip.group for clip in clips if clip.split == split}
                for split in ("train", "validation", "test")}
    pairs = [("train", "validation"), ("train", "test"), ("validation", "test")]
    shared = {pair: speakers[pair[0]] & speakers[pair[1]] for pair in pairs}
    names = f"{lists[0].name} and {lists[1].name}"
    if not any(shared.values()):
        return (f"{names} are speaker-disjoint: no speaker is in two of train ({len(speakers['train'])} speakers), "
                f"validation ({len(speakers['validation'])}) and test ({len(speakers['test'])})")
    overlaps = ", ".join(f"{a}/{b} {len(found)}" for (a, b), found in shared.items() if found)
    example = sorted(next(found for found in shared.values() if found))[0]
    return f"{names} are not speaker-disjoint: speakers in two splits: {overlaps} (e.g. {example})"


def _per_split(splits: Iterable[str]) -> str:
    counts = Counter(splits)
    return ", ".join(f"{name} {counts[name]}" for name in sorted(counts))


def _check_classes(classes: int) -> None:
    if classes not in CLASS_SETS:
        raise UserError(f"--speech-commands-classes {classes}: choose 12 or {ALL_CLASSES}")
