"""The learning-curve figure: UAR against training clips per class (log axis) for the records the
report's learning-curve section shows, each with its fitted inverse power law."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from layerprobe.atomic_write import atomic_path
from layerprobe.report.document import Image
from layerprobe.report.learning_curve import learning_curve_records, name, sizes
from layerprobe.report.plots import DPI
from layerprobe.report.run_dir import RunInputs
from layerprobe.report.selection import RANKING, chance_level
from layerprobe.results import Record

CURVE_FILE = "learning_curve.png"


def curve_figures(inputs: RunInputs) -> list[Image]:
    """The learning-curve figure with its caption, written into the run folder; none without curves."""
    records = learning_curve_records(inputs)
    if not records:
        return []
    path = learning_curve(records, inputs.directory / CURVE_FILE)
    return [Image(path, "Learning curve: UAR against training clips per class (two classes: of the positive class), "
                        "log axis. Markers: the mean over the draws of each fraction, error bars their mean 95% "
                        "interval; dots: each draw; dashed: the fitted inverse power law, extended to twice the "
                        "data; grey dashed: chance.")]


def learning_curve(records: list[Record], path: str | os.PathLike[str]) -> Path:
    """Each record's curve (pooled UAR of every draw, the mean per fraction with its interval) and its
    power law, on a log x axis; chance as a dashed line."""
    # Names are drawn as written: a class or feature name such as "$5" must not start mathtext.
    with matplotlib.rc_context({"text.parse_math": False}):
        figure = _drawn(records)
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI)
    return path


def _drawn(records: list[Record]) -> Figure:
    figure = Figure(figsize=(7, 4.6), layout="constrained")
    ax = figure.subplots()
    for index, record in enumerate(records):
        colour = f"C{index}"
        x = np.array(sizes(record))
        points = record.learning_curve.points
        values = np.array([getattr(point, RANKING).value for point in points])
        ax.scatter(x, values, color=colour, alpha=0.35, s=12, linewidths=0)
        fractions = np.array([point.fraction for point in points])
        means, lows, highs, xs = [], [], [], []
        for fraction in np.unique(fractions):
            drawn = np.flatnonzero(fractions == fraction)
            intervals = np.array([getattr(points[i], RANKING).ci or [np.nan, np.nan] for i in drawn], dtype=float)
            xs.append(x[drawn].mean())
            means.append(values[drawn].mean())
            lows.append(means[-1] - np.nanmean(intervals[:, 0]) if not np.isnan(intervals).all() else 0.0)
            highs.append(np.nanmean(intervals[:, 1]) - means[-1] if not np.isnan(intervals).all() else 0.0)
        ax.errorbar(xs, means, yerr=[lows, highs], color=colour, marker="o", markersize=5, capsize=3, linewidth=1.5,
                    label=name(record))
        found = record.learning_curve.forecast
        if found is not None:
            grid = np.geomspace(x.min(), 2 * found.n, 100)
            ax.plot(grid, found.a - found.b * grid ** -found.c, color=colour, linestyle="--", linewidth=1.2,
                    label=f"{name(record)}: power law, doubling +{found.doubling_gain:.3f}")
    chance, kind = chance_level(records[0], RANKING)
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({kind})")
    ax.set_xscale("log")
    # 20, 50, 100 written out (not 2 x 10^1); the other minor ticks unlabelled, so that none overlap.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(
        lambda value, _: f"{value:g}" if round(value / 10 ** np.floor(np.log10(value))) in (2, 5) else ""))
    ax.set_xlabel(records[0].learning_curve.forecast.x if records[0].learning_curve.forecast
                  else "training clips per class")
    ax.set_ylabel("UAR, pooled over the outer folds")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    return figure
