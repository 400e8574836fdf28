"""`extract-embeddings DATA --out CACHE.h5`: stage 1 on the command line (also `layerprobe extract`)."""
from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from layerprobe.data.arguments import add_column_arguments, column_kwargs
from layerprobe.data.audio import MAX_SECONDS
from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.layer_spec import parse_layers

if TYPE_CHECKING:
    from layerprobe.extract.ray_engine import RayEngine

DEFAULT_MODEL = "facebook/wav2vec2-base"


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return value


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """DATA and its column flags."""
    parser.add_argument("data", metavar="DATA", help="audio folder (subfolders are labels), manifest CSV/TSV "
                        "(or a folder holding manifest.csv), or a Hugging Face dataset saved with save_to_disk")
    add_column_arguments(parser)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The encoder flags, shared with `layerprobe run`."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or local folder (default: {DEFAULT_MODEL})")
    parser.add_argument("--revision", help="hub branch, tag or commit of --model")
    parser.add_argument("--layers", default="all", help="hidden_states indices: all, N, N,M or N-M (default: all)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                        help="compute precision; half precision runs under autocast (default: float32)")
    parser.add_argument("--chunk-seconds", type=_positive, default=30.0,
                        help="longer clips are encoded in windows of this length, frame-weighted (default: 30)")
    parser.add_argument("--batch-seconds", type=_positive,
                        help="padded audio seconds per batch (default: 4 on CPU, 256 on GPU)")
    parser.add_argument("--pad-short", action="store_true",
                        help="zero-pad clips shorter than the encoder's receptive field instead of failing them")
    parser.add_argument("--max-seconds", type=_positive, default=MAX_SECONDS,
                        help=f"a longer clip fails as too-long, before it is decoded (default: {MAX_SECONDS:g}, 4 h)")
    parser.add_argument("--strict", action="store_true", help="stop at the first clip that fails")
    parser.add_argument("--overwrite", action="store_true", help="replace a cache made with other settings")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own code (off by default)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


RAY_FLAGS = ("ray_address", "workers", "gpus_per_worker", "cpus_per_worker")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the encoder runs: this process, or a Ray cluster (`pip install 'layerprobe[ray]'`)."""
    group = parser.add_argument_group("engine")
    group.add_argument("--engine", choices=("process", "ray"), default="process",
                       help="process: decode and encode here; ray: Ray Data tasks decode and an actor pool encodes, "
                            "this process writes the cache (default: process)")
    group.add_argument("--ray-address", metavar="ADDRESS",
                       help="join this Ray cluster (auto, HOST:6379, ray://HOST:10001); default: a local one")
    group.add_argument("--workers", type=_positive_int, metavar="N",
                       help="encoder actors (default: one per --gpus-per-worker GPUs of the cluster, 1 without GPUs)")
    group.add_argument("--gpus-per-worker", type=_not_negative, metavar="G",
                       help="GPUs per encoder actor (default: 1 where the cluster has GPUs, else 0)")
    group.add_argument("--cpus-per-worker", type=_positive, metavar="C",
                       help="CPUs per encoder actor, its torch threads on the CPU (default: 1)")


def engine_from_args(args: argparse.Namespace) -> RayEngine | None:
    """None for this process, else the RayEngine the flags ask for; Ray flags need --engine ray."""
    given = [name for name in RAY_FLAGS if getattr(args, name) is not None]
    if args.engine == "process":
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} needs --engine ray")
        return None
    from layerprobe.extract.ray_engine import RayEngine

    return RayEngine(address=args.ray_address, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                     cpus_per_worker=args.cpus_per_worker or 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, metavar="CACHE.h5", help="the HDF5 cache to write or resume")
    add_model_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine_arguments(parser)


def extract_kwargs(args: argparse.Namespace) -> dict:
    """The flags as keyword arguments of layerprobe.extract.runner.extract."""
    return dict(
        model=args.model, layers=parse_layers(args.layers), revision=args.revision, device=args.device,
        dtype=args.dtype, chunk_seconds=args.chunk_seconds, batch_seconds=args.batch_seconds,
        pad_short=args.pad_short, max_seconds=args.max_seconds, strict=args.strict, overwrite=args.overwrite,
        trust_remote_code=args.trust_remote_code, **column_kwargs(args),
    )


def run(args: argparse.Namespace) -> int:
    engine = engine_from_args(args)
    from layerprobe.extract.runner import extract  # torch loads here, after the flags are checked

    summary = extract(args.data, args.out, command=shlex.join(sys.argv), progress=not args.quiet, engine=engine,
                      **extract_kwargs(args))
    print(summary, file=sys.stderr)
    print(f"cache: {args.out}", file=sys.stderr)
    if summary.ok == 0 and summary.skipped == 0:
        raise UserError("no clip could be extracted; see the failure reasons above")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="extract-embeddings", description="Run a frozen speech encoder once and cache "
                            "every layer's mean-pooled embedding in HDF5.")
    add_arguments(parser)
    return run_cli(run, parser, argv)
