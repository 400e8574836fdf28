"""`layerprobe run DATA --out RUN_DIR`: extraction, baselines, the probe sweep and the report, resumably.

Each stage's results file carries a key: a hash of the stage's options, of the layerprobe version
and of what it read from the cache (the extraction settings, the clip table and statuses). A
second run with the same arguments finds every key unchanged, recomputes nothing and only rewrites
the report. Every file is written atomically; one that cannot be read is recomputed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from layerprobe.version import __version__
from layerprobe.atomic_write import writable_folder, write_text_atomic
from layerprobe.data.cache import open_cache
from layerprobe.data.parts import TEXT_COLUMNS, stored_text_names
from layerprobe.errors import UserError
from layerprobe.options import (BaselineOptions, ColumnOptions, CurveOptions, DetectionOptions, EngineOptions,
                                ExtractOptions, FitOptions, LabelOptions, MdlOptions, ProbeOptions, ProtocolOptions,
                                add_quiet, one_label_column)
from layerprobe.options import add_arguments as add_options
from layerprobe.registries import known
from layerprobe.results import Comparison, Document, RunFacts
from layerprobe.results_file import read_document, write_document

RANDOM_INIT_NOTE = "The encoder has random weights: these numbers are a smoke run of the pipeline, not a result."


# Root attrs that say how the rows were made, not what made them (command line, package versions
# other than layerprobe's, which is in every key): a stage's result depends on these.
_UNKEYED_ATTRS = ("command", "versions", "data")


def cache_signature(cache: Path, features: Sequence[str]) -> str:
    """A hash of what a stage reads from a cache: its extraction settings (encoder fingerprint,
    layers, dtype, chunking, pooling, ...), clip table, statuses and these features'."""
    digest = hashlib.blake2b(digest_size=16)
    with open_cache(cache) as f:
        settings = {key: _plain(value) for key, value in f.attrs.items() if key not in _UNKEYED_ATTRS}
        digest.update(json.dumps(settings, sort_keys=True).encode())
        # A manifest's other columns (clips/fold) may give the folds: a changed one makes a new result.
        others = [f"clips/{name}" for name in stored_text_names(f)[len(TEXT_COLUMNS):]]
        for name in ("clips/id", "clips/label", "clips/group", "clips/split", "clips/status", *others):
            digest.update(np.asarray(f[name][()]).astype(bytes).tobytes())
        for name in features:
            digest.update(name.encode() + f[f"feature_status/{name}"][()].astype(bytes).tobytes())
            digest.update(str(f[f"features/{name}"].attrs.get("params", "")).encode())
    return digest.hexdigest()


def _plain(value) -> object:
    """An HDF5 attribute as JSON: arrays as lists, bytes as text."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value


def stage_key(options: dict, signature: str) -> str:
    """The key of a stage's result: its options, the cache signature and the layerprobe version."""
    text = json.dumps({"options": options, "cache": signature, "layerprobe": __version__}, sort_keys=True,
                      default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def previous_result(path: Path, key: str, name: str) -> Document | None:
    """The document at `path` if it is whole, its scores file too, and was computed under `key`; None
    (with a one-line notice where the file is there but not reusable) otherwise."""
    if not path.exists():
        return None
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        print(f"{name}: {path.name} cannot be read ({error}); recomputing it", file=sys.stderr)
        return None
    if not isinstance(previous, dict) or not isinstance(previous.get("results"), list):
        print(f"{name}: {path.name} is not a results document; recomputing it", file=sys.stderr)
        return None
    if previous.get("layerprobe_version") != __version__:
        print(f"{name}: {path.name} was written by layerprobe {previous.get('layerprobe_version', '(unknown)')}; "
              "recomputing it", file=sys.stderr)
        return None
    if previous.get("run_key") != key:
        return None
    try:
        return read_document(path)
    except UserError as error:
        print(f"{name}: {path.name} cannot be reused ({error}); recomputing it", file=sys.stderr)
        return None


def _stage(path: Path, options: dict, signature: str, compute: Callable[[], Document], name: str) -> Document:
    """Reuse path's document when it was computed with these options on these cache rows; else compute it."""
    key = stage_key(options, signature)
    previous = previous_result(path, key, name)
    if previous is not None:
        print(f"{name}: unchanged since the last run, reusing {path.name}", file=sys.stderr)
        return previous
    started = time.perf_counter()
    document = replace(compute(), run_key=key, layerprobe_version=__version__)
    return write_document(replace(document, seconds=time.perf_counter() - started), path)


def run(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    columns: ColumnOptions,
    extract: ExtractOptions,
    probe: ProbeOptions,
    baseline: BaselineOptions,
    protocol: ProtocolOptions,
    fit: FitOptions,
    labels: LabelOptions = LabelOptions(),
    detection: DetectionOptions = DetectionOptions(),
    mdl: MdlOptions = MdlOptions(),
    engine: EngineOptions = EngineOptions(),
    curve: CurveOptions = CurveOptions(),
    progress: bool = True,
    command: str = "",
    random_init: bool = False,
) -> dict[str, Path]:
    """Every stage from audio to report, into RUN_DIR=out; returns the report's files (see layerprobe.run).

    Every extracted layer is probed (whatever probe.layers says). The features' audio is found
    through DATA first, so a manifest other than the first run's adds its new clips to the run.
    labels and columns share one label column (see options.one_label_column).
    random_init: say in the report that the encoder is untrained (the demo's).
    """
    from layerprobe.baselines.paired import compare
    from layerprobe.baselines.compute import compute_features, feature_by_name
    from layerprobe.baselines.run import evaluate_baselines
    from layerprobe.extract.runner import extract as extract_embeddings
    from layerprobe.probes.layer_mdl import check_mdl
    from layerprobe.probes.mdl import PROBE
    from layerprobe.probes.output import document
    from layerprobe.probes.stage import probe_stage
    from layerprobe.report.build import write_report

    run_dir = writable_folder(Path(out))
    for name in baseline.features:
        feature_by_name(name)  # an unknown or unavailable feature is refused before the encoder runs
    check_mdl(mdl, probe.classifiers)
    probe = replace(probe, layers="all")
    cache = run_dir / "cache.h5"
    columns, labels = one_label_column(columns, labels)
    started = time.perf_counter()
    summary = extract_embeddings(str(data), str(cache), extract, columns, engine, command=command, progress=progress)
    extract_seconds = time.perf_counter() - started
    print(summary, file=sys.stderr)
    shared = {**protocol.to_dict(), **fit.result_dict(), **labels.to_dict(), **detection.to_dict(),
              **curve.result_dict()}
    keyed = {**shared, "labels_digest": _file_digest(labels.labels)}

    # The baselines' features are coded too where their classifiers hold logreg.
    baseline_mdl = mdl if PROBE in baseline.classifiers else MdlOptions()

    def baseline_document() -> Document:
        result = evaluate_baselines(cache, baseline, protocol, fit, labels, detection, curve, baseline_mdl,
                                    progress=progress)
        return document(result, cache, {**baseline.to_dict(), **shared, **baseline_mdl.result_dict()})

    probes = _stage(
        run_dir / "probe_results.json", {**probe.to_dict(), **keyed, **mdl.result_dict()}, cache_signature(cache, ()),
        lambda: probe_stage(cache, probe, protocol, fit, labels, detection, curve, mdl, out=run_dir,
                            progress=progress),
        "probe")
    started = time.perf_counter()
    print(compute_features(cache, baseline.features, progress=progress, data=str(data), columns=columns.to_dict(),
                           n_jobs=fit.n_jobs), file=sys.stderr)
    feature_seconds = time.perf_counter() - started
    baseline_doc = _stage(run_dir / "baseline_results.json",
                          {**baseline.to_dict(), **keyed, **baseline_mdl.result_dict()},
                          cache_signature(cache, baseline.features), baseline_document, "baselines")
    clips, attrs, n_failed = _ok_clips(cache)
    label_of = _probed_labels(cache, labels)
    comparison = compare(probes.results, baseline_doc.results,
                         labels=[label_of[clip_id] for clip_id in probes.clip_ids])
    write_text_atomic(run_dir / "comparison.json", json.dumps(comparison.to_dict(), indent=1))
    facts = RunFacts(
        data=str(data), n_clips=len(clips), n_failed=n_failed,
        classes=dict(sorted(Counter(label_of[clip_id] for clip_id in probes.clip_ids).items())),
        groups=len(set(clips["group"]) - {""}), group_column=str(attrs.get("group_column", "")) or None,
        protocol=probes.protocol, model=str(attrs["model"]), model_revision=str(attrs.get("model_revision", "")),
        layers=[int(i) for i in attrs["layers"]],
        stage_seconds={"extract": extract_seconds, "features": feature_seconds, "baselines": baseline_doc.seconds,
                       "probe": probes.seconds},
        command=command, random_init_note=RANDOM_INIT_NOTE if random_init else None)
    write_text_atomic(run_dir / "run.json", json.dumps(facts.to_dict(), indent=1))
    return write_report(run_dir)


def _file_digest(path: str | None) -> str | None:
    """A hash of a file's bytes (the label table: an edited table is a new result), None without one."""
    if not path:
        return None
    try:
        return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error}") from None


def _probed_labels(cache: Path, labels: LabelOptions) -> dict[str, str]:
    """The label each probed clip's id was probed for (clips/label, or the joined table's)."""
    from layerprobe.data.label_table import clip_labels
    from layerprobe.data.reader import CacheReader

    with CacheReader(cache) as reader:
        target = clip_labels(reader, labels=labels.labels, label_column=labels.label_column,
                             id_column=labels.id_column)
        ids = reader.clips["id"].iloc[target.rows]
    return dict(zip(ids, target.labels))


def _ok_clips(cache: Path) -> tuple[pd.DataFrame, dict, int]:
    """The cache's ok clips (a DataFrame), its root attrs, and how many clips failed."""
    from layerprobe.data.reader import CacheReader

    with CacheReader(cache) as reader:
        clips, attrs = reader.clips, reader.attrs
    with open_cache(cache) as f:
        n_failed = int((f["clips/status"][()] == b"failed").sum())
    return clips, attrs, n_failed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from layerprobe.extract.cli import add_data_arguments

    add_data_arguments(parser)
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="folder for the cache, results and report")
    add_stage_options(parser)


def add_stage_options(parser: argparse.ArgumentParser, *, encoder_skip: Sequence[str] = ()) -> None:
    """Every stage's options as `run` (and `demo`, which skips the encoder options it sets) takes them."""
    from layerprobe.extract.engines import add_engine_arguments

    add_options(parser, ExtractOptions, known, skip=encoder_skip)
    add_engine_arguments(parser, known)
    # every extracted layer is probed; --pooling is the extraction's
    add_options(parser, ProbeOptions, known, skip=("layers",), flags={"pooling": ("--probe-pooling",)})
    add_options(parser, BaselineOptions, known,
                flags={"classifiers": ("--baseline-classifier", "--baseline-classifiers")})
    add_options(parser, ProtocolOptions, known)
    add_options(parser, FitOptions, known)
    add_options(parser, LabelOptions, known, skip=("label_column",))  # --label-column: see options.one_label_column
    add_options(parser, DetectionOptions, known)
    add_options(parser, CurveOptions, known)
    add_options(parser, MdlOptions, known)
    add_quiet(parser)


def stage_options(args: argparse.Namespace) -> dict:
    """The parsed options of add_stage_options (and the columns) as keyword arguments of `run`."""
    from layerprobe.extract.engines import engine_options_from_args

    return dict(columns=ColumnOptions.from_args(args, known), extract=ExtractOptions.from_args(args, known),
                probe=ProbeOptions.from_args(args, known), baseline=BaselineOptions.from_args(args, known),
                protocol=ProtocolOptions.from_args(args, known), fit=FitOptions.from_args(args, known),
                labels=LabelOptions.from_args(args, known), detection=DetectionOptions.from_args(args, known),
                engine=engine_options_from_args(args, known), curve=CurveOptions.from_args(args, known),
                mdl=MdlOptions.from_args(args, known), progress=not args.quiet)


def run_command(args: argparse.Namespace) -> int:
    files = run(args.data, args.out, command=shlex.join(sys.argv), **stage_options(args))
    print_headline(Path(args.out))
    print(f"report: {files['report.html']}")
    return 0


def print_headline(run_dir: Path) -> None:
    """The probe table and the paired comparison, as the terminal shows them."""
    from layerprobe.baselines.cli import describe_comparison
    from layerprobe.probes.output import table

    probe_doc = read_document(run_dir / "probe_results.json", scores=False)
    print(table(probe_doc))
    for line in probe_doc.warnings:
        print(f"warning: {line}")
    print(describe_comparison(Comparison.from_dict(json.loads((run_dir / "comparison.json").read_text()))))
