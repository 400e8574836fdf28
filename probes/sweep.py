"""The layer sweep: every requested layer x classifier on the same outer folds, in one joblib pool."""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import delayed
from sklearn.pipeline import Pipeline

from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.layer_spec import parse_layers
from layerprobe.probes.classifiers import CLASS_WEIGHTS, ProbeSpec, classifier_specs
from layerprobe.probes.evaluate import assemble, fit_fold, record_jobs, run_jobs
from layerprobe.probes.metrics import METRICS
from layerprobe.probes.protocols import Folds, inner_splits, outer_folds
from layerprobe.probes.significance import permuted_labels

@dataclass(frozen=True)
class Sweep:
    """A finished sweep: the shared folds, one record per layer x classifier, the ok clip ids
    (record indices point into them), the cache's root attributes, and the probes refitted on all
    clips when models were asked for, keyed by (layer, classifier)."""

    folds: Folds
    records: list[dict]
    clip_ids: list[str]
    cache_attrs: dict
    models: dict[tuple[int, str], Pipeline] = field(default_factory=dict)


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


def sweep(cache: str | os.PathLike[str], layers: str | int | Sequence[int] = "all", classifier: str = "all",
          cv: str | None = None, folds: int = 5, seed: int = 0, class_weight: str = "none",
          permutations: int = 0, n_jobs: int = -1, save_models: bool = False, progress: bool = False) -> Sweep:
    """Probe cached layers; see `probe` for the parameters. save_models: also refit each probe on
    all clips (C chosen by the same kind of inner CV) for saving (default False)."""
    if class_weight not in CLASS_WEIGHTS:
        raise UserError(f"unknown class weighting {class_weight!r}; choose from {', '.join(CLASS_WEIGHTS)}")
    if permutations < 0:
        raise UserError(f"--permutations must be >= 0, got {permutations}")
    specs = classifier_specs(classifier)
    with CacheReader(cache) as reader:
        chosen = select_layers(layers, reader.layers)
        clips = reader.clips
        y = clips["label"].to_numpy()
        shared = outer_folds(y, clips["group"].to_numpy(), clips["split"].to_numpy(), cv, folds, seed)
        shuffles = permuted_labels(y, shared.groups, permutations, seed)
        total = len(chosen) * len(specs) * (len(shared.splits) * (1 + permutations) + save_models)
        jobs = _jobs(reader, chosen, specs, y, shared, class_weight, shuffles, save_models)
        outcomes = run_jobs(jobs, n_jobs, total, progress)
        attrs = reader.attrs
    records = [assemble(layer, spec.name, y, shared, class_weight, outcomes, (layer, spec.name), permutations)
               for layer in chosen for spec in specs]
    models = {(layer, spec.name): outcomes[((layer, spec.name), "final")].pipeline
              for layer in chosen for spec in specs if save_models}
    return Sweep(shared, records, clips["id"].tolist(), attrs, models)


def _jobs(reader: CacheReader, layers: list[int], specs: list[ProbeSpec], y: np.ndarray, folds: Folds,
          class_weight: str, shuffles: list[np.ndarray], save_models: bool) -> Iterator[tuple[tuple, object]]:
    # A generator: joblib pulls jobs as workers free up, so a layer is read only when its first job
    # is due and dropped once its last job is submitted.
    used = np.unique(np.concatenate([np.concatenate(split) for split in folds.splits]))
    final_inner = inner_splits(y[used], None if folds.groups is None else folds.groups[used], folds.seed)
    for layer in layers:
        X = reader.layer(layer)
        for spec in specs:
            yield from record_jobs(X, y, folds, spec, class_weight, shuffles, (layer, spec.name))
            if save_models:
                yield ((layer, spec.name), "final"), delayed(fit_fold)(
                    X, y, used, np.array([], dtype=int), spec, class_weight, final_inner, keep=True)


def probe(cache: str | os.PathLike[str], layers: str | int | Sequence[int] = "all", classifier: str = "all",
          cv: str | None = None, folds: int = 5, seed: int = 0, class_weight: str = "none",
          permutations: int = 0, n_jobs: int = -1) -> list[dict]:
    """Linear probes on cached layers -> one record per layer x classifier (DESIGN.md JSON shape).

    cache: path of the HDF5 cache. layers: "all" (default), an index, a list, or "3,6,9" / "3-9".
    classifier: "logreg", "linear-svm" or "all" (default). cv: None (default) chooses the protocol
    from the data; else "split", "group", "loso" or "stratified". folds: outer folds for k-fold
    protocols (default 5). seed: makes splits and shuffles reproducible (default 0). class_weight:
    "none" (default), "balanced" or "sqrt". permutations: label shuffles for a p-value per record
    (default 0: no test). n_jobs: joblib workers, -1 for all cores (default).
    """
    return sweep(cache, layers, classifier, cv, folds, seed, class_weight, permutations, n_jobs).records


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per record: layer, classifier, protocol, n_clips, <metric>_mean/_std, p_value if any."""
    rows = []
    for record in records:
        row = {key: record[key] for key in ("layer", "classifier", "protocol", "n_clips")}
        for metric in METRICS:
            row[f"{metric}_mean"] = record[metric]["mean"]
            row[f"{metric}_std"] = record[metric]["std"]
        if "p_value" in record:
            row["p_value"] = record["p_value"]
        rows.append(row)
    return pd.DataFrame(rows)
