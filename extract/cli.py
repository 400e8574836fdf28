"""`extract-embeddings DATA --out CACHE.h5`: stage 1 on the command line (also `layerprobe extract`)."""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.extract.engines import add_engine_arguments, engine_options_from_args
from layerprobe.options import ColumnOptions, ExtractOptions
from layerprobe.options import add_arguments as add_options
from layerprobe.options import add_quiet
from layerprobe.registries import known


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """DATA and its column flags."""
    parser.add_argument("data", metavar="DATA", help="audio folder (subfolders are labels), manifest CSV/TSV "
                        "(or a folder holding manifest.csv), a Hugging Face dataset saved with save_to_disk, or a "
                        "Speech Commands folder (keyword folders beside validation_list.txt and testing_list.txt)")
    add_options(parser, ColumnOptions, known)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, metavar="CACHE.h5", help="the HDF5 cache to write or resume")
    add_options(parser, ExtractOptions, known)
    add_engine_arguments(parser, known)
    add_quiet(parser)


def run(args: argparse.Namespace) -> int:
    options, columns = ExtractOptions.from_args(args, known), ColumnOptions.from_args(args, known)
    engine = engine_options_from_args(args, known)
    from layerprobe.extract.runner import extract  # torch loads here, after the flags are checked

    summary = extract(args.data, args.out, options, columns, engine, command=shlex.join(sys.argv),
                      progress=not args.quiet)
    print(summary, file=sys.stderr)
    if not args.quiet:
        print(f"cache: {args.out}", file=sys.stderr)
    if summary.ok == 0 and summary.skipped == 0:
        raise UserError("no clip could be extracted; see the failure reasons above")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="extract-embeddings", description="Run a frozen speech encoder once and cache "
                            "every layer's pooled embeddings (mean, and optionally std and max) in HDF5.")
    add_arguments(parser)
    return run_cli(run, parser, argv)
