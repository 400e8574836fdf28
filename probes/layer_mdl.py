"""--mdl: each probed layer's online codelength (probes/mdl.py) onto its logreg record of a finished sweep.

It runs after the sweep and reads only the cache and the sweep's labels, so the sweep's records
are the same with or without it.
"""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.options import FitOptions, MdlOptions, ProbeOptions, ProtocolOptions
from layerprobe.probes.mdl import PROBE, first_block_note, mdl_per_source
from layerprobe.probes.sweep import Sweep, names_its_group
from layerprobe.results import LAYER, Record


def check_mdl(mdl: MdlOptions, probe: ProbeOptions) -> None:
    """Refuse --mdl where no record would hold it, before any fit."""
    if mdl.mdl and PROBE not in probe.classifiers:
        raise UserError(f"--mdl codes the labels with the {PROBE} probe and writes onto its records: add {PROBE} "
                        f"to --classifier (given: {','.join(probe.classifiers)})")


def with_mdl(result: Sweep, cache: str | os.PathLike[str], probe: ProbeOptions, protocol: ProtocolOptions,
             fit: FitOptions, mdl: MdlOptions, *, progress: bool = False) -> Sweep:
    """The sweep with every probed layer's Mdl on its logreg record (unchanged without mdl.mdl).

    Blocks are of whole groups where the clips have groups, unless every class lies within one group
    (the label names the group: whole-group blocks would hold only classes never seen, so the blocks
    are of clips, as the sweep's protocol is then).
    """
    if not mdl.mdl:
        return result
    rows, labels = result.labels.rows, result.labels.labels
    with CacheReader(cache) as reader:
        groups = reader.clips["group"].to_numpy()[rows].astype(str)
        if names_its_group(labels, groups):
            groups = np.full(len(labels), "")
        sources = [(layer, lambda layer=layer: reader.layer(layer, probe.pooling)[rows])
                   for layer in result.layers]
        found = mdl_per_source(sources, labels, groups, orders=mdl.mdl_orders, seed=protocol.seed,
                               n_jobs=fit.n_jobs, progress=progress)
    records = []
    for record in result.records:
        if record.layer.kind == LAYER and record.classifier == PROBE:
            summary, note = found[record.layer.index]
            named = [f"{record.describe()}: {note}"] if note else []
            record = replace(record, mdl=summary, warnings=record.warnings + named)
        records.append(record)
    coarse = first_block_note(groups, protocol.seed, mdl.mdl_orders)
    return replace(result, records=records, notes=result.notes + ([coarse] if coarse else []))


def mdl_lines(records: list[Record]) -> list[str]:
    """The terminal's MDL table: per layer holding an Mdl its online codelength and compression (none without)."""
    coded = sorted((r for r in records if r.layer.kind == LAYER and r.mdl is not None), key=lambda r: r.layer.index)
    if not coded:
        return []
    first = coded[0].mdl
    lines = ["", f"minimum description length (online code, {first.probe} probe, {first.orders} ordering"
                 f"{'s' if first.orders > 1 else ''}; the uniform code: {first.uniform_bits:.1f} bits)",
             f"{'layer':>8}  {'codelength bits':>15}  {'compression':>11}"]
    lines += [f"{r.layer.index:>8}  {r.mdl.codelength_bits:>15.1f}  {r.mdl.compression:>11.3f}" for r in coded]
    top = max(coded, key=lambda r: r.mdl.compression)
    return lines + [f"layer {top.layer.index} compresses the labels most"]
