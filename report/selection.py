"""Which records the report puts forward: the selected layer and baseline, the per-layer curve, chance."""
from __future__ import annotations

from layerprobe.probes.output import headline_record
from layerprobe.results import FEATURE, LAYER, SELECTED, Comparison, Record, Side

# The ranking score everywhere, as in the probe table: unweighted average recall, robust to imbalance.
RANKING = "balanced_accuracy"


def best(records: list[Record], metric: str = RANKING) -> Record | None:
    """The record with the highest pooled `metric` (the first on ties), None when there are none."""
    return max(records, key=lambda record: record.metric(metric).value, default=None)


def find(records: list[Record], named: Side | None) -> Record | None:
    """The record whose layer and classifier match `named` (e.g. comparison.json's best_layer), else None."""
    if not named:
        return None
    return next((r for r in records if (r.layer, r.classifier) == (named.layer, named.classifier)), None)


def curve_records(layer_records: list[Record]) -> list[Record]:
    """The per-layer records (the curve), without the selected ones or a head over every layer."""
    return [record for record in layer_records if record.layer.kind == LAYER]


def best_layer(layer_records: list[Record], comparison: Comparison | None = None) -> Record:
    """The layer record the report puts forward: the one chosen inside each training part."""
    return find(layer_records, comparison.best_layer if comparison else None) or headline_record(layer_records) \
        or best(layer_records)


def feature_records(baseline_records: list[Record]) -> list[Record]:
    """Baseline records of hand-made features, without chance and the selected record."""
    return [record for record in baseline_records if record.layer.kind == FEATURE]


def best_baseline(baseline_records: list[Record], comparison: Comparison | None = None) -> Record | None:
    """The baseline the report puts forward: the one chosen inside each training part (None without any)."""
    return find(baseline_records, comparison.best_baseline if comparison else None) \
        or headline_record(baseline_records)


def chance_level(record: Record, metric: str) -> tuple[float, str]:
    """The higher of the two chance levels a probe record carries for `metric`, and its name:
    what a classifier that ignores the audio scores on the same folds."""
    levels = {name.replace("_", "-"): scores[metric] for name, scores in record.chance.items() if metric in scores}
    name = max(levels, key=levels.get)
    return levels[name], name


def picks_summary(record: Record) -> str:
    """"layer 7 in 4 folds, layer 8 in 1" (with the classifier when it was chosen too)."""
    counts: dict[str, int] = {}
    for pick in record.picked or []:
        name = pick.layer.describe(pick.classifier if record.classifier == SELECTED else None)
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} in {n} fold{'s' if n > 1 else ''}" for name, n in counts.items())
