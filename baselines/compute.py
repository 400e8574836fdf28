"""Compute hand-made features for every clip of a cache, resumably: features/NAME rows beside the layers.

The audio is found again through the cache's root attrs `data` and `columns` (where the clips
came from, recorded when the cache was made), and matched to cache rows by clip id.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from layerprobe.baselines.feature_pool import clip_outcomes
from layerprobe.baselines.features import FEATURES, Feature
from layerprobe.data.cache import open_cache
from layerprobe.data.columns import ColumnChoice
from layerprobe.data.feature_writer import FeatureWriter
from layerprobe.data.manifest import Clip, load_manifest
from layerprobe.errors import UserError

ROWS_PER_WRITE = 32  # rows flushed together: few flushes, little lost work on a kill


@dataclass
class Summary:
    """What compute_features did, per feature name; `str()` is the end-of-run report."""

    computed: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    failed: dict[str, Counter] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def __str__(self) -> str:
        lines = []
        for name in sorted(set(self.computed) | set(self.skipped) | set(self.failed)):
            failed = self.failed.get(name, Counter())
            lines.append(f"features/{name}: {self.computed[name]} computed, {sum(failed.values())} failed, "
                         f"{self.skipped[name]} already in the cache")
            lines += [f"  failed ({reason}): {count}" for reason, count in failed.most_common()]
        lines.append(f"wall: {self.wall_seconds:.1f} s")
        return "\n".join(lines)


def feature_by_name(name: str) -> Feature:
    """The Feature called `name`, or a UserError listing the known ones."""
    if name == "egemaps":
        from layerprobe.baselines.egemaps import egemaps_feature  # opensmile is an optional extra

        return egemaps_feature()
    if name not in FEATURES:
        raise UserError(f"unknown feature {name!r}; choose from {', '.join([*FEATURES, 'egemaps'])}")
    return FEATURES[name]


def compute_features(cache: str | os.PathLike, names: Sequence[str] = ("mfcc", "logmel"), overwrite: bool = False,
                     progress: bool = True, *, data: str | None = None, columns: dict | None = None,
                     n_jobs: int = -1) -> Summary:
    """Fill features/NAME for every clip of `cache` whose feature is not yet ok; return what was done.

    cache: an HDF5 cache (from extract-embeddings, or a features-only one). names: features to
    compute, from baselines.features.FEATURES or "egemaps" (default mfcc and logmel).
    overwrite: recompute a stored feature whose parameters differ instead of refusing (default
    False). progress: show a tqdm bar (default True). Clips that cannot be decoded are recorded
    as failed with their reason and counted in the summary; a killed run resumes where it stopped.
    data, columns: a dataset (and its manifest column names) to find the clips' audio in before the
    one the cache records: `layerprobe run` gives its DATA, whose new clips the first one lacks.
    n_jobs: worker processes, -1 for all cores (default); the values do not depend on it. Rows are
    written in order as their chunk of clips comes back (baselines.feature_pool).
    """
    started = time.perf_counter()
    features = [feature_by_name(name) for name in names]
    summary = Summary()
    clips: dict[str, Clip] | None = None
    for feature in features:
        with FeatureWriter(cache, feature.name, feature.dim, feature.params, overwrite) as writer:
            todo = writer.pending()
            summary.skipped[feature.name] = len(writer.status) - len(todo)
            summary.failed[feature.name] = Counter()
            if len(todo) == 0:
                continue
            if clips is None or any(writer.ids[row] not in clips for row in todo):  # only work needs the audio
                clips = _clips_of(cache, [writer.ids[row] for row in todo], data, columns or {})
            _compute(writer, feature, [(row, clips.get(writer.ids[row])) for row in todo], summary, progress,
                     n_jobs)
    summary.wall_seconds = time.perf_counter() - started
    return summary


def _compute(writer: FeatureWriter, feature: Feature, todo: list[tuple[int, Clip | None]], summary: Summary,
             progress: bool, n_jobs: int) -> None:
    """Compute `feature` for each (row, clip); clip None: the dataset no longer lists the row's clip."""
    done_rows: list[int] = []
    done_values: list[np.ndarray] = []
    durations: list[float] = []

    def flush() -> None:
        if done_rows:
            writer.write_ok(np.array(done_rows), np.stack(done_values), np.array(durations))
            summary.computed[feature.name] += len(done_rows)
            done_rows.clear()
            done_values.clear()
            durations.clear()

    rows = [row for row, _ in todo]
    sources = [None if clip is None else clip.source for _, clip in todo]
    start = 0
    with tqdm(total=len(todo), desc=f"{feature.name} features", unit="clip", disable=not progress,
              dynamic_ncols=True) as bar:
        for chunk in clip_outcomes(feature, sources, n_jobs):
            for row, (first, second) in zip(rows[start:start + len(chunk)], chunk, strict=True):
                if isinstance(first, str):  # (reason, detail) of a clip that failed
                    writer.write_failed(row, f"{first}: {second}")
                    summary.failed[feature.name][first] += 1
                    continue
                done_rows.append(row)
                done_values.append(first)
                durations.append(second)
                if len(done_rows) >= ROWS_PER_WRITE:
                    flush()
            start += len(chunk)
            bar.update(len(chunk))
    flush()


def _clips_of(cache: str | os.PathLike, ids: Sequence[str], data: str | None, columns: dict) -> dict[str, Clip]:
    """The clips by id: `data`'s when given, then (for ids it lacks) the dataset the cache was made from."""
    found = {} if data is None else _by_id(load_manifest(data, **columns).clips)
    if all(clip_id in found for clip_id in ids):
        return found
    with open_cache(cache) as file:
        recorded = str(file.attrs.get("data", ""))
        recorded_columns = ColumnChoice.from_attr(file.attrs.get("columns"), cache)
    if not recorded:
        raise UserError(f"{cache} does not say where its audio came from (no 'data' attribute); "
                        "re-extract it with a current extract-embeddings")
    manifest = load_manifest(recorded, **recorded_columns.manifest_kwargs())
    return {**_by_id(manifest.clips), **found}


def _by_id(clips: Sequence[Clip]) -> dict[str, Clip]:
    return {clip.id: clip for clip in clips}

