"""Learning curves (--learning-curve): the same evaluation with every outer training part subsampled.

For each fraction and draw, each outer fold's fitting rows are subsampled (clips stratified by
class, or whole groups stratified by their majority class), the hyperparameters are chosen again
by inner splits made inside the subsample, the probe is refitted on it and scored on the fold's
full test part. So every point is an honest nested estimate at that training size, on the same
test clips as the record itself. Every record of the evaluation gets its curve from the same
draws: each source x probe, and the selected records, whose choice of layer (and classifier) is
made again inside each subsample. The whole training part (fraction 1) is drawn once: its draws
would all be the same rows.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from layerprobe.errors import UserError
from layerprobe.options import CurveOptions, FitOptions
from layerprobe.probes.detection import Detection
from layerprobe.probes.forecast import forecast
from layerprobe.probes.protocols import INNER_FOLDS, Folds, OuterFold, capped, inner_splits
from layerprobe.probes.spec import ProbeSpec
from layerprobe.probes.study import study
from layerprobe.results import METRICS, CurvePoint, LearningCurve, Record


def curve_folds(folds: Folds, labels: np.ndarray, fraction: float, unit: str, repeat: int) -> Folds:
    """`folds` with each outer fold's fitting rows subsampled to `fraction` (draw `repeat`, seeded from
    folds.seed) and its selection splits made again inside them; test parts unchanged.

    unit: "clips" (stratified by class) or "groups" (whole groups). Raises UserError where a
    subsample cannot be probed (fewer clips than classes, a class lost, too few for inner splits).
    """
    if unit == "groups" and folds.groups is None:
        raise UserError("--curve-unit groups subsamples whole groups, and these folds have none "
                        "(no clips/group, or --cv stratified); use --curve-unit clips")
    labels = np.asarray(labels)
    classes, codes = np.unique(labels, return_inverse=True)
    n_classes = len(classes)
    outer = []
    for k, fold in enumerate(folds.outer):
        where = f"--learning-curve {fraction:g}, fold {k + 1}"
        rng = np.random.default_rng([folds.seed, repeat, k, round(fraction * 1_000_000)])
        if fraction == 1:
            fit = fold.fit
        elif unit == "groups":
            fit = _group_subsample(fold.fit, codes, folds.groups, fraction, rng)
        else:
            if round(fraction * len(fold.fit)) < n_classes:
                raise UserError(f"{where}: {round(fraction * len(fold.fit))} of the fitting part's {len(fold.fit)} "
                                f"clips are fewer than its {n_classes} classes; use larger fractions")
            fit = _clip_subsample(fold.fit, codes, fraction, rng)
        lost = np.setdiff1d(np.arange(n_classes), codes[fit])
        if lost.size:
            raise UserError(f"{where}: the subsample of whole groups holds no clip of class(es) "
                            f"{', '.join(map(str, classes[lost]))}; use larger fractions or --curve-unit clips")
        _check_inner(fit, codes, classes, folds, where)
        outer.append(OuterFold(fit, fold.test, _selection(fold, fit, labels, folds, where)))
    return capped(replace(folds, outer=outer, warnings=[]))


def _check_inner(fit: np.ndarray, codes: np.ndarray, classes: np.ndarray, folds: Folds, where: str) -> None:
    """Refuse a subsample too small for the inner splits that choose its hyperparameters, in the curve's words."""
    if folds.selection != "inner-cv":
        return
    if folds.groups is not None:
        n_groups = len(np.unique(folds.groups[fit]))
        if n_groups < 2:
            raise UserError(f"{where}: the subsample keeps {n_groups} group; choosing hyperparameters by grouped "
                            "inner CV needs at least 2; use larger fractions")
        return
    kept = np.bincount(codes[fit], minlength=len(classes))
    if kept.min() < INNER_FOLDS:
        raise UserError(f"{where}: the subsample keeps {kept.min()} clip(s) of class {str(classes[kept.argmin()])!r}; "
                        f"choosing hyperparameters by {INNER_FOLDS}-fold inner CV needs at least {INNER_FOLDS}; "
                        "use larger fractions")


def _clip_subsample(rows: np.ndarray, codes: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows keeping each class's share: round(fraction x its count) of each class, at least one."""
    kept = [rng.permutation(members)[:max(1, round(fraction * len(members)))]
            for members in (rows[codes[rows] == c] for c in np.unique(codes[rows]))]
    return np.sort(np.concatenate(kept))


def _group_subsample(rows: np.ndarray, codes: np.ndarray, groups: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Sorted rows of whole groups: of the groups whose most frequent class is c, round(fraction x their
    number) (at least one), for every such c, so that speaker-level labels keep their classes."""
    names, of_row = np.unique(groups[rows], return_inverse=True)
    counts = np.zeros((len(names), int(codes.max()) + 1), dtype=np.int64)
    np.add.at(counts, (of_row, codes[rows]), 1)
    majority = counts.argmax(axis=1)
    kept = [rng.permutation(members)[:max(1, round(fraction * len(members)))]
            for members in (np.flatnonzero(majority == c) for c in np.unique(majority))]
    return rows[np.isin(of_row, np.concatenate(kept))]


def _selection(fold: OuterFold, fit: np.ndarray, labels: np.ndarray, folds: Folds, where: str) -> tuple:
    """The subsample's selection splits: inner splits made inside it, or with the dataset's validation
    split its training rows kept in the subsample against the whole validation part (it is not trained on)."""
    if folds.selection == "validation":
        return tuple((np.intersect1d(train, fit), validation) for train, validation in fold.selection)
    groups = None if folds.groups is None else folds.groups[fit]
    try:
        inner = inner_splits(labels[fit], groups, folds.seed)
    except UserError as error:
        raise UserError(f"{where}: {error}; use larger fractions") from None
    return tuple((fit[train], fit[validation]) for train, validation in inner)


def curve_draws(folds: Folds, labels: np.ndarray, curve: CurveOptions) -> list[tuple[float, int, Folds]]:
    """(fraction, draw, subsampled folds) of every point of the curve, each checked (curve_folds);
    none without --learning-curve. Made before the first fit, so that a bad fraction costs nothing."""
    if curve.learning_curve is None:
        return []
    return [(fraction, repeat, curve_folds(folds, labels, fraction, curve.curve_unit, repeat))
            for fraction in curve.learning_curve for repeat in range(1 if fraction == 1 else curve.curve_repeats)]


def with_learning_curves(records: list[Record], draws: list[tuple[float, int, Folds]],
                         sources: Sequence[tuple[int | str, Callable[[], np.ndarray]]], specs: Sequence[ProbeSpec],
                         labels: np.ndarray, folds: Folds, fit: FitOptions, *,
                         selections: Sequence[tuple[str, Sequence[str]]] = (), detection: Detection = Detection(),
                         progress: bool = False) -> list[Record]:
    """The records of study(sources, specs, labels, folds, ...) each with its learning curve over `draws`
    (curve_draws) and its forecast; unchanged without draws. Each draw is one study without
    permutations (a curve's points carry intervals, not p-values)."""
    if not draws:
        return records
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    points: dict[tuple, list[CurvePoint]] = {}
    bar = tqdm(draws, disable=not progress, desc="learning curve", unit="draw", file=sys.stderr)
    for fraction, repeat, subsampled in bar:
        bar.set_postfix(fraction=f"{fraction:g}")
        found = study(sources, specs, labels, subsampled, replace(fit, permutations=0), selections=selections,
                      detection=detection)
        sizes = _sizes(subsampled, codes, classes)
        for rec in found.records:
            points.setdefault(_key(rec), []).append(
                CurvePoint(fraction, repeat, *sizes, **{name: rec.metric(name) for name in METRICS}))
    return [replace(rec, learning_curve=_curve(points[_key(rec)], classes, detection, folds))
            if _key(rec) in points else rec for rec in records]


def _key(rec: Record) -> tuple:
    return rec.layer.to_json(), rec.classifier


def _sizes(folds: Folds, codes: np.ndarray, classes: np.ndarray) -> tuple[float, dict[str, float]]:
    """Clips per fitting part and per class of it, each the mean over the outer folds."""
    counts = np.stack([np.bincount(codes[fold.fit], minlength=len(classes)) for fold in folds.outer])
    return float(counts.sum(axis=1).mean()), {str(name): float(n) for name, n in zip(classes, counts.mean(axis=0))}


def _curve(points: list[CurvePoint], classes: np.ndarray, detection: Detection, folds: Folds) -> LearningCurve:
    """The curve and its forecast against clips per class (two classes: of the positive class)."""
    names = [str(name) for name in classes]
    positive = names[detection.positive(names)] if len(names) == 2 else None
    x_name = (f"training clips of the positive class {positive!r}" if positive is not None
              else "training clips per class (mean over the classes)")
    found, note = forecast(points, LearningCurve(points).sizes(names, positive), x_name, len(folds.outer), folds.seed)
    return LearningCurve(points, found, note)
