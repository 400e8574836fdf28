"""The layer sweep: every requested layer x classifier on the same outer folds, plus the layer
chosen inside each training part ("selected"), in one joblib pool."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from layerprobe.data.clip_columns import clip_column
from layerprobe.data.label_table import ClipLabels, clip_labels
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.options import CurveOptions, DetectionOptions, FitOptions, LabelOptions, ProbeOptions, ProtocolOptions
from layerprobe.probes.classifiers import classifier_specs
from layerprobe.probes.detection import Detection
from layerprobe.probes.final_fits import FinalFit, final_fits
from layerprobe.probes.layer_stack import LayerStack
from layerprobe.probes.learning_curve import curve_draws, with_learning_curves
from layerprobe.probes.protocols import Folds, outer_folds
from layerprobe.probes.spec import ProbeSpec
from layerprobe.probes.study import selections_for, study
from layerprobe.results import ALL_LAYERS, Record, Source


@dataclass(frozen=True)
class Sweep:
    """A finished sweep: the shared folds, one record per layer x classifier then the selected ones,
    the ok clip ids (record indices point into them), the cache's root attributes, run-level notes,
    the probes refitted on all clips when asked for (every layer x classifier, in order; see
    final_fits), and where the labels came from (only the labelled ok clips are probed)."""

    folds: Folds
    records: list[Record]
    clip_ids: list[str]
    cache_attrs: dict
    notes: list[str] = field(default_factory=list)
    fits: list[FinalFit] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    labels: ClipLabels | None = None
    layers: list[int] = field(default_factory=list)


def select_layers(wanted: Sequence[int] | None, stored: list[int]) -> list[int]:
    """The layers to probe: `wanted` (None: every stored one), each checked against the cache."""
    if wanted is None:
        return sorted(stored)
    missing = sorted(set(wanted) - set(stored))
    if missing:
        raise UserError(f"layer(s) {', '.join(map(str, missing))} not in the cache; stored layers: "
                        f"{', '.join(map(str, stored)) or 'none'}")
    return sorted(set(wanted))


def cache_folds(reader: CacheReader, target: ClipLabels | None = None,
                protocol: ProtocolOptions = ProtocolOptions()) -> Folds:
    """The outer folds of a cache's labelled ok clips (target: which, and their labels; default
    clips/label): the one call probe and baselines share, so their folds match.

    When every class lies within a single group, grouped CV would leave every test class unseen: the
    protocol chosen is then stratified k-fold over clips, which asks whether the group is identifiable
    from the features. That is the point with --label-column group (the label is the group itself);
    for any other label it is a leak, named in `leak` and the warnings: the score measures speaker
    identifiability, not the label.
    """
    target = target or clip_labels(reader)
    cv, folds, seed, fold_column = None if protocol.cv == "auto" else protocol.cv, protocol.folds, protocol.seed, \
        protocol.fold_column
    clips = reader.clips.iloc[target.rows]
    fold_ids = clip_column(reader, fold_column)[target.rows] if fold_column else None
    groups, split = clips["group"].to_numpy(), clips["split"].to_numpy()
    if cv is None and fold_ids is None and names_its_group(target.labels, groups):
        found = outer_folds(target.labels, cv="stratified", folds=folds, seed=seed)
        reason = (f"stratified {folds}-fold CV over clips, because every {target.column!r} class lies within a "
                  "single group, so group-wise CV would leave every test class unseen: this asks whether the "
                  f"{target.column} is identifiable from the features of other clips of the same group")
        others = [w for w in found.warnings if w != found.leak]
        if np.array_equal(target.labels, groups):
            return replace(found, reason=f"{reason} (the label is the group itself, as asked)", leak=None,
                           warnings=others)
        leak = (f"every {target.column!r} class lies within a single group, so the label names the group: the "
                f"score measures how identifiable the speakers (groups) are, not {target.column!r}; no "
                "speaker-independent protocol exists for this label (give --label-column group to probe the "
                "group on purpose)")
        return replace(found, reason=reason, leak=leak, warnings=[leak, *others])
    return outer_folds(target.labels, groups, split, fold_ids=fold_ids, cv=cv, folds=folds, seed=seed,
                       refit=protocol.refit, fold_name=f"--fold-column {fold_column}")


def names_its_group(labels: np.ndarray, groups: np.ndarray) -> bool:
    """Whether groups exist and every class occurs within one group only (the speaker probed as the label)."""
    if (groups == "").all():
        return False
    return bool(pd.Series(groups).groupby(labels).nunique().max() == 1)


def sweep(cache: str | os.PathLike[str], probe: ProbeOptions = ProbeOptions(),
          protocol: ProtocolOptions = ProtocolOptions(), fit: FitOptions = FitOptions(), labels: LabelOptions = LabelOptions(),
          detection: DetectionOptions = DetectionOptions(), curve: CurveOptions = CurveOptions(), *,
          progress: bool = False) -> Sweep:
    """Probe cached layers with validated options (see layerprobe.probe for what each field does).
    probe.save_model: also refit each probe on all clips (C chosen by the same kind of selection) for
    saving, the selected probe among them. curve.learning_curve: every record also gets its learning
    curve (probes/learning_curve.py)."""
    pooling = probe.pooling
    specs = classifier_specs(probe.classifiers, solver=probe.solver)
    with CacheReader(cache) as reader:
        chosen = select_layers(probe.layer_indices, reader.layers)
        target = clip_labels(reader, labels=labels.labels, label_column=labels.label_column, id_column=labels.id_column)
        shared = cache_folds(reader, target, protocol)
        rows = target.rows
        reader.layer(chosen[0], pooling)  # an absent pooling is said before the folds are fitted
        sources = layer_sources(reader, chosen, pooling, rows, specs)
        draws = curve_draws(shared, target.labels, curve)
        selections = selections_for([s.name for s in specs])
        chosen_detection = Detection(detection.positive_class, detection.at_precision)
        result = study(sources, specs, target.labels, shared, fit, selections=selections, detection=chosen_detection,
                       progress=progress)
        curved = with_learning_curves(result.records, draws, sources, specs, target.labels, shared, fit,
                                      selections=selections, detection=chosen_detection, progress=progress)
        classes = result.records[0].classes
        codes = np.unique(target.labels, return_inverse=True)[1]  # the codes study fitted, sorted class names
        fits = final_fits(sources, specs, codes, len(classes), shared, fit, progress=progress) if probe.save_model \
            else []
        clip_ids = reader.clips["id"].iloc[rows].tolist()
        attrs = reader.attrs
    records = [replace(record, pooling=pooling) for record in curved]
    notes = [note for note in [target.note()] if note] + result.notes
    return Sweep(shared, records, clip_ids, attrs, notes, fits, classes, target, chosen)


def layer_sources(reader: CacheReader, chosen: list[int], pooling: str, rows: np.ndarray,
                  specs: Sequence[ProbeSpec]) -> list[tuple[int | str, Callable[[], np.ndarray | LayerStack]]]:
    """(name, loader) per chosen layer where a spec reads one layer, then ("all", every chosen layer as a
    LayerStack) where one reads them all: each loaded when its jobs are due, and the stack once, its
    layers as the cache gives them (no (n, L, D) copy)."""
    sources: list = []
    if any(spec.reads == "layer" for spec in specs):
        sources += [(layer, lambda layer=layer: _rows(reader.layer(layer, pooling), rows)) for layer in chosen]
    if any(spec.reads == "all-layers" for spec in specs):
        sources.append((Source(ALL_LAYERS).to_json(), lambda: LayerStack(tuple(chosen), tuple(
            _rows(reader.layer(layer, pooling), rows) for layer in chosen))))
    return sources


def _rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """X[rows], without a copy where rows are every row in order (every ok clip labelled)."""
    return X if len(rows) == len(X) and np.array_equal(rows, np.arange(len(X))) else X[rows]


def records_frame(records: Sequence[Record]) -> pd.DataFrame:
    """One row per record: layer, classifier, protocol, n_clips, <metric> and its interval (NaN where
    the record has none, as for a split with too few test groups), p-values if any (Record.row)."""
    return pd.DataFrame([record.row() for record in records])
