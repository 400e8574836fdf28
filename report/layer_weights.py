"""What the report draws and says of a weighted sum of layers (--classifier weighted-sum): its softmax
weights per layer, their mean over the outer folds with each fold's own beside it, and where most of
the weight sits."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from layerprobe.atomic_write import atomic_path
from layerprobe.layer_spec import format_layers
from layerprobe.probes.output import with_interval
from layerprobe.report.document import Image
from layerprobe.report.selection import RANKING
from layerprobe.results import ALL_LAYERS, LayerWeights, Record

FIGURE_FILE = "layer_weights.png"
DPI = 130
# "Mostly": the fewest adjacent layers holding at least this share of the mean weight.
MOST = 0.5


def weighted_sum_record(layer_records: list[Record]) -> Record | None:
    """The run's record of a head over every layer with its weights (the first), None without one."""
    return next((r for r in layer_records if r.layer.kind == ALL_LAYERS and r.layer_weights), None)


def weighted_sum_name(record: Record) -> str:
    """"weighted sum of layers 0-12": what a head over every layer mixed."""
    layers = record.layer_weights.layers if record.layer_weights else []
    return f"weighted sum of layers {format_layers(layers)}"


def heaviest_run(weights: LayerWeights) -> tuple[list[int], float]:
    """The fewest adjacent layers (in `weights.layers`' order) whose mean weights sum to at least MOST,
    the heaviest such run on ties, and that sum."""
    mean = np.asarray(weights.mean())
    best: tuple[int, float, int, int] | None = None  # (length, -share, start, stop)
    for start in range(len(mean)):
        share = np.cumsum(mean[start:])
        stop = int(np.searchsorted(share, MOST - 1e-12)) + start
        if stop < len(mean):
            found = (stop - start + 1, -float(mean[start:stop + 1].sum()), start, stop)
            best = found if best is None or found < best else best
    length, share, start, stop = best
    return weights.layers[start:stop + 1], -share


def weights_sentence(record: Record) -> str:
    """"The weighted sum of layers 0-12 reaches UAR 0.951 [0.910, 0.990]; its weight sits mostly on
    layers 5-7 (62% on average over the 5 folds)."."""
    return f"The {weighted_sum_name(record)} reaches UAR {with_interval(record.metric(RANKING))}; " \
        f"its weight sits mostly on {weight_place(record)}."


def weight_place(record: Record) -> str:
    """"layers 5-7 (62% on average over the 5 folds)": where most of the weight sits (heaviest_run)."""
    weights = record.layer_weights
    run, share = heaviest_run(weights)
    where = f"layer {run[0]}" if len(run) == 1 else f"layers {format_layers(run)}"
    return f"{where} ({100 * share:.0f}% on average over the {len(weights.folds)} folds)"


def weights_figure(record: Record, path: str | os.PathLike[str]) -> Path:
    """Bars: each layer's softmax weight averaged over the outer folds, whiskers from the smallest to
    the largest fold's; dots: each fold's weight."""
    weights = record.layer_weights
    folds = np.asarray(weights.folds)
    positions = np.arange(len(weights.layers))
    mean = folds.mean(axis=0)
    with matplotlib.rc_context({"text.parse_math": False}):
        figure = Figure(figsize=(7, 3.6), layout="constrained")
        ax = figure.subplots()
        ax.bar(positions, mean, color="tab:blue", alpha=0.6, label="mean over folds")
        ax.errorbar(positions, mean, yerr=[mean - folds.min(axis=0), folds.max(axis=0) - mean], fmt="none",
                    ecolor="black", capsize=3, linewidth=1, label="smallest to largest fold")
        # Each fold's dots a little apart, so that equal weights stay visible.
        spread = np.linspace(-0.2, 0.2, len(folds)) if len(folds) > 1 else np.zeros(1)
        for offset, fold in zip(spread, folds):
            ax.plot(positions + offset, fold, "o", color="black", markersize=2.5, alpha=0.7)
        ax.plot([], [], "o", color="black", markersize=2.5, label="one fold")
        ax.set_xticks(positions, [str(layer) for layer in weights.layers])
        ax.set_xlabel("layer")
        ax.set_ylabel("softmax weight")
        ax.set_ylim(0, max(1e-3, float(folds.max())) * 1.1)
        ax.set_title(f"Layer weights of the {weighted_sum_name(record)}, per outer fold")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(frameon=False, fontsize="small")
        path = Path(path)
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=DPI)
    return path


def weights_images(layer_records: list[Record], directory: Path) -> list[Image]:
    """The layer weights figure, written into `directory`, with its caption; none without a weighted sum."""
    record = weighted_sum_record(layer_records)
    if record is None:
        return []
    path = weights_figure(record, directory / FIGURE_FILE)
    return [Image(path, f"Softmax weight of each layer in the {weighted_sum_name(record)}, fitted on each outer training "
                        "part: bars the mean over folds, whiskers from the smallest to the largest fold's, dots "
                        "each fold's. Weights on standardized layers: a large weight means a layer the head reads.")]
