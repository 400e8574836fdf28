"""What a sweep looks like to people (a terminal table) and to the report stage (one JSON object)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from layerprobe.atomic_write import writable_folder, write_text_atomic
from layerprobe.probes.forecast import forecast_sentence
from layerprobe.probes.layer_mdl import mdl_lines
from layerprobe.probes.sweep import Sweep
from layerprobe.results import ALL_LAYERS, SELECTED, Comparison, DetectionMetric, Document, Metric, Record, Side
from layerprobe.results_file import write_document

RESULTS_FILE = "probe_results.json"
# The metrics every table shows, with the titles people read.
COLUMNS = (("accuracy", "accuracy"), ("balanced_accuracy", "UAR"), ("macro_f1", "macro-F1"))
# Below this share of the test clips a positive class gets the --class-weight hint.
RARE_SHARE = 0.10


def document(result: Sweep, cache: str | os.PathLike[str], options: dict) -> Document:
    """The results document of `probe --format json`: run-level facts at the top, `results` below.

    options: the settings the sweep ran with (classifier, class_weight, permutations, cv, ...).
    Record `predictions[k].index` values index into `clip_ids` and `clip_labels` (the label each
    clip was probed for).
    """
    folds = result.folds
    return Document(
        cache=os.fspath(cache), model=str(result.cache_attrs.get("model", "")),
        model_fingerprint=str(result.cache_attrs.get("model_fingerprint", "")), protocol=folds.protocol,
        protocol_reason=folds.reason, selection=folds.selection, leak=folds.leak, n_folds=len(folds.outer),
        seed=folds.seed, split_counts=folds.split_counts,
        fold_sizes=[{"fit": len(fold.fit), "test": len(fold.test)} for fold in folds.outer], options=options,
        n_clips=int(len(folds.used)), classes=result.classes,
        label_source=result.labels.to_dict() if result.labels else None, clip_ids=result.clip_ids,
        clip_labels=result.labels.labels.tolist() if result.labels else None, warnings=warnings(result),
        results=result.records)


def warnings(result: Sweep) -> list[str]:
    """The protocol's warnings, the run's notes, the class-weight hint for a rare positive class, then
    each record's."""
    hint = [line for line in [rare_positive_hint(result.records[0])] if line] if result.records else []
    return result.folds.warnings + result.notes + hint + [w for record in result.records for w in record.warnings]


def rare_positive_hint(record: Record) -> str | None:
    """One line suggesting --class-weight balanced when, of two classes, the positive one is under
    RARE_SHARE of the test clips and the classes were not weighted; else None. Unweighted probes
    of a rare class tend to predict the majority class, and their UAR stays near 0.5."""
    if len(record.classes) != 2 or record.class_weight != "none":
        return None
    positive = (record.detection.positive_class if record.detection else None) or record.classes[1]
    support = record.per_class.support
    count, total = support[record.classes.index(positive)], sum(support)
    if count >= RARE_SHARE * total:
        return None
    return (f"the positive class {positive!r} is {count / total:.1%} of the test clips ({count} of {total}) and "
            "the classes are not weighted, so the probes may seldom predict it: try --class-weight balanced")


def write_results(doc: Document | Comparison, out_dir: str | os.PathLike[str], name: str = RESULTS_FILE) -> Path:
    """Write the JSON document to OUT_DIR/NAME (creating OUT_DIR) atomically, a results document's
    scores in its side file (layerprobe/results_file.py), and return the JSON's path."""
    if isinstance(doc, Document):
        save_document(doc, out_dir, name)
        return Path(out_dir) / name
    return write_text_atomic(writable_folder(out_dir) / name, json.dumps(doc.to_dict(), indent=1))


def save_document(doc: Document, out_dir: str | os.PathLike[str], name: str = RESULTS_FILE) -> Document:
    """Write a results document to OUT_DIR/NAME with its scores' side file; returns it as written
    (`scores_file` set), which is what `--format json` prints beside it."""
    return write_document(doc, writable_folder(out_dir) / name)


def headline_record(records: list[Record]) -> Record | None:
    """The record a headline puts forward: the layer (and classifier) chosen inside each training part;
    for a run of a head over every layer alone (which chooses no layer), its record."""
    selected = [record for record in records if record.layer.kind == SELECTED]
    overall = [record for record in selected if record.classifier == SELECTED]
    heads = [record for record in records if record.layer.kind == ALL_LAYERS]
    return (overall or selected or heads or [None])[0]


def protocol_line(doc: Document) -> str:
    """One line: the protocol, why it was chosen, how hyperparameters were chosen, and the clips per split."""
    counts = doc.split_counts
    per_split = f"; clips per split: {', '.join(f'{k} {v}' for k, v in counts.items())}" if set(counts) - {"none"} else ""
    folds = "1 split" if doc.n_folds == 1 else f"{doc.n_folds} folds"
    return (f"protocol: {doc.protocol} ({folds}, seed {doc.seed}, hyperparameters chosen by "
            f"{doc.selection}): {doc.protocol_reason}{per_split}")


def table(doc: Document, first_column: str = "layer") -> str:
    """A fixed-width table of a results document: one row per record, each figure the pooled value
    with its 95% interval; the selected rows last. For two classes the selected record's detection
    figures lead (see detection_headline). first_column: its title ("feature" for baselines)."""
    records = doc.results
    if not records:
        return "no results"
    has_p = any(record.significance for record in records)
    first = records[0]
    chance = first.chance
    top = headline_record(records)
    name = top.describe() if top else ""
    lines = [protocol_line(doc)]
    if doc.leak:
        lines.append(f"LEAK: {doc.leak}")
    lines.append(f"{first.n_clips} clips, {len(first.classes)} classes; chance: majority accuracy "
                 f"{chance['majority']['accuracy']:.3f}, class-prior accuracy {chance['class_prior']['accuracy']:.3f}, "
                 f"UAR {chance['class_prior']['balanced_accuracy']:.3f}")
    lead = detection_headline(top) if top is not None else None
    if lead:
        lines.append(f"{name}: {lead}; UAR {with_interval(top.balanced_accuracy)}")
    lines += [
        "",
        f"{first_column:>8}  {'classifier':<17}  " + "".join(f"{title:<22}" for _, title in COLUMNS)
        + ("p-value  p (family-wise)" if has_p else ""),
    ]
    for record in records:
        cells = "".join(f"{with_interval(record.metric(metric)):<22}" for metric, _ in COLUMNS)
        test = record.significance
        p = f"{test.p_value:<9.3g}{test.p_value_fwer:.3g}" if test else ""
        lines.append(f"{str(record.layer):>8}  {record.classifier:<17}  {cells}{p}".rstrip())
    lines.append(f"pooled out-of-fold value [{interval_method(first.accuracy)}]")
    if top is not None:
        if top.picked:  # a head over every layer chose none
            picks = ", ".join(f"{p.layer}" + (f" ({p.classifier})" if top.classifier == SELECTED else "")
                              for p in top.picked)
            lines.append(f"{name}: chosen inside each training part, per fold: {picks}")
        if top.roc_auc:
            lines.append(f"{name}: {detection_line(top)}")
        if top.learning_curve:
            lines.append(f"{name}: learning curve: {forecast_sentence(top.learning_curve)}")
    return "\n".join(lines + mdl_lines(records))


def detection_headline(record: Record) -> str | None:
    """For two classes, what a detector is judged by, to lead with instead of UAR: "average precision
    of 'owl' pooled 0.62 [..], fold mean 0.64, against 0.17 for random scores (its prevalence), recall
    0.40 [..] at precision 0.9 (decision score >= 0.31 ...)"; None for more classes or a record without
    decision scores."""
    if len(record.classes) != 2 or record.average_precision is None:
        return None
    positive = record.detection.positive_class
    support = record.per_class.support
    prevalence = support[record.classes.index(positive)] / sum(support)
    line = (f"average precision of {positive!r} {pooled_and_fold_mean(record.average_precision)}, against "
            f"{prevalence:.3f} for random scores (its prevalence)")
    at = record.recall_at_precision
    if at:
        reached = (f"decision score >= {at.threshold:.4g} on the pooled out-of-fold scores"
                   if at.threshold is not None else "no threshold reaches that precision")
        line += f", recall {with_interval(at)} at precision {at.precision:g} ({reached})"
    return line


def detection_line(record: Record) -> str:
    """"ROC-AUC pooled 0.91 [..], fold mean 0.92; average precision pooled 0.62 [..], fold mean 0.64 (...);
    recall of 'owl' at precision 0.9: 0.40 [..]" for a record."""
    detection = record.detection
    line = (f"ROC-AUC {pooled_and_fold_mean(record.roc_auc)}; average precision "
            f"{pooled_and_fold_mean(record.average_precision)} ({detection.average})")
    if record.recall_at_precision:
        at = record.recall_at_precision
        line += f"; recall of {detection.positive_class!r} at precision {at.precision:g}: {with_interval(at)}"
    return line


def pooled_and_fold_mean(summary: DetectionMetric) -> str:
    """"pooled 0.912 [0.880, 0.940], fold mean 0.925" from a detection metric object: its value on the
    scores pooled over folds, and the mean of its per-fold values where there are several folds."""
    text = f"pooled {with_interval(summary)}"
    if summary.fold_mean is not None and len(summary.folds) > 1:
        text += f", fold mean {summary.fold_mean:.3f}"
    return text


def with_interval(summary: Metric | Side) -> str:
    """"0.712 [0.650, 0.770]" from a metric summary (or a comparison's side); "0.712 (no interval)"
    where it has none (interval_method says why), "n/a" without a value."""
    if summary.value is None:
        return "n/a"
    if summary.ci is None:
        return f"{summary.value:.3f} (no interval)"
    low, high = summary.ci
    return f"{summary.value:.3f} [{low:.3f}, {high:.3f}]"


def interval_method(summary: Metric) -> str:
    """"95% interval: <ci_method>", or "no 95% interval: <why>" for a metric summary without one."""
    if summary.ci is not None:
        return f"95% interval: {summary.ci_method}"
    return f"no 95% interval: {summary.ci_note or 'too few folds define the metric'}"
