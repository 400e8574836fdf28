"""Evaluate hand-made features and chance on exactly the outer folds `probe` uses for the same cache,
so that every baseline record pairs fold by fold with the probe's layer records."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from layerprobe.baselines.classifiers import CHANCE_LAYER, CHANCE_SPECS, baseline_specs, chance_input
from layerprobe.baselines.compute import compute_features, feature_by_name
from layerprobe.baselines.features import Feature
from layerprobe.data.cache import open_cache
from layerprobe.data.label_table import clip_labels
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.options import (BaselineOptions, CurveOptions, DetectionOptions, FitOptions, LabelOptions,
                                MdlOptions, ProtocolOptions)
from layerprobe.probes.detection import Detection
from layerprobe.probes.evaluate import SELECTED
from layerprobe.probes.layer_mdl import check_mdl, clip_groups, with_mdl
from layerprobe.probes.learning_curve import curve_draws, with_learning_curves
from layerprobe.probes.study import study
from layerprobe.probes.sweep import Sweep, cache_folds


def evaluate_baselines(cache: str | os.PathLike, baseline: BaselineOptions = BaselineOptions(),
                       protocol: ProtocolOptions = ProtocolOptions(), fit: FitOptions = FitOptions(),
                       labels: LabelOptions = LabelOptions(), detection: DetectionOptions = DetectionOptions(),
                       curve: CurveOptions = CurveOptions(), mdl: MdlOptions = MdlOptions(), *,
                       progress: bool = False, overwrite: bool = False) -> Sweep:
    """Hand-made features and chance on the folds `probe` uses with the same validated options (see
    layerprobe.run_baselines for what each field does); returns the Sweep (folds, records, clip ids,
    cache attrs) the probe's output functions take. Features missing from the cache are computed
    first. overwrite: recompute a stored feature whose parameters differ instead of refusing.
    curve.learning_curve: every feature record (not chance, which learns nothing) gets its learning curve.
    mdl: with mdl.mdl, each feature's logreg record gains its online codelength (probes/layer_mdl.py)."""
    check_mdl(mdl, baseline.classifiers)
    features = baseline.features
    specs = baseline_specs(baseline.classifiers)
    wanted = [feature_by_name(name) for name in features]  # an unknown name fails before any work
    if _needs_computing(cache, wanted):
        summary = compute_features(cache, features, overwrite=overwrite, progress=progress, n_jobs=fit.n_jobs)
        if progress:
            print(summary, file=sys.stderr)
    with CacheReader(cache) as reader:
        target = clip_labels(reader, labels=labels.labels, label_column=labels.label_column, id_column=labels.id_column)
        y = target.labels
        # The same calls on the same ok rows as probes.sweep.sweep: the clips and folds are identical.
        shared = cache_folds(reader, target, protocol)
        draws = curve_draws(shared, y, curve)
        matrices = {name: _feature_rows(reader, name)[target.rows] for name in features}
        clip_ids = reader.clips["id"].iloc[target.rows].tolist()
        attrs = reader.attrs
        groups = clip_groups(reader, target.rows, y)
    sources = [(name, lambda name=name: matrices[name]) for name in features]
    detection = Detection(detection.positive_class, detection.at_precision)
    # The best baseline is chosen like the layer: inside each training part, among every feature x classifier.
    selection = [(SELECTED, [spec.name for spec in specs])]
    found = study(sources, specs, y, shared, fit, selections=selection, detection=detection, progress=progress,
                  progress_label="baseline fits")
    curved = with_learning_curves(found.records, draws, sources, specs, y, shared, fit, selections=selection,
                                  detection=detection, progress=progress)
    # Chance is neither weighted nor permuted: a majority guess has no weights to learn, and no p-value to give.
    chance = study([(CHANCE_LAYER, lambda: chance_input(len(y)))], CHANCE_SPECS, y, shared,
                   FitOptions(n_jobs=fit.n_jobs), detection=detection)
    # A majority guess never predicting most classes is its definition, not news.
    records = curved + [replace(record, warnings=[]) for record in chance.records]
    notes = [note for note in [target.note()] if note] + found.notes
    return with_mdl(Sweep(shared, records, clip_ids, attrs, notes, classes=records[0].classes, labels=target),
                    sources, groups, protocol, fit, mdl, progress=progress)


def _needs_computing(cache: str | os.PathLike, features: Sequence[Feature]) -> bool:
    """Whether a feature is absent, stored with other parameters, or not yet ok for a clip that did not fail.

    Clips that failed extraction are left alone: retrying them would need the audio again for
    rows no probe reads.
    """
    with open_cache(Path(cache)) as file:
        usable = file["clips/status"][()] != b"failed"
        for feature in features:
            values = file.get(f"features/{feature.name}")
            status = file.get(f"feature_status/{feature.name}")
            if values is None or status is None or values.attrs.get("params") != json.dumps(feature.params, sort_keys=True):
                return True
            if (status[()][usable] != b"ok").any():
                return True
    return False


def _feature_rows(reader: CacheReader, name: str) -> np.ndarray:
    """features/NAME on the ok clips, refusing if any ok clip lacks it (probes would see other rows)."""
    with open_cache(reader.path) as file:
        ok = file["clips/status"][()] == b"ok"
        status = file[f"feature_status/{name}"][()][ok]
        errors = file[f"feature_error/{name}"][()][ok]
        ids = file["clips/id"].asstr()[()][ok]
    bad = np.flatnonzero(status != b"ok")
    if len(bad):
        first = bad[0]
        raise UserError(f"{len(bad)} clip(s) usable by the probes have no {name} feature, so the baseline cannot "
                        f"use the same clips, e.g. {ids[first]}: {errors[first].decode(errors='replace') or 'pending'}")
    return reader.feature(name)
