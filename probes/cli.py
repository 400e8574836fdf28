"""`probe CACHE.h5 --layer 11|all|3,6,9`: linear probes per cached layer, evaluated without leaks.

`probe NEW.h5 --predict MODEL.npz` applies a probe saved with --save-model to another cache.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from layerprobe.atomic_write import atomic_path, writable_folder
from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.probes.classifiers import CLASS_WEIGHTS, CLASSIFIERS
from layerprobe.probes.output import document, table, warnings, write_results
from layerprobe.probes.protocols import PROTOCOLS, REFITS
from layerprobe.probes.saved_probe import load_probe, predict_cache, save_probe
from layerprobe.probes.sweep import sweep

PREDICTIONS_FILE = "predictions.csv"
MODELS_DIR = "models"


def _at_least(minimum: int):
    """An argparse type: an integer >= minimum, checked before any work starts."""

    def integer(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is less than {minimum}")
        return value

    return integer


def _seed(text: str) -> int:
    """An argparse type: a seed numpy accepts everywhere (0 .. 2**32 - 1)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text} is not in 0..{2**32 - 1}")
    return value


def _workers(text: str) -> int:
    """An argparse type: joblib's n_jobs, a positive count or -1 (all cores)."""
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of workers, or -1 for all cores")
    return value


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """How every classifier is evaluated; shared by probe, baselines and run so that they pair."""
    parser.add_argument("--cv", default="auto", choices=["auto", *PROTOCOLS],
                        help="evaluation protocol: auto (default) uses the dataset's train/(validation/)test split "
                             "when its train and test share no group, else speaker-grouped CV over all clips, else "
                             "stratified CV")
    parser.add_argument("--folds", type=_at_least(2), default=5, help="outer folds for k-fold protocols (default 5)")
    parser.add_argument("--fold-column", metavar="COL",
                        help="a column of predefined folds (clips/COL in the cache, else the manifest's column): "
                             "each value is one test fold")
    parser.add_argument("--refit", default="train", choices=REFITS,
                        help="with a validation split, refit the chosen C on train (default) or train+validation")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of every split, shuffle and solver (default 0)")
    parser.add_argument("--class-weight", default="none", choices=CLASS_WEIGHTS,
                        help="none (default), balanced, or sqrt: min(sqrt(max_count/count), 3)")
    parser.add_argument("--permutations", type=_at_least(0), default=0,
                        help="label permutations for a p-value per record and a family-wise one (default 0: none)")
    parser.add_argument("--n-jobs", type=_workers, default=-1, help="parallel workers (default -1: all cores)")


def protocol_kwargs(args: argparse.Namespace) -> dict:
    """The protocol flags as keyword arguments of sweep/baselines."""
    return dict(cv=None if args.cv == "auto" else args.cv, folds=args.folds, fold_column=args.fold_column,
                refit=args.refit, seed=args.seed, class_weight=args.class_weight, permutations=args.permutations,
                n_jobs=args.n_jobs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The probe command's arguments (shared by `probe` and `layerprobe probe`)."""
    parser.add_argument("cache", help="HDF5 cache written by extract-embeddings")
    # --layers as on every other command; --layer, the first spelling, stays an alias.
    parser.add_argument("--layers", "--layer", dest="layers", default="all",
                        help="layers to probe: all (default), 11, 3,6,9 or 3-9")
    parser.add_argument("--pooling", default="mean", metavar="NAME[+NAME...]",
                        help="which stored pooling to probe: mean (default), std, max, or several joined by + "
                             "(mean+std: their vectors concatenated, statistics pooling)")
    parser.add_argument("--classifier", default="all", choices=[*CLASSIFIERS, "all"],
                        help="linear classifier(s), each in a Pipeline with StandardScaler (default all)")
    add_protocol_arguments(parser)
    parser.add_argument("--format", default="table", choices=["table", "json"],
                        help="table (default) or one JSON object on stdout")
    parser.add_argument("--out", metavar="DIR", help=f"write DIR/probe_results.json (or DIR/{PREDICTIONS_FILE})")
    parser.add_argument("--save-model", action="store_true",
                        help=f"also refit each probe on all clips and save it as DIR/{MODELS_DIR}/layerNN_CLASSIFIER.npz")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--predict", metavar="MODEL", help="apply a probe saved with --save-model to CACHE instead")
    parser.add_argument("--force", action="store_true",
                        help="with --predict: apply a probe fitted on another encoder's embeddings anyway (said on stderr)")


def run(args: argparse.Namespace) -> int:
    """Run the probe command on parsed arguments; returns the exit code."""
    if args.predict:
        return _predict(args)
    if args.save_model and not args.out:
        raise UserError("--save-model needs --out DIR")
    if args.out:
        writable_folder(args.out)  # an unwritable --out is found before the first fit, not after the last
    result = sweep(args.cache, args.layers, args.classifier, pooling=args.pooling, save_models=args.save_model,
                   progress=not args.quiet, **protocol_kwargs(args))
    for line in warnings(result):
        print(f"warning: {line}", file=sys.stderr)
    options = {"pooling": args.pooling, "classifier": args.classifier, "cv": args.cv, "fold_column": args.fold_column, "refit": args.refit,
               "class_weight": args.class_weight, "permutations": args.permutations}
    doc = document(result, args.cache, options)
    if args.out:
        path = write_results(doc, args.out)
        print(f"wrote {path}", file=sys.stderr)
        for (layer, classifier), model in result.models.items():
            meta = {"layer": layer, "pooling": args.pooling, "classifier": classifier, "model": doc["model"],
                    "model_fingerprint": doc["model_fingerprint"], "cache": doc["cache"],
                    "n_clips": doc["n_clips"], "class_weight": args.class_weight}
            save_probe(model, result.classes, Path(args.out) / MODELS_DIR / f"layer{layer:02d}_{classifier}.npz", meta)
    print(json.dumps(doc) if args.format == "json" else table(doc))
    return 0


def _predict(args: argparse.Namespace) -> int:
    predictions = predict_cache(load_probe(args.predict), args.cache, force=args.force)
    if args.out:
        with atomic_path(writable_folder(args.out) / PREDICTIONS_FILE) as temporary:
            predictions.to_csv(temporary, index=False)
        print(f"wrote {Path(args.out) / PREDICTIONS_FILE}", file=sys.stderr)
    labelled = predictions["label"] != ""
    if labelled.all():
        accuracy = (predictions["label"] == predictions["predicted"]).mean()
        print(f"accuracy on the {len(predictions)} labelled clips: {accuracy:.3f}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"predictions": predictions.to_dict(orient="records")}))
    else:
        print(predictions.to_csv(index=False), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `probe` console script."""
    parser = ArgumentParser(prog="probe", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_cli(run, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
