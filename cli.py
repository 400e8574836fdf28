"""`layerprobe COMMAND ...`: every stage under one name."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from layerprobe.version import __version__
from layerprobe.errors import ArgumentParser, run_cli


def build_parser() -> ArgumentParser:
    """The `layerprobe` parser: one subcommand per stage, each with its `run` function as the default `run`."""
    from layerprobe import demo, pipeline
    from layerprobe.baselines import cli as baselines_cli
    from layerprobe.extract import cli as extract_cli
    from layerprobe.finetune import cli as finetune_cli
    from layerprobe.probes import cli as probe_cli
    from layerprobe.report import cli as report_cli
    from layerprobe.report import compare_cli

    parser = ArgumentParser(prog="layerprobe", description="Is my label linearly separable in a frozen speech "
                            "encoder, and at which layer?")
    parser.add_argument("--version", action="version", version=f"layerprobe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    stages = {
        "run": (pipeline.add_arguments, pipeline.run_command, "every stage from audio to report"),
        "extract": (extract_cli.add_arguments, extract_cli.run, "run the encoder once, cache every layer"),
        "probe": (probe_cli.add_arguments, probe_cli.run, "linear probes on cached layers"),
        "baselines": (baselines_cli.add_arguments, baselines_cli.run, "MFCC and chance baselines on the same folds"),
        "report": (report_cli.add_arguments, report_cli.run, "the comparison report of a run folder"),
        "compare": (compare_cli.add_arguments, compare_cli.run, "several encoders of the same clips on one set of "
                    "folds"),
        "finetune": (finetune_cli.add_arguments, finetune_cli.run,
                     "the adaptation ladder (frozen head, top-k, LoRA, full) on the probe's folds"),
        "demo": (demo.add_arguments, demo.run, "the whole pipeline on generated audio with a tiny encoder"),
    }
    for name, (add_arguments, run, summary) in stages.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(lambda args: args.run(args), build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
