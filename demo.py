"""`layerprobe demo --out DIR`: the whole pipeline on audio and an encoder it makes itself, offline.

The encoder is random-init: the numbers are a smoke run of the machinery, not a finding.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-run", help="folder for the demo's data, model and results (default: demo-run)")


def run(args: argparse.Namespace) -> int:
    from layerprobe.data.demo_dataset import write_demo_dataset
    from layerprobe.extract.runner import extract
    from layerprobe.extract.tiny_encoder import save_tiny_encoder

    out = Path(args.out)
    manifest = write_demo_dataset(out / "data")
    model = save_tiny_encoder(out / "tiny-encoder")
    summary = extract(str(manifest), str(out / "cache.h5"), model=model, device="cpu", command="layerprobe demo")
    print(summary, file=sys.stderr)
    print(f"cache: {out / 'cache.h5'} (random-init encoder: a smoke run, not a result)")
    return 0
