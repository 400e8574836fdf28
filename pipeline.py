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
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from layerprobe import __version__
from layerprobe.atomic_write import writable_folder, write_text_atomic
from layerprobe.errors import UserError

RANDOM_INIT_NOTE = "The encoder has random weights: these numbers are a smoke run of the pipeline, not a result."


# Root attrs that say how the rows were made, not what made them (command line, package versions
# other than layerprobe's, which is in every key): a stage's result depends on these.
_UNKEYED_ATTRS = ("command", "versions", "data")


def cache_signature(cache: Path, features: Sequence[str]) -> str:
    """A hash of what a stage reads from a cache: its extraction settings (encoder fingerprint,
    layers, dtype, chunking, pooling, ...), clip table, statuses and these features'."""
    digest = hashlib.blake2b(digest_size=16)
    with h5py.File(cache, "r") as f:
        settings = {key: _plain(value) for key, value in f.attrs.items() if key not in _UNKEYED_ATTRS}
        digest.update(json.dumps(settings, sort_keys=True).encode())
        for name in ("clips/id", "clips/label", "clips/group", "clips/split", "clips/status"):
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


def previous_result(path: Path, key: str, name: str) -> dict | None:
    """The document at `path` if it is whole and was computed under `key`; None (with a one-line
    notice where the file is there but not reusable) otherwise."""
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
    return previous


def _stage(path: Path, options: dict, signature: str, compute: Callable[[], dict], name: str) -> dict:
    """Reuse path's document when it was computed with these options on these cache rows; else compute it."""
    key = stage_key(options, signature)
    previous = previous_result(path, key, name)
    if previous is not None:
        print(f"{name}: unchanged since the last run, reusing {path.name}", file=sys.stderr)
        return previous
    started = time.perf_counter()
    document = compute()
    document["run_key"] = key
    document["layerprobe_version"] = __version__
    document["seconds"] = time.perf_counter() - started
    write_text_atomic(path, json.dumps(document, indent=1))
    return document


def run(
    data: str,
    out: str,
    model: str = "facebook/wav2vec2-base",
    features: Sequence[str] = ("mfcc",),
    cv: str | None = None,
    folds: int = 5,
    fold_column: str | None = None,
    refit: str = "train",
    seed: int = 0,
    class_weight: str = "none",
    permutations: int = 0,
    n_jobs: int = -1,
    labels: str | None = None,
    id_column: str | None = None,
    positive_class: str | None = None,
    at_precision: float | None = None,
    random_init: bool = False,
    progress: bool = True,
    command: str = "",
    **extract_options,
) -> dict[str, Path]:
    """Every stage from audio to report, into RUN_DIR=out; returns the report's files.

    data, model and extract_options: as for layerprobe.extract (layers, revision, device, dtype,
    columns, ...). features: hand-made baselines (default mfcc). cv, folds, fold_column, refit, seed,
    class_weight, permutations: as for probe, shared by the baselines so every comparison is paired. n_jobs:
    workers for the CPU stages (default all cores). labels, id_column, positive_class, at_precision: as
    for probe; with labels, label_column (among extract_options) names the table's column, and the
    manifest's own label column is found by its default name. random_init: say in the report that
    the encoder is untrained (the demo's).
    """
    from layerprobe.baselines.paired import compare
    from layerprobe.baselines.compute import compute_features, feature_by_name
    from layerprobe.baselines.run import evaluate_baselines
    from layerprobe.extract.runner import extract
    from layerprobe.probes.output import document
    from layerprobe.probes.sweep import sweep
    from layerprobe.report.build import write_report

    run_dir = writable_folder(Path(out))
    if not features:
        raise UserError("--features names no feature; give one or more of mfcc, logmel, egemaps")
    for name in features:
        feature_by_name(name)  # an unknown or unavailable feature is refused before the encoder runs
    cache = run_dir / "cache.h5"
    # Without a table the manifest's label column becomes clips/label, which the probes read.
    label_column = extract_options.pop("label_column", None) if labels else None
    started = time.perf_counter()
    summary = extract(data, str(cache), model=model, command=command, progress=progress, **extract_options)
    extract_seconds = time.perf_counter() - started
    print(summary, file=sys.stderr)
    shared = dict(cv=cv, folds=folds, fold_column=fold_column, refit=refit, seed=seed, class_weight=class_weight,
                  permutations=permutations, labels=str(labels) if labels else None, label_column=label_column,
                  id_column=id_column, positive_class=positive_class, at_precision=at_precision)
    keyed = {**shared, "labels_digest": _file_digest(labels)}

    def probe_document() -> dict:
        result = sweep(cache, "all", "all", n_jobs=n_jobs, progress=progress, **shared)
        return document(result, cache, {"classifier": "all", **shared})

    def baseline_document() -> dict:
        result = evaluate_baselines(cache, tuple(features), n_jobs=n_jobs, progress=progress, **shared)
        return document(result, cache, {"features": list(features), **shared})

    probes = _stage(run_dir / "probe_results.json", keyed, cache_signature(cache, ()), probe_document, "probe")
    started = time.perf_counter()
    print(compute_features(cache, tuple(features), progress=progress), file=sys.stderr)
    feature_seconds = time.perf_counter() - started
    baseline = _stage(run_dir / "baseline_results.json", {**keyed, "features": list(features)},
                      cache_signature(cache, features), baseline_document, "baselines")
    clips, attrs, n_failed = _ok_clips(cache)
    label_of = _probed_labels(cache, labels=labels, label_column=label_column, id_column=id_column)
    comparison = compare(probes["results"], baseline["results"],
                         labels=[label_of[clip_id] for clip_id in probes["clip_ids"]])
    write_text_atomic(run_dir / "comparison.json", json.dumps(comparison, indent=1))
    facts = {
        "data": str(data),
        "n_clips": len(clips),
        "n_failed": n_failed,
        "classes": dict(sorted(Counter(label_of[clip_id] for clip_id in probes["clip_ids"]).items())),
        "groups": len(set(clips["group"]) - {""}),
        "group_column": str(attrs.get("group_column", "")) or None,
        "protocol": probes["protocol"],
        "model": str(attrs["model"]),
        "model_revision": str(attrs.get("model_revision", "")),
        "layers": [int(i) for i in attrs["layers"]],
        "stage_seconds": {"extract": extract_seconds, "features": feature_seconds, "baselines": baseline["seconds"],
                          "probe": probes["seconds"]},
        "command": command,
    }
    if random_init:
        facts["random_init_note"] = RANDOM_INIT_NOTE
    write_text_atomic(run_dir / "run.json", json.dumps(facts, indent=1))
    return write_report(run_dir)


def _file_digest(path: str | None) -> str | None:
    """A hash of a file's bytes (the label table: an edited table is a new result), None without one."""
    if not path:
        return None
    try:
        return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error}") from None


def _probed_labels(cache: Path, **label_options) -> dict[str, str]:
    """The label each probed clip's id was probed for (clips/label, or the joined table's)."""
    from layerprobe.data.label_table import clip_labels
    from layerprobe.data.reader import CacheReader

    with CacheReader(cache) as reader:
        target = clip_labels(reader, **label_options)
        ids = reader.clips["id"].iloc[target.rows]
    return dict(zip(ids, target.labels))


def _ok_clips(cache: Path) -> tuple[pd.DataFrame, dict, int]:
    """The cache's ok clips (a DataFrame), its root attrs, and how many clips failed."""
    from layerprobe.data.reader import CacheReader

    with CacheReader(cache) as reader:
        clips, attrs = reader.clips, reader.attrs
    with h5py.File(cache, "r") as f:
        n_failed = int((f["clips/status"][()] == b"failed").sum())
    return clips, attrs, n_failed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from layerprobe.extract.cli import add_data_arguments, add_model_arguments
    from layerprobe.probes.cli import add_label_arguments, add_protocol_arguments

    add_data_arguments(parser)
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="folder for the cache, results and report")
    add_model_arguments(parser)
    parser.add_argument("--features", default="mfcc",
                        help="hand-made baselines, comma-separated: mfcc (default), logmel, egemaps")
    add_protocol_arguments(parser)
    # --label-column is the manifest's column (add_data_arguments); with --labels, the table's.
    add_label_arguments(parser, label_column=False)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_command(args: argparse.Namespace) -> int:
    from layerprobe.extract.cli import extract_kwargs
    from layerprobe.probes.cli import protocol_kwargs

    files = run(
        args.data, args.out, features=[f.strip() for f in args.features.split(",") if f.strip()],
        progress=not args.quiet, command=shlex.join(sys.argv), labels=args.labels, id_column=args.id_column,
        positive_class=args.positive_class, at_precision=args.at_precision, **protocol_kwargs(args),
        **extract_kwargs(args),
    )
    print_headline(Path(args.out))
    print(f"report: {files['report.html']}")
    return 0


def print_headline(run_dir: Path) -> None:
    """The probe table and the paired comparison, as the terminal shows them."""
    from layerprobe.baselines.cli import describe_comparison
    from layerprobe.probes.output import table

    probe_doc = json.loads((run_dir / "probe_results.json").read_text())
    print(table(probe_doc))
    for line in probe_doc["warnings"]:
        print(f"warning: {line}")
    print(describe_comparison(json.loads((run_dir / "comparison.json").read_text())))
