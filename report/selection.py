"""Which records the report puts forward: the best layer, the best baseline per feature, chance."""
from __future__ import annotations

# The ranking score everywhere, as in the probe table: unweighted average recall, robust to imbalance.
RANKING = "balanced_accuracy"
CHANCE = "chance"


def best(records: list[dict], metric: str = RANKING) -> dict | None:
    """The record with the highest mean `metric` (the first on ties), None when there are none."""
    return max(records, key=lambda record: record[metric]["mean"], default=None)


def find(records: list[dict], named: dict | None) -> dict | None:
    """The record whose layer and classifier match `named` (e.g. comparison.json's best_layer), else None."""
    if not named:
        return None
    return next((r for r in records if (r["layer"], r["classifier"]) == (named.get("layer"), named.get("classifier"))),
                None)


def best_layer(layer_records: list[dict], comparison: dict | None) -> dict:
    """The layer the report puts forward: the one the paired test used, else the highest UAR."""
    return find(layer_records, (comparison or {}).get("best_layer")) or best(layer_records)


def feature_records(baseline_records: list[dict]) -> list[dict]:
    """Baseline records of hand-made features, without the chance baselines."""
    return [record for record in baseline_records if record["layer"] != CHANCE]


def best_baseline(baseline_records: list[dict], comparison: dict | None) -> dict | None:
    """The baseline the paired test used, else the feature baseline with the highest UAR (None without any)."""
    features = feature_records(baseline_records)
    return find(features, (comparison or {}).get("best_baseline")) or best(features)


def best_per_feature(baseline_records: list[dict]) -> list[dict]:
    """For each feature (in order of first appearance), its record with the highest UAR."""
    by_feature: dict[str, list[dict]] = {}
    for record in feature_records(baseline_records):
        by_feature.setdefault(record["layer"], []).append(record)
    return [best(records) for records in by_feature.values()]


def chance_level(record: dict, metric: str) -> tuple[float, str]:
    """The higher of the two chance levels a probe record carries for `metric`, and its name:
    what a classifier that ignores the audio scores on the same folds."""
    levels = {name.replace("_", "-"): scores[metric] for name, scores in record["chance"].items() if metric in scores}
    name = max(levels, key=levels.get)
    return levels[name], name
