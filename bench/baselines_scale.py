"""Time the baselines' default classifiers, and their MFCC features, against the former code, at FSDD and Speech Commands size.

--stage fits (default): the classifiers.

new: the default, logreg, linear-svm and ridge (the probes' fast solvers); old: the default until
issue 21, svm-rbf (RBF SVM over 6 C x 5 gamma), logreg and linear-svm. Each runs as `baselines`
runs it on features/mfcc's 240 dims: every classifier on the outer folds with inner selection,
plus the selected record (probes.study.study); chance is left out (the same cheap fits for both).

    --size fsdd   3,000 clips, 10 classes, 6 speaker groups (FSDD's shape), the protocol `baselines`
                  chooses (grouped 5-fold); synthetic features, or with --data DIR FSDD's own MFCC
                  (computed once into --work/fsdd_features.h5).
    --size 105k   105,000 clips, 35 classes, 2,600 groups (Speech Commands' shape), grouped 5-fold,
                  synthetic features. The old default's svm-rbf would run for hours: it is timed on
                  one outer fold of random clip subsets (--rbf-subsets) and extrapolated by the power
                  law through them (said so in its line); its logreg and linear-svm are counted as
                  the new default's time (which holds ridge too: a slight overestimate).

--old-folds K runs the old default on the first K outer folds only and scales by the fold count.
The progress bar is recorded: its predicted total (elapsed + ETA) at 25, 50 and 75% of the fits is
printed beside the actual total, to check the ETA.

    nice .venv/bin/python bench/baselines_scale.py --size fsdd --data ../shared/data/fsdd --n-jobs 2
    nice .venv/bin/python bench/baselines_scale.py --size 105k --n-jobs 2

--stage features: features/mfcc of every clip, computed by compute_features as `baselines DATA`
does, into a features-only cache, each run a whole process (imports, HDF5 writes and all): new,
this checkout with --n-jobs workers; old, the single-process code of --old-commit (exported with
`git archive` to a temp folder), on the first --old-clips clips (scaled linearly to all if fewer,
said so). The two caches' features are compared value for value.

    --size fsdd --data DIR   FSDD's 3,000 clips (8 kHz, resampled).
    --size 105k              --clips (default 105,000) synthetic 1 s 16 kHz clips written under
                             --work (default a temp dir; 32 KB a clip), 35 labels.

    nice .venv/bin/python bench/baselines_scale.py --stage features --size fsdd --data ../shared/data/fsdd
    nice .venv/bin/python bench/baselines_scale.py --stage features --size 105k --old-clips 10000
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

import layerprobe
from layerprobe.baselines.classifiers import baseline_specs
from layerprobe.baselines.compute import compute_features
from layerprobe.baselines.features_only import features_only_cache
from layerprobe.data.label_table import clip_labels
from layerprobe.data.reader import CacheReader
from layerprobe.options import BaselineOptions, FitOptions
from layerprobe.probes.evaluate import SELECTED
from layerprobe.probes.protocols import Folds, outer_folds
from layerprobe.probes.study import study
from layerprobe.probes.sweep import cache_folds

OLD_DEFAULT = ("svm-rbf", "logreg", "linear-svm")
DIM = 240  # features/mfcc: 40 MFCC + deltas, mean and std
SIZES = {"fsdd": (3_000, 10, 6), "105k": (105_000, 35, 2_600)}
BAR = re.compile(r"(\d+)/(\d+) \[([\d:]+)<([\d:]+)")
OLD_COMMIT = "2726365"  # the last commit computing features in one process
FEATURE_RUN = """
import sys
from layerprobe.baselines.compute import compute_features
kwargs = {} if sys.argv[2] == "old" else {"n_jobs": int(sys.argv[2])}
print(compute_features(sys.argv[1], ("mfcc",), progress=False, **kwargs), flush=True)
if kwargs:  # joined, so that the workers' CPU time is counted in this process's children
    from joblib.externals.loky import get_reusable_executor
    get_reusable_executor().shutdown(wait=True)
"""


def synthetic(n_clips: int, n_classes: int, n_groups: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X float32 (n, 240), labels, groups): class means and speaker offsets in unit noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_clips) % n_classes
    groups = rng.permutation(np.arange(n_clips) % n_groups)
    X = rng.standard_normal((n_clips, DIM), dtype=np.float32)
    X += 0.3 * rng.standard_normal((n_classes, DIM), dtype=np.float32)[labels]
    X += 0.5 * rng.standard_normal((n_groups, DIM), dtype=np.float32)[groups]
    return X, labels, groups.astype(str)


def fsdd_mfcc(data: Path, work: Path) -> tuple[np.ndarray, np.ndarray, Folds]:
    """FSDD's features/mfcc, labels and the folds `baselines` uses on them (the same calls)."""
    cache = work / "fsdd_features.h5"
    if not cache.exists():
        features_only_cache(data, cache)
    print(compute_features(cache, ("mfcc",), progress=False), flush=True)
    with CacheReader(cache) as reader:
        target = clip_labels(reader)
        folds = cache_folds(reader, target)
        X = reader.feature("mfcc")[target.rows]
    return X, target.labels, folds


class BarRecord:
    """A stand-in for stderr that keeps, per progress-bar refresh, (fits done, total, elapsed + ETA in s)."""

    def __init__(self) -> None:
        self.points: list[tuple[int, int, int, int]] = []

    def write(self, text: str) -> None:
        for done, total, elapsed, left in BAR.findall(text):
            self.points.append((int(done), int(total), _seconds(elapsed), _seconds(elapsed) + _seconds(left)))

    def flush(self) -> None:
        pass

    def predicted(self, share: float) -> tuple[int, int] | None:
        """(elapsed, predicted total) at the first refresh with at least `share` of the fits done."""
        return next(((e, p) for done, total, e, p in self.points if done >= share * total), None)


def _seconds(clock: str) -> int:
    seconds = 0
    for part in clock.split(":"):
        seconds = 60 * seconds + int(part)
    return seconds


def evaluate(X: np.ndarray, labels: np.ndarray, folds: Folds, names: tuple[str, ...], n_jobs: int
             ) -> tuple[float, list[dict], BarRecord]:
    """Seconds, records and the recorded progress bar of one baselines evaluation of `names`."""
    specs = baseline_specs(names)
    bar = BarRecord()
    start = time.perf_counter()
    with contextlib.redirect_stderr(bar):
        found = study([("mfcc", lambda: X)], specs, labels, folds, FitOptions(n_jobs=n_jobs),
                      selections=[(SELECTED, list(names))], progress=True, progress_label="baseline fits")
    return time.perf_counter() - start, found.records, bar


def report(name: str, seconds: float, records: list, bar: BarRecord, scale: float = 1.0) -> None:
    uar = ", ".join(f"{r.classifier} {r.balanced_accuracy.value:.3f}" for r in records)
    shown = f"{seconds:7.1f} s" if scale == 1 else f"{seconds * scale:7.1f} s ({seconds:.1f} s x {scale:g} folds)"
    print(f"{name}: {shown}  UAR {uar}", flush=True)
    eta = [f"{share:.0%} ({point[0]} s in): {point[1]} s" for share in (0.25, 0.5, 0.75)
           if (point := bar.predicted(share)) is not None]
    print(f"  progress bar's predicted total at {', '.join(eta)}; actual {seconds:.0f} s", flush=True)


def rbf_estimate(X: np.ndarray, labels: np.ndarray, groups: np.ndarray, subsets: list[int], n_jobs: int,
                 folds: int) -> float:
    """svm-rbf's seconds on all clips, extrapolated from one outer fold on each random clip subset."""
    rng = np.random.default_rng(1)
    seconds = []
    for n in subsets:
        rows = np.sort(rng.choice(len(labels), n, replace=False))
        sub = outer_folds(labels[rows], groups[rows], cv="group", folds=folds, seed=0)
        one = replace(sub, outer=sub.outer[:1])
        spent, _, _ = evaluate(X[rows], labels[rows], one, ("svm-rbf",), n_jobs)
        seconds.append(spent * folds)
        print(f"  svm-rbf on {n} clips: {spent:.1f} s for one outer fold, {spent * folds:.1f} s for {folds}", flush=True)
    exponent, offset = np.polyfit(np.log(subsets), np.log(seconds), 1)
    estimate = float(np.exp(offset) * len(labels) ** exponent)
    print(f"  svm-rbf on {len(labels)} clips: about {estimate:.0f} s, extrapolated as n^{exponent:.2f} from "
          f"{', '.join(map(str, subsets))} clips (without the 10,000-clip cap on selection parts)", flush=True)
    return estimate


def write_clips(folder: Path, n_clips: int, n_labels: int = 35, n_groups: int = 2_600) -> Path:
    """n_clips 1 s 16 kHz PCM_16 WAVs (a tone whose pitch follows the label, a glide and noise) and
    their manifest.csv (path, label, speaker); kept in `folder` for a second run."""
    manifest = folder / "manifest.csv"
    if manifest.exists() and sum(1 for _ in open(manifest)) == n_clips + 1:
        return folder
    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000
    tones = [0.3 * np.sin(2 * np.pi * (150 + 20 * label) * t * (1 + 0.2 * t)) for label in range(n_labels)]
    rows = []
    for number in range(n_clips):
        label, speaker = number % n_labels, rng.integers(n_groups)
        wave = rng.uniform(0.5, 1.5) * tones[label] + 0.02 * rng.standard_normal(t.size)
        path = f"clips/{number // 1000:03d}/{number}.wav"
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / path, wave, 16_000, subtype="PCM_16")
        rows.append({"path": path, "label": f"w{label}", "speaker": f"s{speaker}"})
    with open(manifest, "w", newline="") as file:
        writer = csv.DictWriter(file, ["path", "label", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def first_clips(data: Path, n_clips: int, folder: Path) -> Path:
    """A folder whose manifest.csv is `data`'s first n_clips rows, its other entries links to data's
    (the same relative paths, so the same clip ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in data.iterdir():
        if entry.name != "manifest.csv" and not (folder / entry.name).exists():
            (folder / entry.name).symlink_to(entry.resolve())
    with open(data / "manifest.csv") as source, open(folder / "manifest.csv", "w") as target:
        for _, line in zip(range(n_clips + 1), source):
            target.write(line)
    return folder


def timed_features(code_root: Path, cache: Path, workers: str) -> tuple[float, float]:
    """(wall, CPU of the process and its workers) of compute_features in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", FEATURE_RUN, str(cache), workers], check=True,
                   env={**os.environ, "PYTHONPATH": str(code_root)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def features_stage(args: argparse.Namespace, work: Path) -> None:
    if args.size == "fsdd":
        if not args.data:
            raise SystemExit("--stage features --size fsdd needs --data FSDD's folder")
        data = args.data
    else:
        started = time.perf_counter()
        data = write_clips(work / f"clips{args.clips}", args.clips)
        print(f"wrote {args.clips} synthetic 1 s clips in {time.perf_counter() - started:.0f} s", flush=True)
    n_clips = sum(1 for _ in open(data / "manifest.csv")) - 1
    old_clips = min(args.old_clips or n_clips, n_clips)
    old_root = work / "old"
    if not (old_root / "layerprobe").exists():
        (old_root / "layerprobe").mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(Path(layerprobe.__file__).parent), "archive", args.old_commit],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root / "layerprobe")], input=archive, check=True)
    new_cache, old_cache = work / "new.h5", work / "old.h5"
    for cache in (new_cache, old_cache):
        cache.unlink(missing_ok=True)
    features_only_cache(data, new_cache)
    features_only_cache(data if old_clips == n_clips else first_clips(data, old_clips, work / "first"), old_cache)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    new_wall, new_cpu = timed_features(Path(layerprobe.__file__).parent.parent, new_cache, str(args.n_jobs))
    print(f"new ({args.n_jobs} workers): {n_clips} clips in {new_wall:.1f} s ({1000 * new_wall / n_clips:.2f} ms a "
          f"clip), CPU {new_cpu:.1f} s counted; load average {os.getloadavg()[0]:.1f}", flush=True)
    old_wall, old_cpu = timed_features(old_root, old_cache, "old")
    scale = n_clips / old_clips
    print(f"old ({args.old_commit}, one process): {old_clips} clips in {old_wall:.1f} s ({1000 * old_wall / old_clips:.2f} "
          f"ms a clip), CPU {old_cpu:.1f} s" + (f"; x {scale:g} for {n_clips} clips: {old_wall * scale:.0f} s"
                                                if scale != 1 else ""), flush=True)
    with CacheReader(new_cache) as new, CacheReader(old_cache) as old:
        row = {clip_id: number for number, clip_id in enumerate(new.clips["id"])}
        rows = [row[clip_id] for clip_id in old.clips["id"]]
        difference = np.abs(new.feature("mfcc")[rows] - old.feature("mfcc")).max()
    print(f"max |new - old| over the {old_clips} clips both computed: {difference}", flush=True)
    print(f"ratio old / new: {old_wall * scale / new_wall:.1f}x; load average {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("fits", "features"), default="fits")
    parser.add_argument("--size", choices=SIZES, default="fsdd")
    parser.add_argument("--data", type=Path, help="--size fsdd: FSDD's folder, for its real MFCC features")
    parser.add_argument("--work", type=Path, help="where --data's features-only cache is kept (default a temp dir)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--old-folds", type=int, help="run the old default on this many outer folds and scale")
    parser.add_argument("--rbf-subsets", default="1000,2000,3000", help="--size 105k: clip counts svm-rbf is timed on")
    parser.add_argument("--clips", type=int, default=105_000, help="--stage features --size 105k: synthetic clips")
    parser.add_argument("--old-clips", type=int, help="--stage features: clips the old code computes (default all)")
    parser.add_argument("--old-commit", default=OLD_COMMIT, help="--stage features: the code to compare with")
    args = parser.parse_args()
    n_clips, n_classes, n_groups = SIZES[args.size]
    with tempfile.TemporaryDirectory() as tmp:
        if args.stage == "features":
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            features_stage(args, work)
            return
        if args.data:
            X, labels, folds = fsdd_mfcc(args.data, args.work or Path(tmp))
            groups = None
            print(f"data: FSDD's features/mfcc, {X.shape[0]} clips x {X.shape[1]}, "
                  f"{len(np.unique(labels))} classes", flush=True)
        else:
            X, labels, groups = synthetic(n_clips, n_classes, n_groups)
            folds = outer_folds(labels, groups, cv="group" if args.size == "105k" else None)
            print(f"data: synthetic {n_clips} clips x {DIM}, {n_classes} classes, {n_groups} groups", flush=True)
        print(f"protocol: {folds.reason}; {len(folds.outer)} outer folds; n_jobs={args.n_jobs}; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        new_seconds, records, bar = evaluate(X, labels, folds, BaselineOptions.classifiers, args.n_jobs)
        report(f"new default ({','.join(BaselineOptions.classifiers)})", new_seconds, records, bar)
        if args.size == "105k":
            rbf = rbf_estimate(X, labels, groups, [int(n) for n in args.rbf_subsets.split(",")], args.n_jobs,
                               len(folds.outer))
            # Its logreg and linear-svm: counted as the whole new run (ridge included), a little high.
            old_seconds = rbf + new_seconds
            print(f"old default ({','.join(OLD_DEFAULT)}): about {old_seconds:.0f} s (svm-rbf estimated, logreg and "
                  "linear-svm counted as the new run)", flush=True)
        else:
            used = folds if args.old_folds is None else replace(folds, outer=folds.outer[:args.old_folds])
            spent, records, bar = evaluate(X, labels, used, OLD_DEFAULT, args.n_jobs)
            scale = len(folds.outer) / len(used.outer)
            report(f"old default ({','.join(OLD_DEFAULT)})", spent, records, bar, scale)
            old_seconds = spent * scale
        print(f"ratio old / new: {old_seconds / new_seconds:.1f}x; load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
