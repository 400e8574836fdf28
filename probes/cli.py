"""`probe CACHE.h5 --layer 11|all|3,6,9`: linear probes per cached layer, evaluated without leaks.

`probe NEW.h5 --predict MODEL.npz` applies a probe saved with --save-model to another cache.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from layerprobe.atomic_write import atomic_path, writable_folder
from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.options import (CurveOptions, DetectionOptions, FitOptions, LabelOptions, MdlOptions, ProbeOptions,
                                ProtocolOptions)
from layerprobe.options import add_arguments as add_options
from layerprobe.options import add_quiet
from layerprobe.probes.output import RESULTS_FILE, save_document, table
from layerprobe.probes.predictions import describe, summary
from layerprobe.probes.saved_probe import load_probe, predict_cache
from layerprobe.probes.stage import probe_stage
from layerprobe.registries import known
from layerprobe.report.run_dir import record_stage_seconds

PREDICTIONS_FILE = "predictions.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The probe command's arguments (shared by `probe` and `layerprobe probe`)."""
    parser.add_argument("cache", help="HDF5 cache written by extract-embeddings")
    add_options(parser, ProbeOptions, known)
    add_options(parser, ProtocolOptions, known)
    add_options(parser, FitOptions, known)
    add_options(parser, LabelOptions, known)
    add_options(parser, DetectionOptions, known)
    add_options(parser, CurveOptions, known)
    add_options(parser, MdlOptions, known)
    parser.add_argument("--format", default="table", choices=["table", "json"],
                        help="table (default) or one JSON object on stdout")
    parser.add_argument("--out", metavar="DIR", help=f"write DIR/probe_results.json (or DIR/{PREDICTIONS_FILE})")
    add_quiet(parser)
    parser.add_argument("--predict", metavar="MODEL",
                        help=f"apply a probe saved with --save-model to CACHE instead: DIR/{PREDICTIONS_FILE} gets each "
                             "clip's class and scores (with --at-precision, the decision at the saved threshold)")
    parser.add_argument("--force", action="store_true",
                        help="with --predict: apply a probe fitted on another encoder's embeddings anyway (said on stderr)")


def run(args: argparse.Namespace) -> int:
    """Run the probe command on parsed arguments; returns the exit code."""
    if args.predict:
        return _predict(args)
    if args.out:
        writable_folder(args.out)  # an unwritable --out is found before the first fit, not after the last
    started = time.perf_counter()
    groups = [group.from_args(args, known)
              for group in (ProbeOptions, ProtocolOptions, FitOptions, LabelOptions, DetectionOptions, CurveOptions,
                            MdlOptions)]
    doc = probe_stage(args.cache, *groups, out=args.out, progress=not args.quiet)
    for line in doc.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if args.out:
        doc = save_document(doc, args.out)
        path = Path(args.out) / RESULTS_FILE
        record_stage_seconds(args.out, "probe", time.perf_counter() - started)
        if not args.quiet:
            print(f"wrote {path}", file=sys.stderr)
    print(json.dumps(doc.to_dict()) if args.format == "json" else table(doc))
    return 0


def _predict(args: argparse.Namespace) -> int:
    """Apply a saved probe: every clip's row goes to OUT/predictions.csv, a summary to stdout."""
    if not args.out:
        raise UserError(f"--predict needs --out DIR: each clip's prediction and scores go to DIR/{PREDICTIONS_FILE}")
    folder = writable_folder(args.out)
    pooling = ProbeOptions.from_args(args, known).pooling
    at_precision = DetectionOptions.from_args(args, known).at_precision
    probe = load_probe(args.predict)
    # The default pooling asks for nothing: the probe reads the pooling it was fitted on.
    predictions = predict_cache(probe, args.cache, force=args.force, at_precision=at_precision, name=args.predict,
                                pooling=None if pooling == ProbeOptions.pooling else pooling)
    path = folder / PREDICTIONS_FILE
    with atomic_path(path) as temporary:
        predictions.to_csv(temporary, index=False)
    found = summary(predictions, path, probe.meta.get("pooling", "mean"))
    print(json.dumps(found) if args.format == "json" else describe(found))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `probe` console script."""
    parser = ArgumentParser(prog="probe", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_cli(run, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
