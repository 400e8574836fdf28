"""`baselines CACHE.h5 | DATA --out DIR`: hand-made features and chance on the probe's folds.

Given DATA (an audio folder or manifest) instead of a cache, it makes DIR/cache.h5 holding the
clips and their features only, without running an encoder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from layerprobe.atomic_write import writable_folder
from layerprobe.baselines.compute import feature_by_name
from layerprobe.baselines.features_only import features_only_cache
from layerprobe.baselines.paired import compare
from layerprobe.baselines.run import evaluate_baselines
from layerprobe.data.cache import is_hdf5_file
from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.options import (BaselineOptions, ColumnOptions, CurveOptions, DetectionOptions, FitOptions, LabelOptions,
                                MdlOptions, ProtocolOptions, one_label_column)
from layerprobe.options import add_arguments as add_options
from layerprobe.options import add_quiet
from layerprobe.results_file import read_document
from layerprobe.probes.output import document, save_document, table, warnings, with_interval, write_results
from layerprobe.registries import known
from layerprobe.results import Comparison, Document
from layerprobe.report.run_dir import COMPARISON_FILE, record_stage_seconds

RESULTS_FILE = "baseline_results.json"
CACHE_FILE = "cache.h5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The baselines command's arguments (shared by `baselines` and `layerprobe baselines`)."""
    parser.add_argument("source", metavar="CACHE.h5|DATA",
                        help="a cache from extract-embeddings, or an audio folder / manifest (then --out is needed)")
    add_options(parser, BaselineOptions, known)
    add_options(parser, ProtocolOptions, known)
    add_options(parser, FitOptions, known)
    parser.add_argument("--format", default="table", choices=["table", "json"],
                        help="table (default) or one JSON object on stdout")
    parser.add_argument("--out", metavar="DIR", help=f"write DIR/{RESULTS_FILE}; with DATA, also DIR/{CACHE_FILE}")
    parser.add_argument("--compare", metavar="PROBE_RESULTS.json",
                        help="probe results on the same cache and folds: test the best layer against the best baseline")
    parser.add_argument("--overwrite", action="store_true", help="recompute a stored feature made with other parameters")
    add_quiet(parser)
    add_options(parser, ColumnOptions, known)
    # --label-column is ColumnOptions' (see one_label_column)
    add_options(parser, LabelOptions, known, skip=("label_column",))
    add_options(parser, DetectionOptions, known)
    add_options(parser, CurveOptions, known)
    add_options(parser, MdlOptions, known)


def run(args: argparse.Namespace) -> int:
    """Run the baselines command on parsed arguments; returns the exit code."""
    chosen = BaselineOptions.from_args(args, known)
    protocol, fit = ProtocolOptions.from_args(args, known), FitOptions.from_args(args, known)
    for name in chosen.features:  # unknown names fail before a cache is made
        feature_by_name(name)
    if args.out:
        writable_folder(args.out)  # found before the features and fits, not after
    columns, labels = one_label_column(ColumnOptions.from_args(args, known), LabelOptions.from_args(args, known),
                                       manifest=not is_hdf5_file(args.source))
    detection, curve = DetectionOptions.from_args(args, known), CurveOptions.from_args(args, known)
    mdl = MdlOptions.from_args(args, known)
    started = time.perf_counter()
    cache = _cache(args, columns)
    result = evaluate_baselines(cache, chosen, protocol, fit, labels, detection, curve, mdl, progress=not args.quiet,
                                overwrite=args.overwrite)
    for line in warnings(result):
        print(f"warning: {line}", file=sys.stderr)
    doc = document(result, cache, {**chosen.to_dict(), **protocol.to_dict(), **fit.result_dict(), **labels.to_dict(),
                                   **detection.to_dict(), **curve.result_dict(), **mdl.result_dict()})
    if args.compare:
        doc = replace(doc, comparison=_comparison(args.compare, doc, cache))
    if args.out:
        doc = save_document(doc, args.out, RESULTS_FILE)
        written = [Path(args.out) / RESULTS_FILE]
        record_stage_seconds(args.out, "baselines", time.perf_counter() - started)  # its features included
        if args.compare:
            # Where `layerprobe report` and `layerprobe run` keep it: stage by stage equals run.
            written.append(write_results(doc.comparison, args.out, COMPARISON_FILE))
        if not args.quiet:
            for path in written:
                print(f"wrote {path}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(doc.to_dict()))
    else:
        print(table(doc, first_column="feature"))
        if args.compare:
            print(describe_comparison(doc.comparison))
    return 0


def _cache(args: argparse.Namespace, columns: ColumnOptions) -> str:
    """The cache to evaluate: SOURCE itself, or DIR/cache.h5 made from DATA with the manifest `columns`."""
    source = Path(args.source)
    if is_hdf5_file(args.source):
        return str(source)
    if not source.exists():
        raise UserError(f"{source}: no such cache, folder or manifest")
    if not args.out:
        raise UserError(f"{source} is a dataset, not a cache: give --out DIR to make DIR/{CACHE_FILE} from it")
    return str(features_only_cache(source, Path(args.out) / CACHE_FILE, **columns.to_dict()))


def _comparison(probe_results: str, doc: Document, cache: str) -> Comparison:
    probe_doc = read_document(probe_results, scores=False)
    if probe_doc.clip_ids != doc.clip_ids or probe_doc.protocol != doc.protocol:
        raise UserError(f"{probe_results} was not made on the clips and protocol of {cache}: run probe on the same "
                        "cache with the same --cv, --folds, --seed and labels")
    if (probe_doc.clip_labels or doc.clip_labels) != doc.clip_labels:
        raise UserError(f"{probe_results} probed other labels of these clips: give probe and baselines the same "
                        "--labels and --label-column")
    try:
        return compare(probe_doc.results, doc.results, labels=doc.clip_labels)
    except ValueError as error:
        raise UserError(str(error)) from None


def describe_comparison(result: Comparison) -> str:
    """Two lines for people: the selected layer against the selected baseline, and the paired test."""
    layer, baseline = result.best_layer, result.best_baseline
    metric = "UAR" if result.metric == "balanced_accuracy" else result.metric
    lines = [f"{layer.describe()} {metric} {with_interval(layer)} vs selected baseline {metric} "
             f"{with_interval(baseline)}: difference {result.value_difference:+.3f} over {result.n_folds} fold(s)"]
    if result.p_value is None:
        lines.append(f"{result.test}: {result.note or 'no test possible'}")
    else:
        line = f"{result.test}: p = {result.p_value:.3g}"
        if result.wilcoxon_p_value is not None:
            line += f"; Wilcoxon signed-rank p = {result.wilcoxon_p_value:.3g}"
        if result.wilcoxon_note:
            line += f" ({result.wilcoxon_note})"
        lines.append(line)
    return "\n".join(lines)




def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `baselines` console script."""
    parser = ArgumentParser(prog="baselines", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_cli(run, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
