"""`layerprobe compare RUN_DIR|CACHE.h5 ... --out DIR`: several encoders of the same clips on one set of folds."""
from __future__ import annotations

import argparse
import sys

from layerprobe.atomic_write import writable_folder
from layerprobe.compare_results import CompareDocument
from layerprobe.options import CompareOptions, DetectionOptions, FitOptions, LabelOptions, ProtocolOptions
from layerprobe.options import add_arguments as add_options
from layerprobe.options import add_quiet
from layerprobe.probes.output import headline_record, with_interval
from layerprobe.registries import known
from layerprobe.report.compare_report import describe_pairs, write_compare

GROUPS = (CompareOptions, ProtocolOptions, FitOptions, LabelOptions, DetectionOptions)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The compare command's arguments."""
    parser.add_argument("inputs", nargs="+", metavar="RUN_DIR|CACHE.h5",
                        help="two or more run folders of `layerprobe run` (their cache.h5) or caches of the same clips "
                             "from different encoders, joined by clip id")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for compare.json, report.md, report.html and the figures")
    for group in GROUPS:
        add_options(parser, group, known)
    add_quiet(parser)


def run(args: argparse.Namespace) -> int:
    """Compare the encoders, write the report, print each encoder's selected record and the paired tests."""
    from layerprobe.probes.compare import cache_paths, compare_encoders

    groups = [group.from_args(args, known) for group in GROUPS]
    cache_paths(args.inputs)  # a missing input is said before the folder is made
    writable_folder(args.out)
    doc = compare_encoders(args.inputs, *groups, progress=not args.quiet)
    for line in doc.warnings:
        print(f"warning: {line}", file=sys.stderr)
    for path in write_compare(doc, args.out).values():
        if not args.quiet:
            print(f"wrote {path}", file=sys.stderr)
    print(summary(doc))
    return 0


def summary(doc: CompareDocument) -> str:
    """Each encoder's selected record, then one line per paired test."""
    lines = [f"{doc.n_clips} clips, {doc.protocol} ({doc.n_folds} folds)"]
    for encoder in doc.encoders:
        top = headline_record(encoder.results)
        lines.append(f"{encoder.name}: {top.describe()} UAR {with_interval(top.balanced_accuracy)}")
    return "\n".join(lines + describe_pairs(doc.paired))
