"""The report's one-glance summary: the selected layer, the weighted sum of layers when the run has one,
the selected baseline and chance, each with its 95% interval, and the paired test's verdict."""
from __future__ import annotations

from layerprobe.probes.output import with_interval
from layerprobe.report.document import Block, Table
from layerprobe.report.layer_weights import weighted_sum_name, weighted_sum_record
from layerprobe.report.run_dir import RunInputs
from layerprobe.report.selection import RANKING, best_baseline, best_layer, chance_level, picks_summary
from layerprobe.results import ALL_LAYERS, CHANCE, SELECTED, Comparison, Record

HEADER = ["", "UAR (95% interval)", "accuracy (95% interval)", "paired test against the baseline"]
# The chance baseline record that draws each chance level of a probe record on the same folds.
CHANCE_RECORDS = {"majority": "majority", "class-prior": "stratified-random"}
LEVEL = 0.05


def summary_table(inputs: RunInputs) -> list[Block]:
    """One row each for the record the headline puts forward, the weighted sum (when run and not that
    record), the selected baseline (when run) and chance; the first row carries the paired verdict."""
    top = best_layer(inputs.layer_records, inputs.comparison)
    rows = [[_name(top), *_scores(top), verdict(inputs.comparison)]]
    heads = weighted_sum_record(inputs.layer_records)
    if heads is not None and heads is not top:
        rows.append([_name(heads), *_scores(heads), ""])
    baseline = best_baseline(inputs.baseline_records, inputs.comparison)
    if baseline is not None:
        rows.append([f"baseline {_name(baseline)}", *_scores(baseline), ""])
    rows.append(_chance_row(top, inputs.baseline_records))
    return [Table(HEADER, rows)]


def verdict(found: Comparison | None) -> str:
    """"better (UAR +0.123, p = 0.003)", "worse (...)", "no clear difference (...)" at 0.05, or why
    there is no test."""
    if found is None:
        return "not run"
    if found.p_value is None:
        return f"no test ({found.note or 'no p-value was computed'})"
    metric = "UAR" if found.metric == RANKING else found.metric.replace("_", " ")
    figures = f"{metric} {found.value_difference:+.3f}, p = {found.p_value:.3g}"
    if found.p_value > LEVEL or found.value_difference == 0:
        return f"no clear difference at {LEVEL:g} ({figures})"
    return f"{'better' if found.value_difference > 0 else 'worse'} at {LEVEL:g} ({figures})"


def _name(record: Record) -> str:
    """"selected: layer 7 logreg in 4 folds, layer 8 logreg in 1" ("selected ridge: layer 7 in 5 folds"
    for one classifier's), "weighted sum of layers 0-12", or what a record that chose nothing read."""
    if record.layer.kind == ALL_LAYERS:
        return weighted_sum_name(record)
    picks = picks_summary(record)
    if not picks:
        return record.describe()
    return f"{'selected' if record.classifier == SELECTED else f'selected {record.classifier}'}: {picks}"


def _scores(record: Record) -> list[str]:
    return [with_interval(record.metric(RANKING)), with_interval(record.accuracy)]


def _chance_row(top: Record, baseline_records: list[Record]) -> list[str]:
    """Chance as the headline states it (the higher level on the same folds), with the interval of the
    chance baseline that draws it when the baselines ran (else its expected value, which has none)."""
    _, kind = chance_level(top, RANKING)
    drawn = next((r for r in baseline_records if r.layer.kind == CHANCE and r.classifier == CHANCE_RECORDS.get(kind)),
                 None)
    if drawn is not None:
        return [f"chance ({kind}, {drawn.classifier} baseline)", *_scores(drawn), ""]
    levels = top.chance[kind.replace("-", "_")]
    return [f"chance ({kind}, expected on the same folds)", *(f"{levels[m]:.3f} (no interval)" if m in levels
                                                             else "n/a" for m in (RANKING, "accuracy")), ""]
