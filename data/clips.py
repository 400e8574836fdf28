"""The records every later stage consumes: one Clip per audio file or dataset row."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Protocol


class AudioSource(Protocol):
    """Where a clip's audio lives; opened only when the clip is decoded."""

    def open(self) -> str | io.BytesIO:
        """Something soundfile.SoundFile accepts: a file path, or a fresh in-memory file."""
        ...


@dataclass(frozen=True)
class FileSource:
    """An audio file on disk."""

    path: str

    def open(self) -> str:
        return self.path


@dataclass(frozen=True)
class Clip:
    """One labelled clip.

    id: unique and stable; the path relative to the manifest's folder or dataset root,
        or "split/row" ("row" alone) for Hugging Face datasets.
    path: the path as the manifest gave it, or the Hugging Face audio's own path ("" if none).
    group: speaker/actor/session, "" where none; split: train/validation/test or "", as given.
    """

    id: str
    path: str
    label: str
    group: str
    split: str
    # A Hugging Face source holds the whole dataset: keep it out of repr and equality.
    source: AudioSource = field(repr=False, compare=False)


@dataclass
class Manifest:
    clips: list[Clip]
    description: str  # for the terminal: one line, what was read and which columns were used (a few for a layout)
    group_column: str | None = None  # the column the groups came from (found or given), None without groups
    # A table's other columns (a fold column, ...): name -> one value per clip, stored as clips/NAME.
    others: dict[str, list[str]] = field(default_factory=dict)
