"""What the detection metrics add to building one record: the same candidate's record with and
without its decision scores, at the sizes given (synthetic scores, 1,000 speaker groups).

With several folds the cost is scikit-learn's per-fold and pooled ROC-AUC and AP per class; with
one split (a dataset's own train/test) it is mostly the 200-resample group bootstrap of the
interval, which re-ranks every test clip once per class. Prints seconds per record, both ways.

    .venv/bin/python bench/detection_cost.py --classes 35 --test-clips 11000 --folds 1
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from layerprobe.probes.evaluate import Candidate
from layerprobe.probes.protocols import Folds, OuterFold
from layerprobe.probes.records import record

N_GROUPS = 1_000


def synthetic(n_classes: int, n_test: int, folds: int, seed: int = 0) -> tuple[np.ndarray, Folds, list[np.ndarray]]:
    """Label codes, folds (one split holding out n_test clips, or k folds over n_test clips) and
    decision scores with some class signal."""
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
    decisions = [rng.normal(size=(len(fold.test), n_classes)) + np.eye(n_classes)[codes[fold.test]] for fold in outer]
    return codes, split, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=35)
    parser.add_argument("--test-clips", type=int, default=11_000)
    parser.add_argument("--folds", type=int, default=1, help="1: one train/test split; k: k-fold CV")
    args = parser.parse_args()
    codes, folds, decisions = synthetic(args.classes, args.test_clips, args.folds)
    classes = np.array([f"c{i:02d}" for i in range(args.classes)])
    k, K = len(folds.outer), args.classes
    seconds = {}
    for name, kept in (("without", []), ("with", decisions)):
        candidate = Candidate(0, "ridge", np.zeros((k, 1)), np.zeros((k, 1, K)), np.zeros((k, 1, K)),
                              [d.argmax(axis=1) for d in decisions], [{}] * k, decisions=kept)
        started = time.perf_counter()
        record(candidate, codes, classes, folds, "none")
        seconds[name] = time.perf_counter() - started
    added = seconds["with"] - seconds["without"]
    print(f"{K} classes, {args.test_clips} test clips, {k} fold(s): one record takes {seconds['without']:.2f} s "
          f"without detection metrics, {seconds['with']:.2f} s with them (+{added:.2f} s)")


if __name__ == "__main__":
    main()
