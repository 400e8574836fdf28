"""Several encoders of the same clips on one set of folds (`layerprobe compare`).

The caches are joined by clip id: the clips every cache holds (ok and labelled) are compared, in the
order of their ids, so neither the caches' row order nor the order they are given in moves a fold.
The outer folds are built once on those clips with the protocol options (the groups, splits and fold
column of the first cache) and every encoder is probed on them by the sweep's own study, so each pair
of encoders' selected records pairs fold by fold. The CKA map compares every layer with every other
on the same clips.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from layerprobe.baselines.paired import compare as paired_test
from layerprobe.baselines.paired import holm
from layerprobe.compare_results import CkaMap, CompareDocument, Encoder, PairedTest
from layerprobe.data.label_table import clip_labels
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.options import CompareOptions, DetectionOptions, FitOptions, LabelOptions, ProtocolOptions
from layerprobe.probes.cka import CKA_CLIPS, centered, cka_matrix, cka_rows
from layerprobe.probes.classifiers import classifier_specs
from layerprobe.probes.detection import Detection
from layerprobe.probes.study import selections_for, study
from layerprobe.probes.sweep import cache_folds, layer_sources, select_layers

# A run folder of `layerprobe run` holds its cache under this name.
RUN_CACHE = "cache.h5"
# The metric the paired tests compare, as the report's ranking.
PAIRED_METRIC = "balanced_accuracy"
CKA_METHOD = ("linear CKA (Kornblith et al. 2019) of column-centred features, ||Y'X||_F^2 / "
              "(||X'X||_F ||Y'Y||_F)")


@dataclass(frozen=True)
class Joined:
    """The clips every cache holds: their `ids` (sorted), their `labels`, and for each cache the
    position of each id among the clips it was given (`positions`); `left_out`: per cache, how many of
    its clips the others lack."""

    ids: np.ndarray
    labels: np.ndarray
    positions: list[np.ndarray]
    left_out: list[int]

    def note(self, names: Sequence[str]) -> str | None:
        """The one line on the clips left out, None when every cache holds every clip."""
        if not any(self.left_out):
            return None
        parts = ", ".join(f"{count} of {name}'s {count + len(self.ids)}" for name, count in zip(names, self.left_out))
        return (f"clips missing from another cache are left out: {parts}; the {len(self.ids)} clips every cache "
                "holds are compared")


def cache_paths(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The cache of each input (a cache file, or a run folder's cache.h5); one line for fewer than two
    inputs, a missing one, or one given twice."""
    if len(inputs) < 2:
        raise UserError(f"compare needs at least two caches or run folders, got {len(inputs)}")
    paths = []
    for given in map(Path, inputs):
        if given.is_dir():
            given = given / RUN_CACHE
            if not given.is_file():
                raise UserError(f"{given.parent} holds no {RUN_CACHE}: give a run folder of `layerprobe run` or a "
                                "cache .h5")
        elif not given.is_file():
            raise UserError(f"{given} does not exist")
        paths.append(given)
    for a, b in combinations(paths, 2):
        if os.path.samefile(a, b):
            raise UserError(f"{a} is given twice: compare takes each encoder's cache once")
    return paths


def join_clips(ids: Sequence[np.ndarray], labels: Sequence[np.ndarray], names: Sequence[str]) -> Joined:
    """Join the caches' clips by id (each cache's ids unique). Raises UserError when they share no clip,
    or when a shared clip's label differs between caches."""
    common = np.array(sorted(set.intersection(*(set(map(str, x)) for x in ids))), dtype=object)
    if not len(common):
        firsts = "; ".join(f"{name} holds {x[0]!r}, ..." for name, x in zip(names, ids))
        raise UserError(f"the caches share no clip id ({firsts}): compare needs caches of the same clips")
    positions = [pd.Index(np.asarray(x, dtype=object)).get_indexer(common) for x in ids]
    joined = np.asarray(labels[0])[positions[0]]
    for name, these, where in zip(names[1:], labels[1:], positions[1:]):
        differ = np.flatnonzero(np.asarray(these)[where] != joined)
        if len(differ):
            first = differ[0]
            raise UserError(f"clip {str(common[first])!r} is labelled {str(joined[first])!r} in {names[0]} but "
                            f"{str(np.asarray(these)[where][first])!r} in {name} ({len(differ)} clip(s) differ): "
                            "compare needs the same labels in every cache")
    return Joined(common, joined.astype(str), positions, [len(x) - len(common) for x in ids])


def encoder_names(attrs: Sequence[dict], paths: Sequence[Path]) -> list[str]:
    """Each encoder's name: its model (a local folder's name), else the cache's file name. Where two would
    share a name each gets its cache's file name (a run folder's name) beside it, or its path where those
    agree too."""
    names = [Path(str(a.get("model", ""))).name or path.stem for a, path in zip(attrs, paths)]
    shown = [f"{name} ({path.parent.name if path.name == RUN_CACHE else path.name})" if names.count(name) > 1
             else name for name, path in zip(names, paths)]
    return [f"{name} ({path})" if shown.count(label) > 1 else label for label, name, path in zip(shown, names, paths)]


def _refuse_same_encoder(attrs: Sequence[dict], ids: Sequence[np.ndarray], paths: Sequence[Path]) -> None:
    for (i, a), (j, b) in combinations(enumerate(attrs), 2):
        fingerprint = str(a.get("model_fingerprint", ""))
        if fingerprint and fingerprint == str(b.get("model_fingerprint", "")) and set(ids[i]) == set(ids[j]):
            raise UserError(f"{paths[i]} and {paths[j]} hold the same encoder (model fingerprint {fingerprint[:12]}) "
                            "on the same clips: one cache given twice")


def _layers(options: CompareOptions, reader: CacheReader) -> list[int]:
    """The layers probed in one cache; a layer it lacks is named with the cache."""
    try:
        return select_layers(options.layer_indices, reader.layers)
    except UserError as error:
        raise UserError(f"{reader.path}: {error}") from None


def compare_encoders(inputs: Sequence[str | os.PathLike[str]], options: CompareOptions = CompareOptions(),
                     protocol: ProtocolOptions = ProtocolOptions(), fit: FitOptions = FitOptions(),
                     labels: LabelOptions = LabelOptions(), detection: DetectionOptions = DetectionOptions(), *,
                     progress: bool = False) -> CompareDocument:
    """Probe every encoder on one set of folds over the clips they share; test each pair's selected
    records; map the linear CKA of every pair of layers (see layerprobe.compare for the options)."""
    paths = cache_paths(inputs)
    specs = classifier_specs(options.classifiers, solver=options.solver)
    with ExitStack() as stack:
        readers = [stack.enter_context(CacheReader(path)) for path in paths]
        attrs = [reader.attrs for reader in readers]
        targets = [clip_labels(reader, labels=labels.labels, label_column=labels.label_column,
                               id_column=labels.id_column) for reader in readers]
        ids = [reader.clips["id"].to_numpy()[target.rows] for reader, target in zip(readers, targets)]
        names = encoder_names(attrs, paths)
        _refuse_same_encoder(attrs, ids, paths)
        joined = join_clips(ids, [target.labels for target in targets], names)
        rows = [target.rows[where] for target, where in zip(targets, joined.positions)]
        layers = [_layers(options, reader) for reader in readers]
        first = replace(targets[0], rows=rows[0], labels=joined.labels)
        folds = cache_folds(readers[0], first, protocol)
        for reader, chosen in zip(readers, layers):
            reader.layer(chosen[0], options.pooling)  # an absent pooling is said before the folds are fitted
        notes = [f"{name}: {note}" for name, target in zip(names, targets) for note in [target.note()] if note]
        encoders = []
        for name, reader, chosen, these, target in zip(names, readers, layers, rows, targets):
            result = study(layer_sources(reader, chosen, options.pooling, these, specs), specs, joined.labels, folds,
                           fit, selections=selections_for([spec.name for spec in specs]),
                           detection=Detection(detection.positive_class, detection.at_precision), progress=progress,
                           progress_label=f"{name} fits")
            notes += [f"{name}: {note}" for note in result.notes]
            encoders.append(Encoder(
                name, reader.path, str(reader.attrs.get("model", "")), str(reader.attrs.get("model_fingerprint", "")),
                chosen, max(reader.layers), len(target.rows),
                [replace(record, pooling=options.pooling) for record in result.records]))
        cka = layer_cka(readers, names, layers, rows, options.pooling, protocol.seed)
    warnings = [*folds.warnings, *[line for line in [joined.note(names)] if line], *notes,
                *[f"{e.name}: {w}" for e in encoders for record in e.results for w in record.warnings]]
    return CompareDocument(
        protocol=folds.protocol, protocol_reason=folds.reason, selection=folds.selection, leak=folds.leak,
        n_folds=len(folds.outer), seed=folds.seed, split_counts=folds.split_counts,
        fold_sizes=[{"fit": len(fold.fit), "test": len(fold.test)} for fold in folds.outer],
        n_clips=int(len(joined.ids)), classes=encoders[0].results[0].classes, clip_ids=joined.ids.tolist(),
        clip_labels=joined.labels.tolist(), left_out=dict(zip(names, joined.left_out)), warnings=warnings,
        encoders=encoders, paired=paired_tests(encoders, joined.labels), cka=cka,
        options={**options.to_dict(), **protocol.to_dict(), **fit.result_dict(), **labels.to_dict(),
                 **detection.to_dict()})


def paired_tests(encoders: Sequence[Encoder], labels: np.ndarray) -> list[PairedTest]:
    """The paired test of every pair of encoders' selected records (the first given as `a`), Holm-corrected
    over the pairs."""
    pairs = list(combinations(encoders, 2))
    tests = [paired_test(a.results, b.results, PAIRED_METRIC, labels.tolist()) for a, b in pairs]
    corrected = holm([test.p_value for test in tests])
    return [PairedTest(a.name, b.name, test, p) for (a, b), test, p in zip(pairs, tests, corrected)]


def layer_cka(readers: Sequence[CacheReader], names: Sequence[str], layers: Sequence[list[int]],
              rows: Sequence[np.ndarray], pooling: str, seed: int, limit: int = CKA_CLIPS) -> CkaMap:
    """Linear CKA between every pair of the probed layers of every encoder, on the common clips (at most
    `limit` of them, a seeded draw)."""
    drawn = cka_rows(len(rows[0]), seed, limit)
    entries = [(name, layer) for name, chosen in zip(names, layers) for layer in chosen]
    matrices = [centered(reader.layer(layer, pooling)[these[drawn]])
                for reader, chosen, these in zip(readers, layers, rows) for layer in chosen]
    return CkaMap(entries, cka_matrix(matrices).round(6).tolist(), int(len(drawn)), CKA_METHOD)
