"""`layerprobe demo --out DIR`: the whole pipeline on audio and an encoder it makes itself, offline.

The encoder is random-init: the numbers are a smoke run of the machinery, not a finding.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

# The demo makes its own encoder and runs it on the CPU; every other option is run's.
_OWN_ENCODER = ("model", "revision", "device", "trust_remote_code")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from layerprobe.pipeline import add_stage_options

    parser.add_argument("--out", default="demo-run", help="folder for the demo's data, model and report (default: demo-run)")
    add_stage_options(parser, encoder_skip=_OWN_ENCODER)


def run(args: argparse.Namespace) -> int:
    from layerprobe.data.demo_dataset import write_demo_dataset
    from layerprobe.extract.tiny_encoder import save_tiny_encoder
    from layerprobe.pipeline import print_headline, stage_options
    from layerprobe.pipeline import run as run_pipeline

    options = stage_options(args)  # a bad flag is refused before anything is written
    out = Path(args.out)
    manifest = write_demo_dataset(out / "data")
    options["extract"] = replace(options["extract"], model=save_tiny_encoder(out / "tiny-encoder"), device="cpu")
    files = run_pipeline(str(manifest), str(out), command="layerprobe demo", random_init=True, **options)
    print_headline(out)
    print(f"report: {files['report.html']} (random-init encoder: a smoke run, not a result)")
    return 0
