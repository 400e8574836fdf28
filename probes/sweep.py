"""The layer sweep: every requested layer x classifier on the same outer folds, plus the layer
chosen inside each training part ("selected"), in one joblib pool."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from layerprobe.data.clip_columns import clip_column
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.layer_spec import parse_layers
from layerprobe.probes.classifiers import CLASS_WEIGHTS, classifier_specs
from layerprobe.probes.metrics import METRICS
from layerprobe.probes.protocols import Folds, outer_folds
from layerprobe.probes.spec import LinearModel
from layerprobe.probes.study import selections_for, study


@dataclass(frozen=True)
class Sweep:
    """A finished sweep: the shared folds, one record per layer x classifier then the selected ones,
    the ok clip ids (record indices point into them), the cache's root attributes, run-level notes,
    and the probes refitted on all clips when asked for, keyed by (layer, classifier)."""

    folds: Folds
    records: list[dict]
    clip_ids: list[str]
    cache_attrs: dict
    notes: list[str] = field(default_factory=list)
    models: dict[tuple, LinearModel] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)


def select_layers(choice: str | int | Sequence[int], stored: list[int]) -> list[int]:
    """The layers to probe: "all", one index, a list, or a string such as "3,6,9" or "0,3-5"."""
    if isinstance(choice, int):
        wanted = [choice]
    elif isinstance(choice, str):
        wanted = parse_layers(choice)
        if wanted is None:
            wanted = list(stored)
    else:
        wanted = [int(i) for i in choice]
    missing = sorted(set(wanted) - set(stored))
    if missing:
        raise UserError(f"layer(s) {', '.join(map(str, missing))} not in the cache; stored layers: "
                        f"{', '.join(map(str, stored)) or 'none'}")
    return sorted(set(wanted))


def cache_folds(reader: CacheReader, *, cv: str | None = None, folds: int = 5, seed: int = 0,
                fold_column: str | None = None, refit: str = "train") -> Folds:
    """The outer folds of a cache's ok clips: the one call probe and baselines share, so their folds match."""
    clips = reader.clips
    fold_ids = clip_column(reader, fold_column) if fold_column else None
    return outer_folds(clips["label"].to_numpy(), clips["group"].to_numpy(), clips["split"].to_numpy(),
                       fold_ids=fold_ids, cv=cv, folds=folds, seed=seed, refit=refit)


def sweep(cache: str | os.PathLike[str], layers: str | int | Sequence[int] = "all", classifier: str = "all", *,
          cv: str | None = None, folds: int = 5, seed: int = 0, fold_column: str | None = None,
          refit: str = "train", class_weight: str = "none", permutations: int = 0, n_jobs: int = -1,
          pooling: str = "mean", save_models: bool = False, progress: bool = False) -> Sweep:
    """Probe cached layers; see `probe` for the parameters. save_models: also refit each probe on
    all clips (C chosen by the same kind of selection) for saving (default False)."""
    if class_weight not in CLASS_WEIGHTS:
        raise UserError(f"unknown class weighting {class_weight!r}; choose from {', '.join(CLASS_WEIGHTS)}")
    if permutations < 0:
        raise UserError(f"--permutations must be >= 0, got {permutations}")
    specs = classifier_specs(classifier)
    with CacheReader(cache) as reader:
        chosen = select_layers(layers, reader.layers)
        shared = cache_folds(reader, cv=cv, folds=folds, seed=seed, fold_column=fold_column, refit=refit)
        clips = reader.clips
        reader.layer(chosen[0], pooling)  # an absent pooling is said before the folds are fitted
        sources = [(layer, lambda layer=layer: reader.layer(layer, pooling)) for layer in chosen]
        result = study(sources, specs, clips["label"].to_numpy(), shared, class_weight=class_weight,
                       permutations=permutations, selections=selections_for([s.name for s in specs]),
                       keep_models=save_models, n_jobs=n_jobs, progress=progress)
        attrs = reader.attrs
    for record in result.records:
        record["pooling"] = pooling
    classes = result.records[0]["classes"]
    return Sweep(shared, result.records, clips["id"].tolist(), attrs, result.notes, result.models, classes)


def probe(cache: str | os.PathLike[str], layers: str | int | Sequence[int] = "all", classifier: str = "all", *,
          cv: str | None = None, folds: int = 5, seed: int = 0, fold_column: str | None = None,
          refit: str = "train", class_weight: str = "none", permutations: int = 0, n_jobs: int = -1,
          pooling: str = "mean") -> list[dict]:
    """Linear probes on cached layers -> one record per layer x classifier, then the selected layer's.

    Parameters
    ----------
    cache : path of the HDF5 cache.
    layers : "all" (default), an index, a list, or "3,6,9" / "3-9".
    classifier : "logreg", "linear-svm", "ridge" or "all" (default).
    cv : None (default) chooses the protocol from the data; else "split", "group", "loso", "stratified".
    folds : outer folds for k-fold protocols (default 5).
    seed : makes splits, shuffles and solvers reproducible (default 0).
    fold_column : a column of predefined folds (clips/COL, else the cache's manifest column).
    refit : with a validation split, refit on "train" (default) or "train+validation".
    class_weight : "none" (default), "balanced" or "sqrt".
    permutations : label permutations for p-values, per record and family-wise (default 0: none).
    n_jobs : joblib workers, -1 for all cores (default).
    pooling : "mean" (default), "std", "max", or several joined by "+" ("mean+std"), whose vectors
        are concatenated (statistics pooling); each must be stored in the cache.
    """
    return sweep(cache, layers, classifier, cv=cv, folds=folds, seed=seed, fold_column=fold_column, refit=refit,
                 class_weight=class_weight, permutations=permutations, n_jobs=n_jobs, pooling=pooling).records


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per record: layer, classifier, protocol, n_clips, <metric> and its interval, p-values if any."""
    rows = []
    for record in records:
        row = {key: record[key] for key in ("layer", "classifier", "protocol", "selection", "n_clips")}
        for metric in METRICS:
            row[metric] = record[metric]["value"]
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = record[metric]["ci"]
        for key in ("p_value", "p_value_fwer"):
            if key in record:
                row[key] = record[key]
        rows.append(row)
    return pd.DataFrame(rows)
