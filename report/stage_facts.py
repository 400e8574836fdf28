"""The run facts of a folder filled stage by stage (extract-embeddings, probe, baselines, each with
--out), where no run.json says them: read from the cache the probe document names and from the
results files, in run.json's shape, so the report states the same data, groups and statuses."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.results import Document, RunFacts


def stage_facts(directory: Path, probe: Document, stage_seconds: dict) -> RunFacts | None:
    """run.json's facts from the probed cache and the results documents; None when the cache is not
    found (at the path the probe document gives, else beside the results) or cannot be read.

    stage_seconds: the stages' timings recorded beside the results (extraction is not among them).
    """
    cache = _find_cache(directory, probe.cache)
    if cache is None:
        return None
    try:
        with CacheReader(cache) as reader:
            clips, attrs, statuses = reader.clips, reader.attrs, reader.status_counts()
    except UserError:
        return None
    group_column = str(attrs.get("group_column", ""))
    return RunFacts(
        data=str(attrs.get("data", "")) or None, n_clips=int(statuses.get("ok", 0)),
        n_failed=int(statuses.get("failed", 0)),
        # The label each probed clip was probed for (clips/label or a joined table's), as run.json counts them.
        classes=dict(sorted(Counter(probe.clip_labels or clips["label"]).items())),
        groups=len(set(clips["group"]) - {""}), group_column=group_column or None, protocol=probe.protocol,
        model=str(attrs.get("model", "")), model_revision=str(attrs.get("model_revision", "")),
        layers=[int(i) for i in attrs.get("layers", [])],
        stage_seconds={stage: float(seconds) for stage, seconds in stage_seconds.items()
                       if stage in ("probe", "baselines") and isinstance(seconds, (int, float))})


def _find_cache(directory: Path, named: str | None) -> Path | None:
    if not named:
        return None
    for candidate in (Path(named), directory / Path(named).name):
        if candidate.is_file():
            return candidate
    return None
