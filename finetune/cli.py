"""`layerprobe finetune CACHE_OR_RUN --rungs frozen-head,top-k,lora,full --out DIR`: the adaptation ladder on
the probe's own outer folds."""
from __future__ import annotations

import argparse
import json
import sys

from layerprobe.atomic_write import writable_folder
from layerprobe.extract.engines import add_engine_arguments, engine_options_from_args
from layerprobe.finetune.output import RESULTS_FILE, ladder_table
from layerprobe.options import FinetuneOptions, FitOptions, LabelOptions, ProtocolOptions
from layerprobe.options import add_arguments as add_options
from layerprobe.options import add_quiet
from layerprobe.registries import known

# What the ladder does not take from the probes' fitting options.
SKIPPED_FIT = ("permutations", "n_jobs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The finetune command's arguments."""
    parser.add_argument("source", metavar="CACHE_OR_RUN",
                        help="a run folder (its probe_results.json gives the cache, protocol and folds) or a cache "
                             "(with the protocol flags given to probe)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help=f"write DIR/{RESULTS_FILE}; DIR/finetune_work keeps finished units, so a rerun resumes")
    add_options(parser, FinetuneOptions, known)
    add_options(parser, ProtocolOptions, known)
    add_options(parser, FitOptions, known, skip=SKIPPED_FIT)
    add_options(parser, LabelOptions, known)
    add_engine_arguments(parser, known)
    parser.add_argument("--format", default="table", choices=["table", "json"],
                        help="table (default) or one JSON object on stdout")
    add_quiet(parser)


def run(args: argparse.Namespace) -> int:
    """Run the finetune command on parsed arguments; returns the exit code."""
    from layerprobe.finetune.stage import finetune_stage  # torch loads here, after the options are checked

    groups = [group.from_args(args, known) for group in (FinetuneOptions, ProtocolOptions, FitOptions, LabelOptions)]
    engine = engine_options_from_args(args, known)
    writable_folder(args.out)
    doc = finetune_stage(args.source, args.out, *groups, engine, progress=not args.quiet)
    if not args.quiet:
        print(f"wrote {args.out}/{RESULTS_FILE}", file=sys.stderr)
    print(json.dumps(doc.to_dict()) if args.format == "json" else ladder_table(doc))
    return 0
