"""Evaluate one feature matrix with one tuned classifier on the shared outer folds -> one record.

The work is cut into independent jobs (one per outer fold, and one per fold and label shuffle for
the permutation test) so that a sweep can run the jobs of many layers in one joblib pool.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from layerprobe.probes.classifiers import ProbeSpec, class_weights, fitted_pipeline
from layerprobe.probes.metrics import METRICS, chance_levels, fold_scores, per_class, summarize
from layerprobe.probes.protocols import Folds, Split, inner_splits
from layerprobe.probes.significance import STATISTIC, p_value, permuted_labels


@dataclass(frozen=True)
class FoldFit:
    """What one outer fold yields: test predictions, chosen hyperparameters, and the fitted
    Pipeline when it is to be saved (None otherwise, to keep results small between processes)."""

    predicted: np.ndarray
    params: dict[str, float]
    pipeline: Pipeline | None = None


def fit_fold(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, spec: ProbeSpec,
             class_weight: str, inner: list[Split], keep: bool = False) -> FoldFit:
    """Choose hyperparameters on `inner` splits of the training part, refit on it, predict `test`.

    The test rows reach the estimator only through predict(), after fitting.
    """
    estimator = spec.build(class_weights(class_weight, y[train]), inner)
    estimator.fit(X[train], y[train])
    predicted = estimator.predict(X[test]) if len(test) else np.array([], dtype=y.dtype)
    return FoldFit(predicted, spec.chosen(estimator), fitted_pipeline(estimator) if keep else None)


def permuted_fold_score(X: np.ndarray, y_shuffled: np.ndarray, train: np.ndarray, test: np.ndarray,
                        spec: ProbeSpec, class_weight: str, groups: np.ndarray | None, seed: int) -> float:
    """The permutation statistic of one outer fold, with the whole nested procedure re-run on
    shuffled labels (inner folds included: C selection is part of what is being tested)."""
    inner = inner_splits(y_shuffled[train], None if groups is None else groups[train], seed)
    fit = fit_fold(X, y_shuffled, train, test, spec, class_weight, inner)
    return fold_scores(y_shuffled[test], fit.predicted)[STATISTIC]


def record_jobs(X: np.ndarray, y: np.ndarray, folds: Folds, spec: ProbeSpec, class_weight: str,
                shuffles: list[np.ndarray], key: Hashable) -> Iterator[tuple[tuple, object]]:
    """The joblib jobs for one record, each as ((key, kind, index...), delayed call)."""
    for k, (train, test) in enumerate(folds.splits):
        yield (key, "fold", k), delayed(fit_fold)(X, y, train, test, spec, class_weight, folds.inner[k])
    for p, shuffled in enumerate(shuffles):
        for k, (train, test) in enumerate(folds.splits):
            yield (key, "null", p, k), delayed(permuted_fold_score)(
                X, shuffled, train, test, spec, class_weight, folds.groups, folds.seed)


def run_jobs(jobs: Iterator[tuple[tuple, object]], n_jobs: int, total: int, progress: bool) -> dict[tuple, object]:
    """Run keyed jobs in one joblib pool; `jobs` is consumed lazily, so a sweep holds few layers at once."""
    keys: list[tuple] = []

    def calls() -> Iterator[object]:
        for job_key, call in jobs:
            keys.append(job_key)
            yield call

    # Results come back in submission order, and a job is submitted before its result exists.
    results = Parallel(n_jobs=n_jobs, return_as="generator")(calls())
    outcomes = {}
    for i, result in enumerate(tqdm(results, total=total, disable=not progress, desc="probe fits", unit="fit")):
        outcomes[keys[i]] = result
    return outcomes


def assemble(layer: int | str, spec_name: str, y: np.ndarray, folds: Folds, class_weight: str,
             outcomes: dict[tuple, object], key: Hashable, n_shuffles: int) -> dict:
    """The record of one (features, classifier): per-fold and pooled scores, chance, p-value."""
    fits: list[FoldFit] = [outcomes[(key, "fold", k)] for k in range(len(folds.splits))]
    scores = [fold_scores(y[test], fit.predicted) for (_, test), fit in zip(folds.splits, fits)]
    classes = np.unique(y)
    tested = np.concatenate([test for _, test in folds.splits])
    pooled_pred = np.concatenate([fit.predicted for fit in fits])
    used = np.unique(np.concatenate([np.concatenate(split) for split in folds.splits]))
    never = [str(c) for c in np.setdiff1d(classes, pooled_pred)]
    record = {
        "layer": layer,
        "classifier": spec_name,
        "protocol": folds.protocol,
        "class_weight": class_weight,
        "n_clips": int(len(used)),
        "classes": [str(c) for c in classes],
        **{metric: summarize([s[metric] for s in scores]) for metric in METRICS},
        **per_class(y[tested], pooled_pred, classes),
        "chance": chance_levels(y, folds.splits),
        "C": [fit.params.get("C") for fit in fits],
        "params": [fit.params for fit in fits],
        "predictions": [{"index": test.tolist(), "predicted": [str(p) for p in fit.predicted]}
                        for (_, test), fit in zip(folds.splits, fits)],
        "never_predicted": never,
        "warnings": [f"{_name(layer)} {spec_name} never predicts class(es) {', '.join(never)}"] if never else [],
    }
    if n_shuffles:
        null = [np.mean([outcomes[(key, "null", p, k)] for k in range(len(folds.splits))])
                for p in range(n_shuffles)]
        record["permutations"] = n_shuffles
        record["p_value"] = p_value(float(np.mean([s[STATISTIC] for s in scores])), null)
        record["null_mean"] = float(np.mean(null))
    return record


def evaluate(X: np.ndarray, y: np.ndarray, folds: Folds, spec: ProbeSpec, *, layer: int | str,
             class_weight: str = "none", permutations: int = 0, n_jobs: int = 1, progress: bool = False) -> dict:
    """Evaluate features X (n_clips, F) with `spec` on `folds` -> one record (DESIGN.md shape).

    y: labels of the same rows. folds: from protocols.outer_folds on the same rows. layer: what
    the record's "layer" says (int for encoder layers, the feature name for baselines).
    class_weight: "none" (default), "balanced" or "sqrt". permutations: label shuffles for the
    p-value (default 0: none). n_jobs: joblib workers (default 1).
    """
    shuffles = permuted_labels(y, folds.groups, permutations, folds.seed)
    total = len(folds.splits) * (1 + permutations)
    outcomes = run_jobs(record_jobs(X, y, folds, spec, class_weight, shuffles, layer), n_jobs, total, progress)
    return assemble(layer, spec.name, y, folds, class_weight, outcomes, layer, permutations)


def _name(layer: int | str) -> str:
    return f"layer {layer}" if isinstance(layer, int) else str(layer)
