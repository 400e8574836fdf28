"""Which manifest columns hold the path, label, group and split, and the one-line summary."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from layerprobe.data.clips import Clip
from layerprobe.errors import UserError

PATH_COLUMNS = ("path", "file", "filename", "audio")
LABEL_COLUMNS = ("label",)
# Speaker-independent evaluation depends on this choice, so the summary always names it.
GROUP_COLUMNS = ("group", "speaker", "speaker_id", "client_id", "actor")
SPLIT_COLUMNS = ("split",)


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
