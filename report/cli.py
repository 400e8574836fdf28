"""`layerprobe report RUN_DIR`: every layer against the baselines and chance, as Markdown, HTML, JSON and PNG."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from layerprobe.errors import ArgumentParser, run_cli
from layerprobe.options import add_quiet
from layerprobe.report.build import write_report
from layerprobe.report.run_dir import read_run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The report command's arguments (shared by `layerprobe report` and `python -m layerprobe.report.cli`)."""
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="folder holding probe_results.json and, when run, baseline_results.json, "
                             "comparison.json and run.json; the report is written there")
    add_quiet(parser)


def run(args: argparse.Namespace) -> int:
    """Write the report for parsed arguments; returns the exit code."""
    for name in read_run_dir(args.run_dir).missing:
        print(f"warning: {name} is missing from {args.run_dir}; the report says so", file=sys.stderr)
    for path in write_report(args.run_dir).values():
        if not args.quiet:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m layerprobe.report.cli`."""
    parser = ArgumentParser(prog="layerprobe report", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_cli(run, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
