"""What the detection metrics add to building one record: the same candidate's record with and
without its decision scores, at the sizes given (synthetic scores, 1,000 speaker groups); and what
keeping the per-class scores adds to the record's JSON, against the same scores kept as decimal
lists (float32's shortest decimals, one list per clip), written as probe --out writes its results.

With several folds the cost is scikit-learn's per-fold and pooled ROC-AUC and AP per class; with
one split (a dataset's own train/test) it is mostly the 200-resample group bootstrap of the
interval, which re-ranks every test clip once per class. Prints seconds per record, both ways,
and the JSON's bytes and writing time with base64 float32 scores and with decimal lists.

    .venv/bin/python bench/detection_cost.py --classes 35 --test-clips 11000 --folds 1
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from layerprobe.probes.detection import DECISION_FUNCTION
from layerprobe.probes.evaluate import Candidate
from layerprobe.probes.protocols import Folds, OuterFold
from layerprobe.probes.records import record
from layerprobe.results import Record

N_GROUPS = 1_000


def synthetic(n_classes: int, n_test: int, folds: int, seed: int = 0) -> tuple[np.ndarray, Folds, list[np.ndarray]]:
    """Label codes, folds (one split holding out n_test clips, or k folds over n_test clips) and
    float32 decision scores with some class signal, as the engine keeps them."""
    rng = np.random.default_rng(seed)
    n = 8 * n_test if folds == 1 else n_test
    codes = rng.integers(0, n_classes, n)
    if folds == 1:
        outer = [OuterFold(np.arange(n - n_test), np.arange(n - n_test, n), ())]
    else:
        parts = np.array_split(rng.permutation(n), folds)
        outer = [OuterFold(np.sort(np.concatenate(parts[:k] + parts[k + 1:])), np.sort(parts[k]), ())
                 for k in range(folds)]
    groups = np.array([f"spk{i % N_GROUPS}" for i in range(n)])
    split = Folds("split" if folds == 1 else "stratified-group-kfold", "inner-cv", outer, groups, seed, "synthetic")
    decisions = [(rng.normal(size=(len(fold.test), n_classes)) + np.eye(n_classes)[codes[fold.test]]).astype(np.float32)
                 for fold in outer]
    return codes, split, decisions


def as_decimal_lists(rec: Record, decisions: list[np.ndarray]) -> Record:
    """The record with each fold's scores as one list of float32 shortest decimals per clip."""
    predictions = [replace(fold, scores=decision.astype(str).astype(np.float64).tolist())
                   for fold, decision in zip(rec.predictions, decisions)]
    return replace(rec, predictions=predictions)


def written(rec: Record) -> tuple[int, float]:
    """(bytes, seconds) of the record written as probe --out writes its results (json, indent 1)."""
    started = time.perf_counter()
    text = json.dumps({"results": [rec.to_dict()]}, indent=1)
    return len(text.encode()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=35)
    parser.add_argument("--test-clips", type=int, default=11_000)
    parser.add_argument("--folds", type=int, default=1, help="1: one train/test split; k: k-fold CV")
    args = parser.parse_args()
    codes, folds, decisions = synthetic(args.classes, args.test_clips, args.folds)
    classes = np.array([f"c{i:02d}" for i in range(args.classes)])
    k, K = len(folds.outer), args.classes
    seconds, records = {}, {}
    for name, kept in (("without", []), ("with", decisions)):
        candidate = Candidate(0, "ridge", np.zeros((k, 1)), np.zeros((k, 1, K)), np.zeros((k, 1, K)),
                              [d.argmax(axis=1) for d in decisions], [{}] * k, decisions=kept,
                              score_kinds=[DECISION_FUNCTION] * len(kept))
        started = time.perf_counter()
        records[name] = record(candidate, codes, classes, folds, "none")
        seconds[name] = time.perf_counter() - started
    added = seconds["with"] - seconds["without"]
    print(f"{K} classes, {args.test_clips} test clips, {k} fold(s): one record takes {seconds['without']:.2f} s "
          f"without detection metrics, {seconds['with']:.2f} s with them (+{added:.2f} s)")
    plain, _ = written(records["without"])
    ours, ours_seconds = written(records["with"])
    lists, lists_seconds = written(as_decimal_lists(records["with"], decisions))
    print(f"record JSON: {plain / 1e6:.2f} MB without detection; with base64 float32 scores {ours / 1e6:.2f} MB "
          f"({ours_seconds:.2f} s to write), with decimal lists {lists / 1e6:.2f} MB ({lists_seconds:.2f} s)")
    print(f"ratio (decimal lists / base64) of the bytes the scores add: {(lists - plain) / (ours - plain):.1f}x")


if __name__ == "__main__":
    main()
