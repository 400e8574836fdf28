"""Time every probe on a synthetic Speech-Commands-size cache, one layer in memory at a time.

105,000 clips x 13 layers x 768 float32 dims in HDF5, 35 classes, 2,600 speaker groups, grouped
5-fold outer CV with grouped 3-fold inner CV; logreg, linear-svm and ridge on each layer read from
the cache in turn. Prints seconds per layer and probe, the 13-layer total (extrapolated when
--layers is a subset) and the process's peak resident memory beside one layer's size.

    .venv/bin/python bench/probe_scale.py --layers 6
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from layerprobe.probes.classifiers import CLASSIFIERS
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.spec import FoldTask, selection_score

N_CLIPS, N_LAYERS, DIM, N_CLASSES, N_GROUPS = 105_000, 13, 768, 35, 2_600


def build_cache(path: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write the layers to `path` one at a time; returns (labels, groups). Class signal peaks mid-stack."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, N_CLIPS)
    groups = rng.integers(0, N_GROUPS, N_CLIPS)
    class_means = rng.normal(size=(N_CLASSES, DIM)).astype(np.float32)
    speaker_means = rng.normal(size=(N_GROUPS, DIM)).astype(np.float32)
    # One float32 layer buffer, redrawn in place, offsets added in row blocks: the writer holds one
    # layer's matrix and no more.
    X = np.empty((N_CLIPS, DIM), dtype=np.float32)
    with h5py.File(path, "w") as f:
        for layer in range(N_LAYERS):
            strength = 0.02 + 0.12 * np.sin(np.pi * layer / (N_LAYERS - 1))
            rng.standard_normal(out=X, dtype=np.float32)
            for start in range(0, N_CLIPS, 8192):
                rows = slice(start, start + 8192)
                X[rows] += strength * class_means[labels[rows]] + 0.1 * speaker_means[groups[rows]]
            f.create_dataset(f"layers/{layer:02d}", data=X)
    return labels, groups


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="all", help="layers to run (default all; a subset is extrapolated)")
    parser.add_argument("--cache", type=Path, default=None, help="where to write the cache (default a temp dir)")
    args = parser.parse_args()
    chosen = list(range(N_LAYERS)) if args.layers == "all" else [int(v) for v in args.layers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        path = args.cache or Path(tmp) / "speech_commands_size.h5"
        labels, groups = build_cache(path)
        folds = outer_folds(labels, groups.astype(str), cv="group", folds=5, seed=0)
        print(f"cache: {N_CLIPS} clips x {N_LAYERS} layers x {DIM} float32, {N_CLASSES} classes, {N_GROUPS} groups; "
              f"{folds.protocol}, {len(folds.splits)} outer folds; peak so far {peak_mib():.0f} MiB", flush=True)
        print(f"protocol: {folds.reason}", flush=True)
        totals = dict.fromkeys(CLASSIFIERS, 0.0)
        with h5py.File(path, "r") as f:
            for layer in chosen:
                X = f[f"layers/{layer:02d}"][...]
                for name, spec in CLASSIFIERS.items():
                    start = time.perf_counter()
                    predicted = np.zeros_like(labels)
                    for fold in folds.outer:
                        task = FoldTask(X, labels[None], N_CLASSES, fold.fit, fold.test, fold.selection,
                                        seed=folds.seed)
                        predicted[fold.test] = spec.run(task)[0].predicted
                    seconds = time.perf_counter() - start
                    totals[name] += seconds
                    print(f"layer {layer:2d} {name:10s} {seconds:7.1f} s  UAR {selection_score(labels, predicted):.3f}  "
                          f"peak {peak_mib():.0f} MiB", flush=True)
                del X
    scale = N_LAYERS / len(chosen)
    layer_mib = N_CLIPS * DIM * 4 / 2**20
    print(f"13-layer sweep, all three probes: {sum(totals.values()) * scale:.0f} s "
          f"({', '.join(f'{k} {v * scale:.0f} s' for k, v in totals.items())}"
          f"{', extrapolated from ' + str(len(chosen)) + ' layer(s)' if scale != 1 else ''}); "
          f"peak memory {peak_mib():.0f} MiB, one layer {layer_mib:.0f} MiB")


if __name__ == "__main__":
    main()
