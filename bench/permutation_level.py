"""Does the permutation test hold its level? Rejection rates on planted null data, and power at a signal.

Usage: python bench/permutation_level.py [--datasets 300] [--permutations 99] [--signal 0]
                                         [--designs within,between-6v6,between-4v8,free,loso] [--n-jobs 2]
                                         [--save FILE.npz]

Each dataset: 16 Gaussian features with a per-speaker offset (speakers are identifiable, as in real
speech), labels drawn independently of the features (signal 0), or with the class means shifted by
`signal` standard deviations on every feature (power). Ridge, 99 permutations, the protocol chosen
automatically from the groups (as `probe` does), except "loso", which asks for --cv loso. Designs:
- within: 12 speakers x 10 clips, labels drawn per clip (within-groups scheme);
- between-6v6 / between-4v8: 12 speakers x 10 clips, one label per speaker (between-groups scheme);
- free: 120 clips without groups (free scheme);
- loso: between-6v6 under leave-one-group-out.
Prints, per design, the rejection rate at 0.05 of the per-record p-value (layer 0 ridge) and of the
family-wise p-value (over the record and its "selected" twin), each with its exact binomial
(Clopper-Pearson) 95% interval, and the null mean of the statistic (UAR) beside the mean of the
observed statistic the p-value compares with it (on the test's folds).
The level holds when the interval contains 0.05; the point estimate should not exceed 0.065.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import binomtest

from layerprobe.options import FitOptions
from layerprobe.probes.classifiers import classifier_specs
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.study import selections_for, study

SPEAKERS, CLIPS, FEATURES = 12, 10, 16
DESIGNS = ("within", "between-6v6", "between-4v8", "free", "loso")


def dataset(design: str, index: int, signal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str | None]:
    """(X, labels, groups or None, cv or None) of one planted dataset."""
    rng = np.random.default_rng([index, DESIGNS.index(design)])
    speaker = np.repeat(np.arange(SPEAKERS), CLIPS)
    X = rng.normal(size=(len(speaker), FEATURES)) + rng.normal(size=(SPEAKERS, FEATURES))[speaker]
    if design in ("within", "free"):
        labels = rng.integers(0, 2, len(speaker))
    else:
        minority = 4 if design == "between-4v8" else 6
        labels = rng.permutation(np.r_[np.ones(minority, int), np.zeros(SPEAKERS - minority, int)])[speaker]
    X = X + signal * labels[:, None]
    groups = None if design == "free" else np.array([f"s{s:02d}" for s in speaker])
    return X, np.array(["a", "b"])[labels], groups, "loso" if design == "loso" else None


def one(design: str, index: int, signal: float, permutations: int) -> tuple[float, float, float, float]:
    """(p, family-wise p, observed statistic, null mean) of one dataset."""
    X, labels, groups, cv = dataset(design, index, signal)
    folds = outer_folds(labels, groups, cv=cv, seed=index)
    result = study([(0, lambda: X)], classifier_specs("ridge"), labels, folds,
                   FitOptions(permutations=permutations, n_jobs=1), selections=selections_for(classifier_specs("ridge")))
    test = result.records[0].significance
    return test.p_value, test.p_value_fwer, test.permutation_observed, test.null_mean


def rate(p_values: np.ndarray) -> str:
    hits = int((p_values <= 0.05).sum())
    low, high = binomtest(hits, len(p_values)).proportion_ci(0.95, method="exact")
    return f"{hits / len(p_values):.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=300)
    parser.add_argument("--permutations", type=int, default=99)
    parser.add_argument("--signal", type=float, default=0.0)
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--save", help="an .npz file for every dataset's p, family-wise p, observed and null mean")
    args = parser.parse_args()
    print(f"{args.datasets} datasets per design, {args.permutations} permutations, signal {args.signal:g}")
    print(f"{'design':<12} {'rejection at 0.05':<24} {'family-wise':<24} {'observed':>9} {'null mean':>9} {'time':>7}")
    saved = {}
    for design in args.designs.split(","):
        started = time.perf_counter()
        found = np.array(Parallel(n_jobs=args.n_jobs)(delayed(one)(design, i, args.signal, args.permutations)
                                                      for i in range(args.datasets)))
        saved[design] = found
        print(f"{design:<12} {rate(found[:, 0]):<24} {rate(found[:, 1]):<24} {found[:, 2].mean():9.3f} "
              f"{found[:, 3].mean():9.3f} {time.perf_counter() - started:6.0f}s", flush=True)
    if args.save:
        np.savez(args.save, **saved)


if __name__ == "__main__":
    main()
