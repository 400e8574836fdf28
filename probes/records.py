"""A Candidate (one features x probe over all folds) as a record of DESIGN.md's JSON shape."""
from __future__ import annotations

import numpy as np

from layerprobe.probes.evaluate import Candidate
from layerprobe.probes.intervals import CLIP_BOOTSTRAP, CORRECTED_T, GROUP_BOOTSTRAP, bootstrap_intervals, corrected_t_interval
from layerprobe.probes.metrics import METRICS, chance_levels, confusion, per_class, scores
from layerprobe.probes.protocols import Folds


def record(c: Candidate, codes: np.ndarray, classes: np.ndarray, folds: Folds, class_weight: str) -> dict:
    """The record of one candidate: pooled scores with 95% intervals and per-fold values, per-class
    scores, chance on the same folds, chosen hyperparameters, and the out-of-fold predictions.

    codes: the observed label code of every ok clip; classes: the class names, indexed by code.
    """
    K = len(classes)
    fold_matrices = np.stack([confusion(codes[fold.test], predicted, K)
                              for fold, predicted in zip(folds.outer, c.predicted)])
    pooled = fold_matrices.sum(axis=0)
    tested = np.concatenate([fold.test for fold in folds.outer])
    out = {
        "layer": c.layer,
        "classifier": c.classifier,
        "protocol": folds.protocol,
        "selection": folds.selection,
        "class_weight": class_weight,
        "n_clips": int(len(folds.used)),
        "n_tested": int(len(tested)),
        "split_counts": folds.split_counts,
        "classes": [str(name) for name in classes],
        **_metrics(pooled, fold_matrices, folds, codes, c.predicted),
        **per_class(pooled),
        "chance": chance_levels(codes, folds.splits, K),
        "params": c.params,
        "predictions": [{"index": fold.test.tolist(), "predicted": [str(classes[p]) for p in predicted]}
                        for fold, predicted in zip(folds.outer, c.predicted)],
    }
    if "C" in (c.params[0] if c.params else {}):
        out["C"] = [params["C"] for params in c.params]
    if c.picks is not None:
        out["picked"] = c.picks
    never = [str(classes[i]) for i in np.flatnonzero(pooled.sum(axis=0) == 0)]
    out["never_predicted"] = never
    out["warnings"] = ([f"{describe(c)} never predicts class(es) {', '.join(never)}"] if never else []) + \
        grid_edge_warnings(c)
    return out


def describe(c: Candidate | dict) -> str:
    """"layer 7 logreg", "mfcc svm-rbf", "selected layer logreg" for messages."""
    layer, classifier = (c.layer, c.classifier) if isinstance(c, Candidate) else (c["layer"], c["classifier"])
    if layer == "selected":
        return f"selected layer ({classifier})" if classifier != "selected" else "selected layer and classifier"
    return f"{'layer ' if isinstance(layer, int) else ''}{layer} {classifier}"


def grid_edge_warnings(c: Candidate) -> list[str]:
    """A line per hyperparameter chosen at the edge of its grid in more than half the folds, where the
    selection score still rose toward that edge: the grid may not reach the best value. (An edge
    chosen on a tie, as when every C separates the classes perfectly, says nothing.)"""
    lines = []
    for name in (c.grid[0] if c.grid else {}):
        values = sorted({point[name] for point in c.grid})
        if len(values) < 2:
            continue
        at_edge = sum(_rising_edge(c.grid, scores, params, name, values) for params, scores in zip(c.params, c.scores))
        if at_edge * 2 > len(c.params):
            lines.append(f"{describe(c)}: {name} chosen at the edge of its grid ({values[0]:g}..{values[-1]:g}) "
                         f"in {at_edge} of {len(c.params)} folds")
    return lines


def _rising_edge(grid: tuple[dict, ...], scores: np.ndarray, chosen: dict, name: str, values: list) -> bool:
    if chosen[name] not in (values[0], values[-1]):
        return False
    inward = values[1] if chosen[name] == values[0] else values[-2]
    neighbour = next(i for i, point in enumerate(grid) if point == {**chosen, name: inward})
    return bool(scores[grid.index(chosen)] > scores[neighbour])


def _metrics(pooled: np.ndarray, fold_matrices: np.ndarray, folds: Folds, codes: np.ndarray,
             predicted: list[np.ndarray]) -> dict:
    value, per_fold = scores(pooled), scores(fold_matrices)
    k = len(fold_matrices)
    if k > 1:
        ratio = float(np.mean([len(test) / len(fit) for fit, test in folds.splits]))
        intervals = {m: corrected_t_interval(float(value[m]), per_fold[m], ratio) for m in METRICS}
        method = CORRECTED_T
    else:
        test = folds.outer[0].test
        units = folds.groups[test] if folds.groups is not None else np.arange(len(test))
        truth, guessed = codes[test], predicted[0]
        K = pooled.shape[0]
        unit_matrices = np.stack([confusion(truth[units == u], guessed[units == u], K) for u in np.unique(units)])
        intervals = bootstrap_intervals(unit_matrices, folds.seed)
        method = GROUP_BOOTSTRAP if folds.groups is not None else CLIP_BOOTSTRAP
    return {m: {"value": float(value[m]), "ci": intervals[m], "ci_method": method,
                "folds": [float(v) for v in per_fold[m]],
                "std": float(np.std(per_fold[m], ddof=1)) if k > 1 else None} for m in METRICS}
