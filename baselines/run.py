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
from layerprobe.options import BaselineOptions
from layerprobe.probes.classifiers import CLASS_WEIGHTS
from layerprobe.probes.detection import Detection
from layerprobe.probes.evaluate import SELECTED
from layerprobe.probes.study import study
from layerprobe.probes.sweep import Sweep, cache_folds
from layerprobe.results import Record

DEFAULT_CLASSIFIERS = BaselineOptions.classifiers


def evaluate_baselines(cache: str | os.PathLike, features: Sequence[str] = ("mfcc",),
                       classifiers: Sequence[str] = DEFAULT_CLASSIFIERS, *, cv: str | None = None, folds: int = 5,
                       seed: int = 0, fold_column: str | None = None, refit: str = "train",
                       class_weight: str = "none", permutations: int = 0, n_jobs: int = -1,
                       labels: str | os.PathLike | None = None, label_column: str | None = None,
                       id_column: str | None = None, positive_class: str | None = None,
                       at_precision: float | None = None, progress: bool = False, overwrite: bool = False) -> Sweep:
    """Like `baselines`, but returns the Sweep (folds, records, clip ids, cache attrs) the probe's
    output functions take. overwrite: recompute a stored feature whose parameters differ instead
    of refusing (default False)."""
    if class_weight not in CLASS_WEIGHTS:
        raise UserError(f"unknown class weighting {class_weight!r}; choose from {', '.join(CLASS_WEIGHTS)}")
    if permutations < 0:
        raise UserError(f"--permutations must be >= 0, got {permutations}")
    specs = baseline_specs(classifiers)
    wanted = [feature_by_name(name) for name in features]  # an unknown name fails before any work
    if _needs_computing(cache, wanted):
        summary = compute_features(cache, features, overwrite=overwrite, progress=progress, n_jobs=n_jobs)
        if progress:
            print(summary, file=sys.stderr)
    with CacheReader(cache) as reader:
        target = clip_labels(reader, labels=labels, label_column=label_column, id_column=id_column)
        y = target.labels
        # The same calls on the same ok rows as probes.sweep.sweep: the clips and folds are identical.
        shared = cache_folds(reader, target, cv=cv, folds=folds, seed=seed, fold_column=fold_column, refit=refit)
        matrices = {name: _feature_rows(reader, name)[target.rows] for name in features}
        clip_ids = reader.clips["id"].iloc[target.rows].tolist()
        attrs = reader.attrs
    sources = [(name, lambda name=name: matrices[name]) for name in features]
    detection = Detection(positive_class, at_precision)
    # The best baseline is chosen like the layer: inside each training part, among every feature x classifier.
    selection = [(SELECTED, [spec.name for spec in specs])]
    found = study(sources, specs, y, shared, class_weight=class_weight, permutations=permutations,
                  selections=selection, detection=detection, n_jobs=n_jobs, progress=progress,
                  progress_label="baseline fits")
    chance = study([(CHANCE_LAYER, lambda: chance_input(len(y)))], CHANCE_SPECS, y, shared, detection=detection,
                   n_jobs=n_jobs)
    # A majority guess never predicting most classes is its definition, not news.
    records = found.records + [replace(record, warnings=[]) for record in chance.records]
    notes = [note for note in [target.note()] if note] + found.notes
    return Sweep(shared, records, clip_ids, attrs, notes, classes=records[0].classes, labels=target)


def baselines(cache: str | os.PathLike, features: Sequence[str] = ("mfcc",),
              classifiers: Sequence[str] = DEFAULT_CLASSIFIERS, *, cv: str | None = None, folds: int = 5,
              seed: int = 0, fold_column: str | None = None, refit: str = "train", class_weight: str = "none",
              permutations: int = 0, n_jobs: int = -1, labels: str | os.PathLike | None = None,
              label_column: str | None = None, id_column: str | None = None, positive_class: str | None = None,
              at_precision: float | None = None, progress: bool = False) -> list[Record]:
    """Baseline records (docs/design.md JSON shape) on the folds `probe` would use with the same arguments.

    cache: the HDF5 cache; features missing from it are computed first. features: names of
    hand-made features ("mfcc" default, "logmel", "egemaps"); each record's "layer" is the name.
    classifiers: "logreg", "linear-svm", "ridge" (the probes' own linear classifiers, the default:
    minutes at Speech Commands size) and "svm-rbf" (an RBF SVM, C x gamma chosen on the selection
    splits: the MFCC + SVM baseline, asked for by name, since its time grows with the square of
    the clips or faster), each after a StandardScaler. A record with layer
    and classifier "selected" chooses among them inside each training part. Two chance records are
    always added, with layer "chance" and classifier "majority" / "stratified-random". cv, folds,
    seed, fold_column, refit, class_weight, permutations, n_jobs, labels, label_column, id_column,
    positive_class, at_precision: as for probes.sweep.probe.
    progress: show progress bars and the feature summary (default False).
    """
    return evaluate_baselines(cache, features, classifiers, cv=cv, folds=folds, seed=seed, fold_column=fold_column,
                              refit=refit, class_weight=class_weight, permutations=permutations, n_jobs=n_jobs,
                              labels=labels, label_column=label_column, id_column=id_column,
                              positive_class=positive_class, at_precision=at_precision, progress=progress).records


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
