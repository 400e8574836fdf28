"""--mdl: each probed layer's (or hand-made feature's) online codelength (probes/mdl.py) onto its
logreg record of a finished sweep.

It runs after the sweep and reads only the sources and the sweep's labels, so the sweep's records
are the same with or without it.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.options import FitOptions, MdlOptions, ProbeOptions, ProtocolOptions
from layerprobe.probes.mdl import PROBE, first_block_note, mdl_per_source
from layerprobe.probes.sweep import Sweep, names_its_group
from layerprobe.results import FEATURE, LAYER, Record


def check_mdl(mdl: MdlOptions, classifiers: Sequence[str]) -> None:
    """Refuse --mdl where no record would hold it (`classifiers` lack logreg), before any fit."""
    if mdl.mdl and PROBE not in classifiers:
        raise UserError(f"--mdl codes the labels with the {PROBE} probe and writes onto its records: add {PROBE} "
                        f"to --classifier (given: {','.join(classifiers)})")


def clip_groups(reader: CacheReader, rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The groups the blocks are made of: each probed clip's, "" where it has none; none at all where
    every class lies within one group (the label names the group: whole-group blocks would hold only
    classes never seen, so the blocks are of clips, as the sweep's protocol is then)."""
    groups = reader.clips["group"].to_numpy()[rows].astype(str)
    return np.full(len(labels), "") if names_its_group(labels, groups) else groups


def probe_mdl(result: Sweep, cache: str | os.PathLike[str], probe: ProbeOptions, protocol: ProtocolOptions,
              fit: FitOptions, mdl: MdlOptions, *, progress: bool = False) -> Sweep:
    """The probe sweep with every probed layer's Mdl on its logreg record (unchanged without mdl.mdl)."""
    if not mdl.mdl:
        return result
    rows = result.labels.rows
    with CacheReader(cache) as reader:
        sources = [(layer, lambda layer=layer: reader.layer(layer, probe.pooling)[rows]) for layer in result.layers]
        return with_mdl(result, sources, clip_groups(reader, rows, result.labels.labels), protocol, fit, mdl,
                        progress=progress)


def with_mdl(result: Sweep, sources: Sequence[tuple[int | str, Callable[[], np.ndarray]]], groups: np.ndarray,
             protocol: ProtocolOptions, fit: FitOptions, mdl: MdlOptions, *, progress: bool = False) -> Sweep:
    """The sweep (of layers or hand-made features) with each source's Mdl on its logreg record, and a
    run-level note where the first block is large (unchanged without mdl.mdl).

    sources: (the records' JSON `layer` value, loader of its (clips, D) rows). groups: clip_groups'.
    """
    if not mdl.mdl:
        return result
    found = mdl_per_source(sources, result.labels.labels, groups, orders=mdl.mdl_orders, seed=protocol.seed,
                           n_jobs=fit.n_jobs, progress=progress)
    records = []
    for record in result.records:
        if record.classifier == PROBE and record.layer.kind in (LAYER, FEATURE) and record.layer.to_json() in found:
            summary, note = found[record.layer.to_json()]
            named = [f"{record.describe()}: {note}"] if note else []
            record = replace(record, mdl=summary, warnings=record.warnings + named)
        records.append(record)
    coarse = first_block_note(groups, protocol.seed, mdl.mdl_orders)
    return replace(result, records=records, notes=result.notes + ([coarse] if coarse else []))


def mdl_lines(records: list[Record]) -> list[str]:
    """The terminal's MDL table: per layer or feature holding an Mdl its online codelength and
    compression (nothing without)."""
    coded = [r for r in records if r.mdl is not None]
    if not coded:
        return []
    first = coded[0].mdl
    lines = ["", f"minimum description length (online code, {first.probe} probe, {first.orders} ordering"
                 f"{'s' if first.orders > 1 else ''}; the uniform code: {first.uniform_bits:.1f} bits)",
             f"{'source':>8}  {'codelength bits':>15}  {'compression':>11}"]
    lines += [f"{str(r.layer):>8}  {r.mdl.codelength_bits:>15.1f}  {r.mdl.compression:>11.3f}" for r in coded]
    top = max(coded, key=lambda r: r.mdl.compression)
    return lines + [f"{top.layer.describe()} compresses the labels most"]
