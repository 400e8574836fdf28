"""One evaluation: feature sources x probes on shared folds -> records, "selected" records and
permutation p-values (per record and family-wise). Used by the probe sweep and the baselines alike."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from layerprobe.options import FitOptions
from layerprobe.probes.detection import Detection
from layerprobe.probes.evaluate import SELECTED, Candidate, Plan, evaluate_candidates, extend, null_statistic, select
from layerprobe.probes.permutation_folds import permutation_folds
from layerprobe.probes.protocols import Folds
from layerprobe.probes.records import record
from layerprobe.results import Record, Significance
from layerprobe.probes.significance import (
    MIN_ASSIGNMENTS, distinct_assignments, max_t_p_values, near_group_level_note, p_value, permuted_labels,
    resolution_note, scheme,
)
from layerprobe.probes.spec import ProbeSpec

# Permutations expected to take longer than this are announced before they start.
ANNOUNCE_SECONDS = 180.0


@dataclass(frozen=True)
class Study:
    """Records (per source x probe, then the selected ones) and run-level notes (the permutation
    scheme's resolution). The probes refitted on all clips for saving are probes/final_fits.py's."""

    records: list[Record]
    notes: list[str] = field(default_factory=list)


def study(sources: Sequence[tuple[int | str, Callable[[], np.ndarray]]], specs: Sequence[ProbeSpec],
          labels: np.ndarray, folds: Folds, fit: FitOptions = FitOptions(), *,
          selections: Sequence[tuple[str, Sequence[str]]] = (), detection: Detection = Detection(),
          progress: bool = False, progress_label: str = "probe fits") -> Study:
    """Evaluate every source with every spec on `folds`.

    Parameters
    ----------
    sources : (name, loader) pairs; loader() returns the (n_clips, F) matrix, called when its jobs are due.
    specs : the probes.
    labels : the label of every ok clip.
    folds : from protocols.outer_folds on the same clips.
    fit : the class weighting, the label permutations for p-values and the joblib workers (validated).
    selections : (classifier name, spec names) pairs: a "selected" record per pair, choosing among the
        sources x those specs inside each training part.
    detection : the positive class and the precision of the recall reported for two classes
        (default: the second class, no recall at precision); checked against the classes first.
    progress : show a progress bar (default False).
    progress_label : what the bar calls the fits (default "probe fits").
    """
    class_weight, permutations, n_jobs = fit.class_weight, fit.permutations, fit.n_jobs
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    detection.check([str(name) for name in classes])
    notes = []
    kind = scheme(codes, folds.groups)
    if permutations:
        notes += [note for note in (resolution_note(codes, folds.groups, kind, permutations),
                                    near_group_level_note(codes, folds.groups, kind)) if note]
        if distinct_assignments(codes, folds.groups, kind) < MIN_ASSIGNMENTS:
            permutations = 0
    plan = Plan(codes[None, :], len(classes), folds, class_weight, folds.seed)
    started = time.perf_counter()
    candidates = evaluate_candidates(sources, specs, plan, n_jobs, progress, progress_label=progress_label)
    observed_seconds = time.perf_counter() - started
    selected = [select([c for c in candidates if c.classifier in names], name) for name, names in selections]
    everything: list[Candidate] = candidates + selected
    records = [record(c, codes, classes, folds, class_weight, detection) for c in everything]
    if permutations:
        test_folds, folds_note = permutation_folds(folds, kind)
        cost = permutation_cost(observed_seconds, fit_seconds(candidates), specs, permutations)
        if progress and cost:
            print(cost, file=sys.stderr)
        tested = _tested(sources, specs, candidates, codes, test_folds, kind, permutations, plan, n_jobs, progress,
                         progress_label)
        tested += [select([c for c in tested if c.classifier in names], name) for name, names in selections]
        records = _with_p_values(records, tested, kind, permutations, folds_note)
    return Study(records, notes)


def fit_seconds(candidates: Sequence[Candidate]) -> dict[str, float]:
    """The seconds each probe's fits took in the observed run, summed over its sources and folds."""
    seconds: dict[str, float] = {}
    for c in candidates:
        seconds[c.classifier] = seconds.get(c.classifier, 0.0) + c.seconds
    return seconds


def permutation_cost(observed_seconds: float, seconds: Mapping[str, float], specs: Sequence[ProbeSpec],
                     permutations: int) -> str | None:
    """One line announcing the permutations' expected time when it exceeds a few minutes, else None.

    observed_seconds: the observed run's wall time; seconds: each probe's fit time in it (fit_seconds).
    A probe that refits per label vector (batch 1: logreg, linear-svm, mlp, weighted-sum) costs its
    share of the observed run's fit time once per permutation: the weighted sum, one fit over every
    layer, weighs what its fits took, not what one layer's would. A batched probe (ridge) shares its
    decompositions across them and is left out of the estimate.
    """
    refitting = [spec.name for spec in specs if spec.batch == 1]
    total = sum(seconds.get(spec.name, 0.0) for spec in specs)
    share = sum(seconds.get(name, 0.0) for name in refitting) / total if total > 0 else len(refitting) / len(specs)
    expected = observed_seconds * share * permutations
    if expected < ANNOUNCE_SECONDS:
        return None
    return (f"permutations: {permutations} re-runs of every {', '.join(refitting)} fit, about {expected / 60:.0f} min "
            "expected (ridge shares one decomposition across them: --classifier ridge tests in a fraction of it)")


def selections_for(specs: Sequence[ProbeSpec]) -> list[tuple[str, list[str]]]:
    """A selected record per classifier that reads one layer, and one choosing the classifier as well
    when there are several. A head over every layer reads one source, the all-layers stack: choosing
    among it alone would repeat its record, so it is chosen only beside other classifiers."""
    pairs = [(spec.name, [spec.name]) for spec in specs if spec.reads == "layer"]
    return pairs + ([(SELECTED, [spec.name for spec in specs])] if len(specs) > 1 else [])


def _tested(sources: Sequence[tuple[int | str, Callable[[], np.ndarray]]], specs: Sequence[ProbeSpec],
            candidates: list[Candidate], codes: np.ndarray, folds: Folds, kind: str, permutations: int, plan: Plan,
            n_jobs: int, progress: bool, progress_label: str) -> list[Candidate]:
    """The candidates a permutation test compares: label vector 0 the observed labels, then the
    permutations, all on `folds` (the protocol's own, whose observed run is reused, or label-free ones)."""
    shuffled = permuted_labels(codes, folds.groups, kind, permutations, folds.seed)
    if folds is plan.folds:
        nulls = evaluate_candidates(sources, specs, replace(plan, codes=shuffled, first_observed=False),
                                    n_jobs, progress, progress_label=progress_label)
        return [extend(observed, null) for observed, null in zip(candidates, nulls)]
    # On folds of their own the observed labels are one more label vector, evaluated like the permuted ones.
    every = np.vstack([codes[None, :], shuffled])
    return evaluate_candidates(sources, specs, replace(plan, codes=every, folds=folds, first_observed=False),
                               n_jobs, progress, progress_label=progress_label)


def _with_p_values(records: list[Record], candidates: list[Candidate], kind: str, permutations: int,
                   folds_note: str) -> list[Record]:
    """The records with their permutation test: the p-value, the family-wise one over all of them."""
    statistics = np.stack([null_statistic(c) for c in candidates])  # (R, 1 + P)
    family = max_t_p_values(statistics[:, 0], statistics[:, 1:].T)
    return [replace(rec, significance=Significance(
        permutation=kind, permutations=permutations, p_value=p_value(stats[0], stats[1:]), p_value_fwer=float(fwer),
        null_mean=float(stats[1:].mean()), permutation_folds=folds_note, permutation_observed=float(stats[0])))
        for rec, stats, fwer in zip(records, statistics, family)]
