"""The report's figures, one function each; every function writes a PNG and returns its path.

Figures are built with matplotlib's object API (Figure, not pyplot): no global state and no GUI
backend, so the report renders the same on a headless machine.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from layerprobe.atomic_write import atomic_path
from layerprobe.probes.output import COLUMNS
from layerprobe.report.selection import chance_level
from layerprobe.results import SELECTED, Record

TITLES = dict(COLUMNS)
CURVE_METRICS = ("accuracy", "balanced_accuracy")
DPI = 130
# Cell values are printed only while they stay legible.
MAX_ANNOTATED_CLASSES = 12
MAX_ANNOTATED_CELLS = 200
# Above this many classes a figure names no class on its axis and keeps a readable size: 1,251
# speakers at 0.7 inch each would be a figure 114,000 pixels wide.
MAX_TICKED_CLASSES = 60
# The most confused pairs a many-class record's figure shows (it has no K x K matrix to draw).
CONFUSED_PAIRS = 25


def _literal_text(draw: Callable[..., Path]) -> Callable[..., Path]:
    """Draw with every text shown as written: a class name such as "$5" or "$\\frac{1}{$" must not
    start mathtext, which would typeset it or fail to parse it."""
    @functools.wraps(draw)
    def literal(*args, **kwargs) -> Path:
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)
    return literal


@_literal_text
def layer_curve(layer_records: list[Record], baselines: list[Record], selected: Record,
                path: str | os.PathLike[str]) -> Path:
    """Accuracy and UAR against layer, one line per classifier (pooled value, error bars: its 95%
    interval), the selected layer's score as a dotted line, one band (95% interval) per baseline
    record given (the report gives the selected baseline) and a dashed chance line."""
    classifiers = list(dict.fromkeys(record.classifier for record in layer_records))
    # Classifiers sit side by side at each layer so that their error bars do not hide each other.
    shifts = {c: 0.08 * (i - (len(classifiers) - 1) / 2) for i, c in enumerate(classifiers)}
    selected_label = "layer chosen inside each training part"
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    axes = figure.subplots(1, len(CURVE_METRICS), sharey=True)
    for ax, metric in zip(axes, CURVE_METRICS):
        _baseline_bands(ax, baselines, metric)
        chance, kind = chance_level(selected, metric)
        ax.axhline(chance, color="black", linestyle="--", linewidth=1.2, label=f"chance ({kind})")
        for classifier in classifiers:
            records = sorted((r for r in layer_records if r.classifier == classifier), key=lambda r: r.layer.index)
            values = np.array([r.metric(metric).value for r in records])
            # A record without an interval (a split with too few test groups) gets no error bar.
            intervals = np.array([r.metric(metric).ci or [np.nan, np.nan] for r in records], dtype=float)
            ax.errorbar([r.layer.index + shifts[classifier] for r in records], values,
                        yerr=[values - intervals[:, 0], intervals[:, 1] - values], marker="o", markersize=4,
                        capsize=3, linewidth=1.5, label=classifier, zorder=3)
        ax.axhline(selected.metric(metric).value, color="goldenrod", linestyle=":", linewidth=2, label=selected_label)
        ax.set_title(TITLES[metric])
        ax.set_xlabel("layer")
        ax.set_xticks(sorted({r.layer.index for r in layer_records}))
        ax.set_ylim(0, 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("pooled score, 95% interval")
    # The probes first in the legend, then what they are measured against.
    handles, labels = axes[0].get_legend_handles_labels()
    by_label = dict(zip(labels, handles))
    order = [*classifiers, selected_label, *(label for label in labels if label not in classifiers + [selected_label])]
    figure.legend([by_label[label] for label in order], order, loc="outside lower center",
                  ncol=min(len(order), 4), frameon=False)
    return _save(figure, path)


@_literal_text
def ladder(rungs: list[Record], frozen: Record, path: str | os.PathLike[str]) -> Path:
    """UAR (pooled value, error bars: its 95% interval) of each fine-tuning rung that did not collapse against
    its trainable parameters on a log axis; the frozen probe's selected layer as a dotted line and its interval
    as a band; dashed: chance."""
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.subplots()
    metric = "balanced_accuracy"
    frozen_summary = frozen.metric(metric)
    if frozen_summary.ci:
        ax.axhspan(*frozen_summary.ci, color="goldenrod", alpha=0.15)
    ax.axhline(frozen_summary.value, color="goldenrod", linestyle=":", linewidth=2,
               label=f"frozen probe ({frozen.describe()})")
    chance, kind = chance_level(frozen, metric)
    ax.axhline(chance, color="black", linestyle="--", linewidth=1.2, label=f"chance ({kind})")
    for record in rungs:
        if record.collapsed:
            continue
        summary = record.metric(metric)
        low, high = summary.ci or (summary.value, summary.value)
        ax.errorbar([record.trainable_parameters], [summary.value], yerr=[[summary.value - low], [high - summary.value]],
                    marker="o", capsize=4, linestyle="none", label=record.rung, zorder=3)
    ax.set_xscale("log")
    # Plain tick labels: the log axis's own are mathtext, which _literal_text turns off.
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("trainable parameters (log)")
    ax.set_ylabel("UAR, pooled out-of-fold, 95% interval")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", frameon=False, fontsize=8)
    return _save(figure, path)


@_literal_text
def confusion_matrix(record: Record, path: str | os.PathLike[str]) -> Path:
    """The record's confusion matrix over all test folds, rows normalized to recall, counts
    annotated when there are few classes."""
    classes = record.classes
    counts = np.asarray(record.confusion_matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    side = max(4.5, 0.55 * len(classes) + 2.5) if len(classes) <= MAX_TICKED_CLASSES else 16
    figure = Figure(figsize=(side + 1, side), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    if len(classes) <= MAX_ANNOTATED_CLASSES:
        # Empty cells stay blank so that the confusions stand out.
        for (i, j), rate in np.ndenumerate(rates):
            if counts[i, j] == 0:
                continue
            ax.text(j, i, f"{rate:.2f}\n({int(counts[i, j])})", ha="center", va="center", fontsize=8,
                    color="white" if rate > 0.5 else "black")
    _class_ticks(ax, classes)
    ax.set_yticks(*((range(len(classes)), classes) if len(classes) <= MAX_TICKED_CLASSES else ([],)))
    never = record.never_predicted
    for label in ax.get_xticklabels():
        if label.get_text() in never:
            label.set_color("tab:red")
    ax.set_xlabel("predicted class" + (" (red: never predicted)" if never else ""))
    ax.set_ylabel("true class")
    ax.set_title(f"{record.describe()}: confusion, rows normalized")
    figure.colorbar(image, ax=ax, label="fraction of the true class", shrink=0.8)
    return _save(figure, path)


@_literal_text
def confused_pairs(record: Record, path: str | os.PathLike[str]) -> Path:
    """A many-class record's most frequent confusions over all test folds (it keeps its confusion
    matrix as nonzero cells): one bar per (true, predicted) pair, the count and the share of the true
    class's clips, at most CONFUSED_PAIRS of them."""
    support = record.per_class.support
    pairs = sorted((cell for cell in record.confusions() if cell[0] != cell[1]), key=lambda c: (-c[2], c[0], c[1]))
    shown = pairs[:CONFUSED_PAIRS]
    figure = Figure(figsize=(8, max(3, 0.3 * len(shown) + 1.5)), layout="constrained")
    ax = figure.subplots()
    labels = [f"{record.classes[i]} -> {record.classes[j]}" for i, j, _ in shown]
    ax.barh(range(len(shown)), [n for _, _, n in shown], color="tab:blue")
    for row, (i, _, n) in enumerate(shown):
        ax.text(n, row, f" {n} ({n / support[i]:.0%} of {record.classes[i]})", va="center", fontsize=8)
    ax.set_yticks(range(len(shown)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("test clips of the true class predicted as the other")
    hits = sum(n for i, j, n in record.confusions() if i == j)
    ax.set_title(f"{record.describe()}: the {len(shown)} most frequent of {len(pairs)} confusions, "
                 f"{len(record.classes)} classes ({hits} of {sum(support)} clips right)")
    return _save(figure, path)


@_literal_text
def per_class_recall(layer_records: list[Record], selected: Record, path: str | os.PathLike[str]) -> Path:
    """Recall of each class at each layer for the selected record's (most picked) classifier (a heatmap,
    layers x classes, the picked layers marked): a class that no layer recognizes shows as a dark column."""
    # A pick of a head that reads every layer (the weighted sum) has no row per layer.
    drawn = {r.classifier for r in layer_records}
    picks = [pick.classifier for pick in selected.picked or [] if pick.classifier in drawn]
    picks = picks or ([selected.classifier] if selected.classifier in drawn else sorted(drawn))
    classifier = max(set(picks), key=picks.count)
    picked_layers = {pick.layer for pick in selected.picked or [] if pick.classifier == classifier}
    records = sorted((r for r in layer_records if r.classifier == classifier), key=lambda r: r.layer.index)
    classes = records[0].classes
    recall = np.array([r.per_class.recall for r in records])
    width = 0.7 * len(classes) + 3 if len(classes) <= MAX_TICKED_CLASSES else 14
    figure = Figure(figsize=(max(5.5, width), max(3.5, 0.32 * len(records) + 2)), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(recall, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    if recall.size <= MAX_ANNOTATED_CELLS:
        for (i, j), value in np.ndenumerate(recall):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if value > 0.6 else "white")
    _class_ticks(ax, classes)
    ax.set_yticks(range(len(records)), [f"{r.layer} (picked)" if r.layer in picked_layers else str(r.layer)
                                        for r in records])
    ax.set_xlabel("class")
    ax.set_ylabel("layer")
    ax.set_title(f"per-class recall by layer ({classifier})")
    figure.colorbar(image, ax=ax, label="recall")
    return _save(figure, path)


@_literal_text
def precision_recall(record: Record, truth: list[str], path: str | os.PathLike[str]) -> Path:
    """The precision-recall curve of a two-class record's positive class, from its pooled out-of-fold
    decision scores (predictions[k].score); truth: the label of every clip the indices point to.
    The recall at the asked precision, when there is one, is marked."""
    positive = record.detection.positive_class
    index = np.concatenate([fold.index for fold in record.predictions])
    score = np.concatenate([fold.score for fold in record.predictions])
    is_positive = np.asarray(truth)[index] == positive
    precision, recall, _ = precision_recall_curve(is_positive, score)
    figure = Figure(figsize=(5.5, 4.6), layout="constrained")
    ax = figure.subplots()
    ax.plot(recall, precision, drawstyle="steps-post", linewidth=1.8,
            label=f"AP {record.average_precision.value:.3f}, ROC-AUC {record.roc_auc.value:.3f}")
    ax.axhline(is_positive.mean(), color="black", linestyle="--", linewidth=1.2,
               label=f"chance (prevalence {is_positive.mean():.3f})")
    at = record.recall_at_precision
    if at and at.threshold is not None:
        ax.plot([at.value], [at.precision], marker="o", color="tab:red", linestyle="none",
                label=f"recall {at.value:.3f} at precision {at.precision:g}")
    elif at:  # no threshold reaches it: a point at recall 0 would sit where the curve never goes
        ax.axhline(at.precision, color="tab:red", linestyle=":", linewidth=1.2,
                   label=f"precision {at.precision:g}: reached at no threshold")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"recall of {positive}")
    ax.set_ylabel(f"precision of {positive}")
    ax.set_title(f"{record.describe()}: precision-recall, pooled out-of-fold scores")
    ax.legend(loc="lower left", fontsize=8)
    return _save(figure, path)


def _baseline_bands(ax, baselines: list[Record], metric: str) -> None:
    # The later colours of the default cycle: the classifier lines take the first ones.
    colours = ["tab:gray", "tab:brown", "tab:olive", "tab:pink", "tab:cyan"]
    for i, record in enumerate(baselines):
        colour = colours[i % len(colours)]
        summary = record.metric(metric)
        if summary.ci is not None:
            ax.axhspan(*summary.ci, color=colour, alpha=0.18, linewidth=0)
        name = "baseline chosen inside each training part" if record.layer.kind == SELECTED else record.describe()
        ax.axhline(summary.value, color=colour, linewidth=1.5,
                   label=f"{name} ({'95% interval' if summary.ci is not None else 'no interval'})")


def _class_ticks(ax, classes: list[str]) -> None:
    if len(classes) > MAX_TICKED_CLASSES:
        ax.set_xticks([])
        return
    # Long class names are slanted so that neighbours do not overlap.
    slanted = len(classes) > 4 or max(len(c) for c in classes) > 6
    ax.set_xticks(range(len(classes)), classes, rotation=35 if slanted else 0, ha="right" if slanted else "center")


def _save(figure: Figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI)
    return path
