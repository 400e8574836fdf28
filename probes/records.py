"""A Candidate (one features x probe over all folds) as a Record (layerprobe/results.py, docs/design.md's shape)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from layerprobe.probes.detection import (
    DETECTION_METRICS, POOLED_SCORES, STORED_SCORES, Detection, per_class_detection, recall_at_precision,
    scores_description, summary, weighted_curves,
)
from layerprobe.probes.evaluate import Candidate
from layerprobe.probes.intervals import (
    CORRECTED_T, LEVEL, bootstrap_intervals, bootstrap_method, corrected_t_interval, too_few_units,
)
from layerprobe.probes.metrics import METRICS, chance_levels, class_counts, count_scores, per_class, pooled_confusion
from layerprobe.probes.protocols import Folds
from layerprobe.results import (
    DetectionMetric, DetectionNote, FoldPredictions, Metric, PerClass, Pick, RecallAtPrecision, Record,
    Source, listed,
)

# Fewer than the other metrics' 2000: each resample re-ranks every test clip once per class, and at
# Speech Commands' size (11,000 test clips, 35 classes) 2000 would take minutes per record.
DETECTION_RESAMPLES = 200
# The selection score (UAR) an edge of a grid must gain over the next point inward to count as rising:
# below it the scores are levelling off, or differ by the solvers' tolerances (0.001-0.003 at chance).
EDGE_RISE = 0.01


def record(c: Candidate, codes: np.ndarray, classes: np.ndarray, folds: Folds, class_weight: str,
           detection: Detection = Detection()) -> Record:
    """The record of one candidate: pooled scores with 95% intervals and per-fold values, per-class
    scores, detection metrics from the decision scores, chance on the same folds, chosen
    hyperparameters, and the out-of-fold predictions (with every class's one-vs-rest score, and the
    positive class's score for two classes).

    codes: the observed label code of every ok clip; classes: the class names, indexed by code.
    detection: the positive class and the precision at which recall is read (two classes).
    """
    K = len(classes)
    names = [str(name) for name in classes]
    fold_counts = np.stack([class_counts(codes[fold.test], predicted, K)
                            for fold, predicted in zip(folds.outer, c.predicted)])
    pooled = fold_counts.sum(axis=0)
    tested = np.concatenate([fold.test for fold in folds.outer])
    per_class_found = per_class(pooled)
    predictions = [FoldPredictions(fold.test.tolist(), [names[p] for p in predicted])
                   for fold, predicted in zip(folds.outer, c.predicted)]
    found = {}
    if c.decisions and all(decision is not None for decision in c.decisions):
        found = _detection(c, codes, names, folds, detection)
        per_class_found.update(found.pop("per_class"))
        positive = detection.positive(names) if K == 2 else None
        predictions = [replace(fold, scores=np.asarray(decision, dtype=np.float32),
                               score=decision[:, positive].astype(np.float64).tolist() if positive is not None else None)
                       for fold, decision in zip(predictions, c.decisions)]
    never = [names[i] for i in np.flatnonzero(pooled[2] == 0)]
    return Record(
        layer=Source.of(c.layer), classifier=c.classifier, protocol=folds.protocol, selection=folds.selection,
        class_weight=class_weight, n_clips=int(len(folds.used)), n_tested=int(len(tested)),
        split_counts=folds.split_counts, classes=names, **_metrics(pooled, fold_counts, folds, codes, c.predicted),
        per_class=PerClass.from_dict(per_class_found),
        **pooled_confusion(codes[tested], np.concatenate(c.predicted), K),
        chance=chance_levels(codes, folds.splits, K), params=c.params, predictions=predictions, **found,
        C=[params.get("C") for params in c.params] if any("C" in params for params in c.params) else None,
        picked=_picks(c), never_predicted=never, layer_weights=c.layer_weights,
        warnings=([never_predicted_warning(c, never, class_weight)] if never else []) + grid_edge_warnings(c)
        + [f"{_describe(c)}: {line}" for line in c.warnings])


def _picks(c: Candidate) -> list[Pick] | None:
    return None if c.picks is None else [Pick.from_dict(pick) for pick in c.picks]


def _describe(c: Candidate) -> str:
    """The candidate as its record will name itself (Source.describe)."""
    return Source.of(c.layer).describe(c.classifier, _picks(c) or ())


def never_predicted_warning(c: Candidate, never: list[str], class_weight: str) -> str:
    """"layer 3 logreg never predicts class(es) owl", with the remedy when the classes were not weighted."""
    line = f"{_describe(c)} never predicts class(es) {listed(never)}"
    return line + ("; --class-weight balanced weighs every class equally" if class_weight == "none" else "")


def grid_edge_warnings(c: Candidate) -> list[str]:
    """A line per hyperparameter chosen at the edge of its grid in more than half the folds, where the
    selection score still rose toward that edge by EDGE_RISE or more: the grid may not reach the best
    value. (An edge chosen on a tie, as when every C separates the classes perfectly, or on a
    smaller rise, as between nearly equal fits at chance, says a wider grid would add as little.)"""
    lines = []
    for name in (c.grid[0] if c.grid else {}):
        values = sorted({point[name] for point in c.grid})
        if len(values) < 2:
            continue
        at_edge = sum(_rising_edge(c.grid, scores, params, name, values) for params, scores in zip(c.params, c.scores))
        if at_edge * 2 > len(c.params):
            lines.append(f"{_describe(c)}: {name} chosen at the edge of its grid ({values[0]:g}..{values[-1]:g}) "
                         f"in {at_edge} of {len(c.params)} folds")
    return lines


def _rising_edge(grid: tuple[dict, ...], scores: np.ndarray, chosen: dict, name: str, values: list) -> bool:
    if chosen[name] not in (values[0], values[-1]):
        return False
    inward = values[1] if chosen[name] == values[0] else values[-2]
    neighbour = next(i for i, point in enumerate(grid) if point == {**chosen, name: inward})
    return bool(scores[grid.index(chosen)] - scores[neighbour] >= EDGE_RISE)


def _metrics(pooled: np.ndarray, fold_counts: np.ndarray, folds: Folds, codes: np.ndarray,
             predicted: list[np.ndarray]) -> dict[str, Metric]:
    """Each metric's summary: the pooled value, its interval (None with a `ci_note` saying why, where a
    single split has too few test units for a bootstrap), the per-fold values and their spread."""
    value, per_fold = count_scores(pooled), count_scores(fold_counts)
    k = len(fold_counts)
    if k > 1:
        ratio = float(np.mean([len(test) / len(fit) for fit, test in folds.splits]))
        intervals = {m: corrected_t_interval(float(value[m]), per_fold[m], ratio) for m in METRICS}
        found = {"ci_method": CORRECTED_T, "ci_note": None}
    else:
        test = folds.outer[0].test
        units = folds.groups[test] if folds.groups is not None else np.arange(len(test))
        unit = "groups" if folds.groups is not None else "clips"
        names = np.unique(units)
        note = too_few_units(unit, len(names))
        if note:
            intervals = dict.fromkeys(METRICS)
            found = {"ci_method": None, "ci_note": note}
        else:
            truth, guessed = codes[test], predicted[0]
            K = pooled.shape[1]
            unit_counts = np.stack([class_counts(truth[units == u], guessed[units == u], K) for u in names])
            intervals = bootstrap_intervals(unit_counts, folds.seed)
            found = {"ci_method": bootstrap_method(unit, len(names)), "ci_note": None}
    return {m: Metric(value=float(value[m]), ci=intervals[m], **found, folds=[float(v) for v in per_fold[m]],
                      std=float(np.std(per_fold[m], ddof=1)) if k > 1 else None) for m in METRICS}


def _detection(c: Candidate, codes: np.ndarray, classes: list[str], folds: Folds, detection: Detection) -> dict:
    """ROC-AUC and AP per class (into per_class) and as metric summaries (the positive class's for two
    classes, else the macro mean), the recall at the asked precision for two classes, and what they mean
    (`detection`): the record's fields, by name."""
    tested = np.concatenate([fold.test for fold in folds.outer])
    truth, scores = codes[tested], np.concatenate(c.decisions)
    positive = detection.positive(classes) if len(classes) == 2 else None
    target = detection.at_precision if positive is not None else None
    pooled = per_class_detection(truth, scores)
    per_fold = [per_class_detection(codes[fold.test], decision) for fold, decision in zip(folds.outer, c.decisions)]
    resampled = _bootstrap(folds, truth, scores, positive, target) if len(folds.outer) == 1 else {}
    out: dict = {"per_class": pooled}
    for name in DETECTION_METRICS:
        values = [summary(fold[name], positive) for fold in per_fold]
        out[name] = DetectionMetric(**_summary_object(summary(pooled[name], positive), values, folds,
                                                      resampled.get(name)))
    if target is not None:
        value, threshold = recall_at_precision(truth == positive, scores[:, positive], target)
        values = [recall_at_precision(codes[fold.test] == positive, decision[:, positive], target)[0]
                  for fold, decision in zip(folds.outer, c.decisions)]
        out["recall_at_precision"] = RecallAtPrecision(
            **_summary_object(value, values, folds, resampled.get("recall_at_precision")), precision=target,
            threshold=threshold)
    out["detection"] = DetectionNote(
        positive_class=classes[positive] if positive is not None else None,
        average=(f"the positive class {classes[positive]!r} against the other" if positive is not None
                 else "macro mean of one-vs-rest values over the classes present in the test clips"),
        scores=scores_description(c.score_kinds, len(classes)), pooled=POOLED_SCORES, stored=STORED_SCORES)
    return out


def _bootstrap(folds: Folds, truth: np.ndarray, scores: np.ndarray, positive: int | None,
               precision: float | None) -> dict[str, np.ndarray]:
    """(DETECTION_RESAMPLES,) values of each detection metric on resamples of a single split's test
    units (groups, else clips): the positive class's, else the mean over the classes present."""
    units = folds.groups[folds.outer[0].test] if folds.groups is not None else np.arange(len(truth))
    _, unit_of = np.unique(units, return_inverse=True)
    n_units = unit_of.max() + 1
    counts = np.random.default_rng(folds.seed).multinomial(n_units, np.full(n_units, 1 / n_units),
                                                           size=DETECTION_RESAMPLES)
    weights = counts[:, unit_of]
    classes = [positive] if positive is not None else [k for k in range(scores.shape[1]) if (truth == k).any()]
    found = [weighted_curves(truth == k, scores[:, k], weights, precision) for k in classes]
    with np.errstate(invalid="ignore"):
        return {name: np.nanmean(np.stack([values[name] for values in found]), axis=0) for name in found[0]}


def _summary_object(value: float | None, per_fold: list[float | None], folds: Folds,
                    resampled: np.ndarray | None) -> dict:
    """A DetectionMetric's fields (value, ci, ci_method, folds, std as for the other metrics, plus the mean
    of the folds that define the metric (pooled scores of models whose scales differ can rank worse
    than each fold's own): a corrected t interval over those folds around the pooled value, or for
    one split the percentiles of its `resampled` values (none, with a `ci_note`, below
    intervals.MIN_BOOTSTRAP_UNITS test units))."""
    defined = np.array([v for v in per_fold if v is not None])
    out = {"value": value, "ci": None, "ci_method": None, "folds": per_fold,
           "fold_mean": float(defined.mean()) if len(defined) else None,
           "std": float(np.std(defined, ddof=1)) if len(defined) > 1 else None}
    if value is None:
        return out
    if len(folds.outer) > 1:
        if len(defined) > 1:
            ratio = float(np.mean([len(test) / len(fit) for fit, test in folds.splits]))
            out.update(ci=corrected_t_interval(value, defined, ratio), ci_method=CORRECTED_T)
        return out
    unit = "groups" if folds.groups is not None else "clips"
    test = folds.outer[0].test
    n_units = len(np.unique(folds.groups[test])) if folds.groups is not None else len(test)
    note = too_few_units(unit, n_units)
    if note:
        return {**out, "ci_note": note}
    tail = 100 * (1 - LEVEL) / 2
    out.update(ci=[float(np.nanpercentile(resampled, tail)), float(np.nanpercentile(resampled, 100 - tail))],
               ci_method=bootstrap_method(unit, n_units, DETECTION_RESAMPLES))
    return out
