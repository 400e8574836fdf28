"""What the ladder trains on: the probe's own clips, labels and outer folds, read from a run folder's
probe_results.json or computed from a cache with the probe's protocol options (the same call the probe makes).

No fold is made here: probes.sweep.cache_folds makes them, as for the probe and the baselines, and a run
folder's folds are checked against the ones its probe results hold.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from layerprobe.data.label_table import ClipLabels, clip_labels
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.options import LabelOptions, ProtocolOptions
from layerprobe.probes.protocols import Folds
from layerprobe.probes.sweep import cache_folds
from layerprobe.report.run_dir import read_run_dir
from layerprobe.results import Document


@dataclass(frozen=True)
class LadderInput:
    """The cache, its labelled ok clips (`target`: rows among the ok clips and their labels), their ids and
    durations (seconds), the cache's root attributes, the outer folds, the protocol and label options they
    were made with, and the probe document they came from (None when a cache was given)."""

    cache: str
    target: ClipLabels
    clip_ids: list[str]
    durations: np.ndarray
    attrs: dict
    folds: Folds
    protocol: ProtocolOptions
    labels: LabelOptions
    probe: Document | None = None


def ladder_input(source: str | os.PathLike[str], protocol: ProtocolOptions = ProtocolOptions(),
                 labels: LabelOptions = LabelOptions()) -> LadderInput:
    """The ladder's clips and folds from SOURCE: a run folder (its probe_results.json names the cache and the
    protocol, whose folds must be the ones its records hold; `protocol` and `labels` are then not read) or a
    cache (with `protocol` and `labels`, as given to `probe`)."""
    path = Path(source)
    if path.is_dir():
        probe = read_run_dir(path).probe
        protocol, labels = _options_of(ProtocolOptions, probe), _options_of(LabelOptions, probe)
        found = _from_cache(_cache_of(probe, path), protocol, labels, probe)
        _check_same_folds(found, probe, path)
        return found
    if not path.is_file():
        raise UserError(f"{path}: no such cache or run folder")
    return _from_cache(str(path), protocol, labels, None)


def _from_cache(cache: str, protocol: ProtocolOptions, labels: LabelOptions, probe: Document | None) -> LadderInput:
    with CacheReader(cache) as reader:
        target = clip_labels(reader, labels=labels.labels, label_column=labels.label_column, id_column=labels.id_column)
        folds = cache_folds(reader, target, protocol)
        clips = reader.clips.iloc[target.rows]
        attrs = reader.attrs
    if any(not fold.selection for fold in folds.outer):
        raise UserError("an outer training part has no inner split to choose the learning rate on")
    return LadderInput(cache, target, clips["id"].tolist(), clips["duration"].to_numpy(np.float64), attrs, folds,
                       protocol, labels, probe)


def _options_of(group: type, probe: Document):
    """The group's fields as the probe document recorded them (its defaults for those it lacks)."""
    return group(**{spec.name: probe.options[spec.name] for spec in fields(group) if spec.name in probe.options})


def _cache_of(probe: Document, run: Path) -> str:
    """The probe's cache as its document names it: as given, else relative to the run folder."""
    for candidate in (Path(probe.cache), run / probe.cache):
        if candidate.is_file():
            return str(candidate)
    raise UserError(f"{run}: its probe results name the cache {probe.cache}, which does not exist")


def _check_same_folds(found: LadderInput, probe: Document, run: Path) -> None:
    """The folds computed again must be the probe's: the same clips, each fold's test clips the same."""
    records = [record for record in probe.results if record.predictions]
    if not records:
        raise UserError(f"{run}: its probe results hold no folds (no record keeps its out-of-fold predictions)")
    tested = [sorted(fold.index) for fold in records[0].predictions]
    if probe.clip_ids != found.clip_ids or tested != [fold.test.tolist() for fold in found.folds.outer]:
        raise UserError(f"{run}: the folds of {found.cache} are no longer those of its probe results (the cache or "
                        "its labels changed since): run the probe again")
