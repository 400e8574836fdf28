"""The MFCC + RBF SVM baseline against an independent implementation, on FSDD, in the same run.

Usage: python bench/mfcc_fsdd.py [--data ../shared/data/fsdd] [--work DIR] [--n-jobs N]
Task: the spoken digit (10 classes), leave-one-speaker-out over the 6 speakers.
- layerprobe: a features-only cache (made once in --work, reused after), features/mfcc (40 MFCC
  + delta + delta-delta, mean and std, 25 ms / 10 ms frames), the svm-rbf baseline on the
  probe's LOSO folds with C x gamma chosen by grouped inner CV.
- independent: librosa.load at 16 kHz, librosa.feature.mfcc(n_mfcc=40) with librosa's defaults
  (2048-point frames, 512 hop), delta, mean and std; SVC(rbf) after StandardScaler in a Pipeline,
  GridSearchCV with GroupKFold(5) inside, cross_val_score over LeaveOneGroupOut.
Prints both mean accuracies over the 6 speakers and the per-speaker ones.
"""
import argparse
import csv
import time
from pathlib import Path

import librosa
import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold, LeaveOneGroupOut, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from layerprobe.baselines.compute import compute_features
from layerprobe.baselines.features_only import features_only_cache
from layerprobe.baselines.run import evaluate_baselines
from layerprobe.options import BaselineOptions, FitOptions, ProtocolOptions
from layerprobe.results import Source

HERE = Path(__file__).resolve().parent


def ours(data: Path, work: Path, n_jobs: int) -> tuple[float, list[float]]:
    cache = work / "fsdd_features.h5"
    if not cache.exists():
        features_only_cache(data, cache)
    print(compute_features(cache, ("mfcc",), progress=False))
    result = evaluate_baselines(cache, BaselineOptions(classifiers=("svm-rbf",)), ProtocolOptions(cv="loso"),
                                FitOptions(n_jobs=n_jobs))
    [record] = [r for r in result.records if r.layer == Source.of("mfcc")]
    # The mean over speakers, as cross_val_score gives; every FSDD speaker has 500 clips, so it is
    # also the record's pooled "value".
    folds = record.accuracy.folds
    return float(np.mean(folds)), folds


def independent_features(path: Path) -> np.ndarray:
    y, sr = librosa.load(path, sr=16000)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)
    # The shortest FSDD clips have fewer than 9 frames of 512 samples, too few for the default
    # "interp" edge mode.
    delta = librosa.feature.delta(mfcc, mode="nearest")
    return np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)])


def independent(data: Path, n_jobs: int) -> tuple[float, list[float]]:
    with open(data / "manifest.csv") as file:
        rows = list(csv.DictReader(file))
    X = np.stack([independent_features(data / row["path"]) for row in rows])
    y = np.array([row["label"] for row in rows])
    groups = np.array([row["speaker"] for row in rows])
    pipeline = Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf"))])
    grid = {"svc__C": [0.1, 1, 10, 100], "svc__gamma": ["scale", 1e-3, 1e-2]}
    search = GridSearchCV(pipeline, grid, cv=GroupKFold(n_splits=5), n_jobs=1)
    scores = cross_val_score(search, X, y, groups=groups, cv=LeaveOneGroupOut(), params={"groups": groups},
                             n_jobs=n_jobs)
    return float(scores.mean()), scores.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--work", type=Path, default=Path("/tmp/layerprobe-bench-fsdd"))
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for name, run in (("layerprobe mfcc svm-rbf", lambda: ours(args.data, args.work, args.n_jobs)),
                      ("independent librosa+sklearn", lambda: independent(args.data, args.n_jobs))):
        started = time.perf_counter()
        mean, folds = run()
        print(f"{name}: LOSO accuracy {mean:.3f} (per speaker {', '.join(f'{f:.3f}' for f in folds)}) "
              f"in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
