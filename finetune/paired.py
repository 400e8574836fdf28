"""Each rung against the frozen probe's selected layer, fold by fold, on the folds they share: the project's
paired test (baselines/paired.py: the corrected resampled t-test over folds, McNemar's on a single split), the
difference's corrected t interval, and Holm's family-wise p-values over the rungs tested; then the one
sentence that says what the ladder found."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from layerprobe.baselines.paired import paired_comparison
from layerprobe.probes.intervals import corrected_t_interval
from layerprobe.probes.output import headline_record
from layerprobe.results import Comparison, Record

LEVEL = 0.05
METRIC = "balanced_accuracy"


def ladder_comparisons(rungs: list[Record], probe: list[Record], labels: list[str]) -> list[Comparison]:
    """One Comparison per rung that did not collapse (rung minus the probe's headline record), Holm-corrected."""
    frozen = headline_record(probe)
    if frozen is None:
        return []
    found = [_with_interval(paired_comparison(record, frozen, METRIC, labels), record) for record in rungs
             if not record.collapsed]
    adjusted = holm([entry.p_value for entry in found])
    return [replace(entry, p_value_fwer=p) for entry, p in zip(found, adjusted)]


def _with_interval(entry: Comparison, record: Record) -> Comparison:
    if entry.n_folds < 2:
        return entry
    sizes = np.array([len(fold.index) for fold in record.predictions])
    ratio = float(np.mean(sizes / (record.n_clips - sizes)))
    return replace(entry, difference_ci=corrected_t_interval(entry.value_difference, np.array(entry.differences),
                                                             ratio, bounds=(-1.0, 1.0)))


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None, and does not count in the family)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def verdict(rungs: list[Record], paired: list[Comparison]) -> str:
    """"lora adds +0.040 UAR over the frozen probe (95% interval [0.010, 0.070], p = 0.02) with 0.3M trainable
    parameters; full does not differ from it (p = 0.41); top-k collapsed (no result)"."""
    by_rung = {entry.best_layer.classifier: entry for entry in paired}
    parts = []
    for record in rungs:
        entry = by_rung.get(record.rung)
        if record.collapsed:
            parts.append(f"{record.rung} collapsed (no result)")
        elif entry is None or entry.p_value_fwer is None:
            parts.append(f"{record.rung}: no paired test ({entry.note if entry else 'no frozen probe to pair with'})")
        elif entry.p_value_fwer < LEVEL:
            change = "adds" if entry.value_difference > 0 else "loses"
            interval = (f"95% interval [{entry.difference_ci[0]:+.3f}, {entry.difference_ci[1]:+.3f}], "
                        if entry.difference_ci else "")
            parts.append(f"{record.rung} {change} {entry.value_difference:+.3f} UAR over the frozen probe ({interval}"
                         f"p = {entry.p_value_fwer:.2g}, family-wise) with {_count(record.trainable_parameters)} "
                         "trainable parameters")
        else:
            parts.append(f"{record.rung} does not differ from the frozen probe ({entry.value_difference:+.3f} UAR, "
                         f"p = {entry.p_value_fwer:.2g}, family-wise)")
    return "; ".join(parts)


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)
