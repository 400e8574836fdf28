"""`layerprobe demo --out DIR`: the whole pipeline on audio and an encoder it makes itself, offline.

The encoder is random-init: the numbers are a smoke run of the machinery, not a finding.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-run", help="folder for the demo's data, model and report (default: demo-run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from layerprobe.data.demo_dataset import write_demo_dataset
    from layerprobe.extract.tiny_encoder import save_tiny_encoder
    from layerprobe.pipeline import print_headline, run as run_pipeline

    out = Path(args.out)
    manifest = write_demo_dataset(out / "data")
    model = save_tiny_encoder(out / "tiny-encoder")
    files = run_pipeline(str(manifest), str(out), model=model, device="cpu", random_init=True,
                         progress=not args.quiet, command="layerprobe demo")
    print_headline(out)
    print(f"report: {files['report.html']} (random-init encoder: a smoke run, not a result)")
    return 0
