"""The figures of `layerprobe compare`: every encoder's layer curve on one relative-depth axis, and the
linear CKA map of their layers. Each function writes a PNG and returns its path (matplotlib's object
API, as report/plots.py)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from layerprobe.compare_results import CkaMap, Encoder
from layerprobe.report.plots import CURVE_METRICS, TITLES, _literal_text, _save
from layerprobe.report.selection import chance_level


@_literal_text
def depth_curves(encoders: list[Encoder], path: str | os.PathLike[str]) -> Path:
    """Accuracy and UAR against relative depth (0: the transformer's input, 1: the encoder's deepest stored
    layer), one line per encoder and classifier (pooled value, error bars: its 95% interval), so that
    encoders of 12 and 24 layers sit side by side; dotted, in the encoder's colour: its learned weighted sum
    of the layers; dashed: chance."""
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    axes = figure.subplots(1, len(CURVE_METRICS), sharey=True)
    first = encoders[0].results[0]
    for ax, metric in zip(axes, CURVE_METRICS):
        chance, kind = chance_level(first, metric)
        ax.axhline(chance, color="black", linestyle="--", linewidth=1.2, label=f"chance ({kind})")
        for encoder in encoders:
            records = encoder.layer_records()
            for classifier in dict.fromkeys(record.classifier for record in records):
                line = sorted((r for r in records if r.classifier == classifier), key=lambda r: r.layer.index)
                values = np.array([r.metric(metric).value for r in line])
                intervals = np.array([r.metric(metric).ci or [np.nan, np.nan] for r in line], dtype=float)
                label = encoder.name if len({r.classifier for r in records}) == 1 else f"{encoder.name} {classifier}"
                drawn = ax.errorbar([encoder.relative_depth(r.layer.index) for r in line], values,
                                    yerr=[values - intervals[:, 0], intervals[:, 1] - values], marker="o",
                                    markersize=4, capsize=3, linewidth=1.5, label=label, zorder=3)
            mixed = encoder.weighted_sum()
            if mixed is not None:  # it reads every layer at once: a level, not a point of the curve
                ax.axhline(mixed.metric(metric).value, color=drawn.lines[0].get_color(), linestyle=":",
                           linewidth=1.8, label=f"{encoder.name} weighted sum of its layers")
        ax.set_title(TITLES[metric])
        ax.set_xlabel("relative depth (0: input, 1: last layer)")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(0, 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("pooled score, 95% interval")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False)
    return _save(figure, path)


@_literal_text
def cka_heatmaps(cka: CkaMap, names: list[str], path: str | os.PathLike[str]) -> Path:
    """One heatmap per pair of encoders (rows: the first's layers, columns: the second's), the encoders'
    own maps on the diagonal, all on one 0-1 scale."""
    depth = {name: [layer for encoder, layer in cka.layers if encoder == name] for name in names}
    side = len(names)
    figure = Figure(figsize=(3.6 * side + 1, 3.4 * side), layout="constrained")
    axes = np.atleast_2d(figure.subplots(side, side, squeeze=False))
    image = None
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax = axes[i, j]
            image = ax.imshow(np.array(cka.block(a, b)), cmap="magma", vmin=0, vmax=1, origin="lower",
                              aspect="auto")
            ax.set_xticks(range(len(depth[b])), [str(layer) for layer in depth[b]], fontsize=7)
            ax.set_yticks(range(len(depth[a])), [str(layer) for layer in depth[a]], fontsize=7)
            ax.set_xlabel(f"{b} layer", fontsize=8)
            ax.set_ylabel(f"{a} layer", fontsize=8)
    figure.colorbar(image, ax=axes, label="linear CKA", shrink=0.8)
    figure.suptitle(f"Linear CKA between layers, on {cka.n_clips} common clips")
    return _save(figure, path)
