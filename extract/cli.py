"""`extract-embeddings DATA --out CACHE.h5`: stage 1 on the command line (also `layerprobe extract`)."""
from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections.abc import Sequence

from layerprobe.data.arguments import add_column_arguments, column_kwargs
from layerprobe.data.audio import MAX_SECONDS
from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.extract.pooling import parse_poolings
from layerprobe.layer_spec import parse_layers

DEFAULT_MODEL = "facebook/wav2vec2-base"


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return value


def _poolings(text: str) -> tuple[str, ...]:
    try:
        return parse_poolings(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--pooling ")) from None


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, metavar="CACHE.h5", help="the HDF5 cache to write or resume")
    add_model_arguments(parser)
    parser.add_argument("--pooling", default="mean", type=_poolings, metavar="NAME[,NAME...]",
                        help="poolings over each clip's frames, all from one encoder pass: mean, std, max; "
                        "mean is always stored, in layers/NN, the others in pooled/NAME/NN (default: mean)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def extract_kwargs(args: argparse.Namespace) -> dict:
    """The flags as keyword arguments of layerprobe.extract.runner.extract."""
    return dict(
        model=args.model, layers=parse_layers(args.layers), revision=args.revision, device=args.device,
        dtype=args.dtype, chunk_seconds=args.chunk_seconds, batch_seconds=args.batch_seconds,
        pad_short=args.pad_short, max_seconds=args.max_seconds, strict=args.strict, overwrite=args.overwrite,
        trust_remote_code=args.trust_remote_code, **column_kwargs(args),
    )


def run(args: argparse.Namespace) -> int:
    from layerprobe.extract.runner import extract  # torch loads here, after the flags are checked

    summary = extract(args.data, args.out, pooling=args.pooling, command=shlex.join(sys.argv), progress=not args.quiet,
                      **extract_kwargs(args))
    print(summary, file=sys.stderr)
    print(f"cache: {args.out}", file=sys.stderr)
    if summary.ok == 0 and summary.skipped == 0:
        raise UserError("no clip could be extracted; see the failure reasons above")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="extract-embeddings", description="Run a frozen speech encoder once and cache "
                            "every layer's pooled embeddings (mean, and optionally std and max) in HDF5.")
    add_arguments(parser)
    return run_cli(run, parser, argv)
