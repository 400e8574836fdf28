"""Which manifest columns hold the path, label, group and split, how a cache records that choice,
and the one-line summary."""
from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from layerprobe.data.clips import Clip
from layerprobe.errors import UserError

PATH_COLUMNS = ("path", "file", "filename", "audio")
LABEL_COLUMNS = ("label",)
# Speaker-independent evaluation depends on this choice, so the summary always names it.
GROUP_COLUMNS = ("group", "speaker", "speaker_id", "client_id", "actor")
SPLIT_COLUMNS = ("split",)


@dataclass(frozen=True)
class ColumnChoice:
    """How a cache's clips were read: the --path-column, --label-column, --group-column and
    --split-column (None: found among the defaults), and --split-lists and
    --speech-commands-classes for a Speech Commands folder. The cache's `columns` attribute is its
    JSON ({"group": ..., "label": ..., "path": ..., "split": ..., "split_lists": ...,
    "speech_commands_classes": 35}); every reader and writer of that attribute goes through this class."""

    path: str | None = None
    label: str | None = None
    group: str | None = None
    split: str | None = None
    split_lists: str | None = None
    speech_commands_classes: int | None = None  # None: the reader's default (every keyword folder)

    def to_attr(self) -> str:
        """The `columns` attribute's text."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_attr(cls, text: object, cache: str | os.PathLike) -> ColumnChoice:
        """Read a `columns` attribute ("" or absent: every column found by default; a key absent, as
        in a cache made before it existed: its default); UserError when it is not the JSON this class writes."""
        text = text.decode() if isinstance(text, bytes) else str(text or "") or "{}"
        try:
            found = json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"{cache}: its 'columns' attribute is not JSON ({error})") from None
        if not isinstance(found, dict) or not set(found) <= set(cls.__dataclass_fields__) or \
                not all(value is None or isinstance(value, (str, int)) for value in found.values()):
            raise UserError(f"{cache}: its 'columns' attribute should map path/label/group/split to column names")
        return cls(**found)

    def manifest_kwargs(self) -> dict[str, str | int | None]:
        """As load_manifest's keyword arguments (path_column=..., split_lists=..., ...)."""
        found = {"path_column": self.path, "label_column": self.label, "group_column": self.group,
                 "split_column": self.split, "split_lists": self.split_lists}
        if self.speech_commands_classes is not None:
            found["speech_commands_classes"] = self.speech_commands_classes
        return found


def pick_column(
    available: Sequence[str], explicit: str | None, defaults: Sequence[str], role: str, where: str,
    required: bool,
) -> str | None:
    """The explicit column if it exists, else the first default present; role names the flag."""
    listed = ", ".join(repr(name) for name in available)
    if explicit is not None:
        if explicit not in available:
            raise UserError(f"{where} has no {role} column {explicit!r}; its columns are {listed}")
        return explicit
    found = next((name for name in defaults if name in available), None)
    if found is None and required:
        looked = ", ".join(repr(name) for name in defaults)
        raise UserError(
            f"{where} has no {role} column (looked for {looked}); its columns are {listed}; "
            f"name one with --{role}-column"
        )
    return found


def describe(where: str, clips: Sequence[Clip], group_column: str | None, split_source: str | None) -> str:
    """One line, e.g. "manifest.csv: 3000 clips, 10 labels, group column 'speaker' (6 groups),
    split column 'split' (test 300, train 2700)"; split_source says where splits came from."""
    labels = len({clip.label for clip in clips})
    if group_column is None:
        group_note = "no group column"
    else:
        group_note = f"group column {group_column!r} ({len({clip.group for clip in clips})} groups)"
    if split_source is None:
        split_note = "no split column"
    else:
        counts = Counter(clip.split or "(none)" for clip in clips)
        per_split = ", ".join(f"{name} {counts[name]}" for name in sorted(counts))
        split_note = f"{split_source} ({per_split})"
    return f"{where}: {len(clips)} clips, {labels} labels, {group_note}, {split_note}"
