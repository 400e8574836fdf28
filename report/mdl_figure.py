"""The report's minimum description length (--mdl): compression per layer beside UAR per layer, and the
sentence naming the layer that compresses the labels most. A run without --mdl gets neither."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from layerprobe.atomic_write import atomic_path
from layerprobe.report.document import Block, Image, Paragraph
from layerprobe.report.plots import DPI
from layerprobe.report.run_dir import RunInputs
from layerprobe.report.selection import RANKING, best
from layerprobe.results import FEATURE, LAYER, Record

MDL_FIGURE_FILE = "compression_curve.png"


def mdl_records(records: list[Record]) -> list[Record]:
    """The per-layer records holding an Mdl, by layer."""
    return sorted((r for r in records if r.layer.kind == LAYER and r.mdl is not None), key=lambda r: r.layer.index)


def baseline_mdl_records(inputs: RunInputs) -> list[Record]:
    """The hand-made features' records holding an Mdl (none without baselines or --mdl)."""
    return [r for r in inputs.baseline_records if r.layer.kind == FEATURE and r.mdl is not None]


def compression_curve(records: list[Record], baselines: list[Record], path: str | os.PathLike[str]) -> Path:
    """Two panels against layer: the records' pooled UAR with its 95% interval, and their compression
    (uniform over online codelength; bars from the best to the worst ordering), 1 dashed: no compression;
    each baseline record's value as a horizontal line in both (baselines: feature records with an Mdl)."""
    layers = [r.layer.index for r in records]
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    score_ax, compression_ax = figure.subplots(1, 2, sharex=True)
    values = np.array([r.metric(RANKING).value for r in records])
    intervals = np.array([r.metric(RANKING).ci or [np.nan, np.nan] for r in records], dtype=float)
    score_ax.errorbar(layers, values, yerr=[values - intervals[:, 0], intervals[:, 1] - values], marker="o",
                      markersize=4, capsize=3)
    score_ax.set(title=f"UAR ({records[0].classifier})", xlabel="layer", ylabel="pooled score, 95% interval",
                 ylim=(0, 1.02))
    compression = np.array([r.mdl.compression for r in records])
    # Per ordering: the fewest bits give the highest compression.
    spread = np.array([[r.mdl.uniform_bits / max(r.mdl.order_bits), r.mdl.uniform_bits / min(r.mdl.order_bits)]
                       if r.mdl.order_bits else [c, c] for r, c in zip(records, compression)])
    compression_ax.errorbar(layers, compression, yerr=[compression - spread[:, 0], spread[:, 1] - compression],
                            marker="o", markersize=4, capsize=3, color="tab:green")
    compression_ax.axhline(1.0, color="black", linestyle="--", linewidth=1.2)
    for record, colour in zip(baselines, ["tab:gray", "tab:brown", "tab:olive", "tab:pink", "tab:cyan"]):
        score_ax.axhline(record.metric(RANKING).value, color=colour, linewidth=1.5, label=record.describe())
        compression_ax.axhline(record.mdl.compression, color=colour, linewidth=1.5, label=record.describe())
    if baselines:
        compression_ax.legend(frameon=False)
    compression_ax.set(title="compression (uniform / online codelength)", xlabel="layer",
                       ylabel="compression, 1 = none")
    for ax in (score_ax, compression_ax):
        ax.set_xticks(layers)
        ax.grid(axis="y", alpha=0.3)
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI)
    return path


def mdl_figures(inputs: RunInputs) -> list[Image]:
    """The compression curve with its caption, written into the run folder; none without --mdl."""
    records = mdl_records(inputs.layer_records)
    if not records:
        return []
    orders = records[0].mdl.orders
    baselines = baseline_mdl_records(inputs)
    path = compression_curve(records, baselines, inputs.directory / MDL_FIGURE_FILE)
    return [Image(path, f"Left: UAR of the {records[0].mdl.probe} probe against layer. Right: how many times fewer "
                        "bits than the uniform code the online code (Voita & Titov 2020) needs to send the labels, "
                        f"averaged over {orders} seeded ordering{'s' if orders > 1 else ''} (bars: the best and worst "
                        "ordering); dashed: 1, no compression"
                        + ("; lines: the hand-made features' (logreg)." if baselines else "."))]


def mdl_paragraph(inputs: RunInputs) -> list[Block]:
    """One sentence: which layer compresses the labels most, beside the layer of the best UAR; none without --mdl."""
    records = mdl_records(inputs.layer_records)
    if not records:
        return []
    top = max(records, key=lambda r: r.mdl.compression)
    scored = best(records)
    also = ("; it is also the layer of the best UAR" if scored is top else
            f"; layer {scored.layer.index}, the layer of the best UAR, compresses them {scored.mdl.compression:.2f} "
            "times")
    features = baseline_mdl_records(inputs)
    feature = max(features, key=lambda r: r.mdl.compression, default=None)
    against = f"; {feature.layer.describe()}, the hand-made feature that compresses them most, " \
              f"{feature.mdl.compression:.2f} times" if feature else ""
    return [Paragraph(f"Minimum description length (online code, {top.mdl.probe} probe, {top.mdl.orders} "
                      f"ordering{'s' if top.mdl.orders > 1 else ''}): layer {top.layer.index} compresses the labels "
                      f"most, to {top.mdl.compression:.2f} times fewer bits than the uniform code "
                      f"({top.mdl.codelength_bits:.0f} against {top.mdl.uniform_bits:.0f}){also}{against}.")]
