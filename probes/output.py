"""What a sweep looks like to people (a terminal table) and to the report stage (one JSON object)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from layerprobe.probes.sweep import Sweep

RESULTS_FILE = "probe_results.json"
# The metrics every table shows, with the titles people read.
COLUMNS = (("accuracy", "accuracy"), ("balanced_accuracy", "UAR"), ("macro_f1", "macro-F1"))


def document(result: Sweep, cache: str | os.PathLike[str], options: dict) -> dict:
    """The JSON object of `probe --format json`: run-level facts at the top, `results` below.

    options: the settings the sweep ran with (classifier, class_weight, permutations, cv, ...).
    Record `predictions[k].index` values index into `clip_ids`.
    """
    records = result.records
    return {
        "cache": os.fspath(cache),
        "model": str(result.cache_attrs.get("model", "")),
        "protocol": result.folds.protocol,
        "n_folds": len(result.folds.splits),
        "seed": result.folds.seed,
        "fold_sizes": [{"train": len(train), "test": len(test)} for train, test in result.folds.splits],
        **options,
        "n_clips": records[0]["n_clips"] if records else 0,
        "classes": records[0]["classes"] if records else [],
        "clip_ids": result.clip_ids,
        "warnings": warnings(result),
        "results": records,
    }


def warnings(result: Sweep) -> list[str]:
    """The protocol's warnings, then each record's."""
    return result.folds.warnings + [w for record in result.records for w in record["warnings"]]


def write_results(doc: dict, out_dir: str | os.PathLike[str]) -> Path:
    """Write the JSON document to OUT_DIR/probe_results.json (creating OUT_DIR) and return its path."""
    path = Path(out_dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return path


def table(doc: dict) -> str:
    """A fixed-width table of a results document (see `document`): one row per layer x classifier,
    mean +- std, * on each classifier's best layer (by UAR)."""
    records = doc["results"]
    if not records:
        return "no results"
    best = {}
    for record in records:
        score = record["balanced_accuracy"]["mean"]
        if score > best.get(record["classifier"], (-1.0, None))[0]:
            best[record["classifier"]] = (score, record["layer"])
    has_p = any("p_value" in record for record in records)
    first = records[0]
    chance = first["chance"]
    lines = [
        f"protocol: {doc['protocol']} ({doc['n_folds']} fold(s), seed {doc['seed']}), "
        f"{first['n_clips']} clips, {len(first['classes'])} classes",
        f"chance: majority accuracy {chance['majority']['accuracy']:.3f}, "
        f"class-prior accuracy {chance['class_prior']['accuracy']:.3f}, UAR {chance['class_prior']['balanced_accuracy']:.3f}",
        "",
        "  layer  classifier  " + "".join(f"{title:<17}" for _, title in COLUMNS) + ("p-value" if has_p else ""),
    ]
    for record in records:
        mark = "*" if best[record["classifier"]][1] == record["layer"] else " "
        cells = "".join(f"{mean_std(record[metric]):<17}" for metric, _ in COLUMNS)
        p = f"{record['p_value']:.3g}" if "p_value" in record else ""
        lines.append(f"{mark} {str(record['layer']):>5}  {record['classifier']:<10}  {cells}{p}".rstrip())
    lines.append("* best layer per classifier (highest UAR)")
    return "\n".join(lines)


def mean_std(summary: dict) -> str:
    """"0.712 ± 0.031" from {"mean", "std", ...}; the mean alone when std is None (one fold)."""
    if summary["std"] is None:
        return f"{summary['mean']:.3f}"
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"
