"""Time the probe layer sweep against the plain approach on a synthetic FSDD-size cache, in one run.

Ours: `layerprobe.probes.sweep.sweep` (both classifiers, nested C, the protocol it chooses, joblib
over layers x folds). Plain: GridSearchCV over Pipeline(StandardScaler, LogisticRegression() or
LinearSVC()) with default solvers, the same C grid, the same outer and inner folds, per layer.
The plain approach is slow, so it is timed on --plain-layers layers x --plain-folds outer folds and
extrapolated to the full sweep; --layers does the same for ours; the output says so.

    .venv/bin/python bench/probe_sweep.py --n-jobs 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.data.reader import CacheReader
from layerprobe.probes.classifiers import C_GRID, SELECTION_SCORING, SVM_C_GRID
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.sweep import sweep


def build_cache(path: Path, n_clips: int = 3000, n_layers: int = 13, dim: int = 768, n_classes: int = 10,
                n_groups: int = 6, seed: int = 0) -> Path:
    """FSDD-like: 10 digits, 6 speakers; class signal rises to the middle layers, speaker offsets everywhere."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_clips)
    groups = rng.integers(0, n_groups, n_clips)
    text = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        f.attrs.update(layerprobe_format=1, model="bench/synthetic", layers=np.arange(n_layers))
        for name, values in (("id", [f"clip{i}" for i in range(n_clips)]), ("label", [f"digit{c}" for c in labels]),
                             ("group", [f"spk{g}" for g in groups]), ("split", [""] * n_clips)):
            f.create_dataset(f"clips/{name}", data=np.array(values, dtype=object), dtype=text)
        f.create_dataset("clips/status", data=np.array(["ok"] * n_clips, dtype="S7"))
        class_means = rng.normal(size=(n_classes, dim)).astype(np.float32)
        speaker_means = rng.normal(size=(n_groups, dim)).astype(np.float32)
        for layer in range(n_layers):
            strength = 0.02 + 0.12 * np.sin(np.pi * layer / (n_layers - 1))
            X = rng.normal(size=(n_clips, dim)).astype(np.float32)
            X += strength * class_means[labels] + 0.1 * speaker_means[groups]
            f.create_dataset(f"layers/{layer:02d}", data=X)
    return path


def plain_seconds(cache: Path, n_layers: int, n_folds: int, n_jobs: int) -> tuple[float, float]:
    """Seconds for the plain approach on n_layers x n_folds, and its extrapolation to the full sweep."""
    plain = {"logreg": (LogisticRegression(), C_GRID), "linear-svm": (LinearSVC(), SVM_C_GRID)}
    with CacheReader(cache) as reader:
        clips = reader.clips
        y = clips["label"].to_numpy()
        folds = outer_folds(y, clips["group"].to_numpy(), clips["split"].to_numpy())
        start = time.perf_counter()
        for layer in reader.layers[:n_layers]:
            X = reader.layer(layer)
            for clf, grid in plain.values():
                for (train, test), inner in list(zip(folds.splits, folds.inner))[:n_folds]:
                    search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("clf", clf)]),
                                          {"clf__C": list(grid)}, cv=inner, scoring=SELECTION_SCORING, n_jobs=n_jobs)
                    search.fit(X[train], y[train]).predict(X[test])
        measured = time.perf_counter() - start
        scale = (len(reader.layers) / n_layers) * (len(folds.splits) / n_folds)
    return measured, measured * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--layers", default="all", help="layers our sweep runs on (default all; a subset is extrapolated)")
    parser.add_argument("--plain-layers", type=int, default=1, help="layers the plain approach is timed on")
    parser.add_argument("--plain-folds", type=int, default=1, help="outer folds the plain approach is timed on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_cache(Path(tmp) / "fsdd_size.h5")
        start = time.perf_counter()
        result = sweep(cache, layers=args.layers, n_jobs=args.n_jobs)
        measured_ours = time.perf_counter() - start
        n_ours = len({record["layer"] for record in result.records})
        ours = measured_ours * 13 / n_ours
        best = max(result.records, key=lambda r: r["balanced_accuracy"]["mean"])
        print(f"cache: 3000 clips x 13 layers x 768 dims, 10 classes, 6 groups; protocol {result.folds.protocol}, "
              f"{len(result.folds.splits)} outer folds, C grids {len(C_GRID)} (logreg) and {len(SVM_C_GRID)} (linear-svm) values, n_jobs={args.n_jobs}")
        print(f"ours : {measured_ours:8.1f} s measured on {n_ours} layer(s) x 2 classifiers, for 13 layers: {ours:.1f} s "
              f"(best: layer {best['layer']} {best['classifier']} UAR {best['balanced_accuracy']['mean']:.3f})")
        measured, estimate = plain_seconds(cache, args.plain_layers, args.plain_folds, args.n_jobs)
        print(f"plain: {measured:8.1f} s measured on {args.plain_layers} layer(s) x {args.plain_folds} outer fold(s) "
              f"x 2 classifiers, extrapolated to the full sweep: {estimate:.1f} s")
        print(f"ratio: plain / ours = {estimate / ours:.1f}x (13-layer figures, extrapolated where measured on fewer)")


if __name__ == "__main__":
    main()
