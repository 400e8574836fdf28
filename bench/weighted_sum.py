"""Time the weighted-sum probe against the 13-layer logreg sweep on the same folds, in one run.

FSDD size (default): bench/probe_sweep.py's synthetic layers (3,000 clips x 13 layers x 768 float32,
10 classes, 6 speakers; class signal rising to the middle layers), grouped 5-fold outer and 3-fold
inner CV, logreg's C grid. Per outer fold, logreg on each of the 13 layers, then the weighted sum over
all 13 (the folds interleaved, so that load from other jobs falls on both alike); CPU and wall
seconds of each, their ratio, pooled UAR and the weighted sum's layer weights per fold.

Speech-Commands size (--speech-commands): bench/probe_scale.py's layers (105,000 clips, 35 classes,
2,600 groups) built in memory (4.2 GB), --folds of the 5 outer folds timed the same way (logreg on
every layer, then the weighted sum), with the process's peak resident memory; the 5-fold time is
extrapolated from the folds run.

    .venv/bin/python bench/weighted_sum.py
    .venv/bin/python bench/weighted_sum.py --speech-commands --folds 1

Measured 2026-12-02 on the 2-core machine shared by seven sessions (load average 12-17), FSDD size,
--folds 1 (commit 3522408):

    logreg, 13 layers: 95.6 s wall, 31.9 s CPU on 1 fold(s); best layer 6 UAR 0.939
    weighted sum     : 127.8 s wall, 40.8 s CPU on 1 fold(s); UAR 1.000
    ratio weighted sum / 13-layer logreg: 1.34x wall, 1.28x CPU

(before: the path upward from uniform weights at every C, standardizing on the fly, 2.26x wall,
2.08x CPU on the same fold.) The weights chosen on that fold: 0.09, 0.26, 0.34, 0.26, 0.05 on
layers 4-8, at C = 0.1.

Re-measured 2026-12-02 16:25-16:30 UTC, all 5 folds, OMP_NUM_THREADS=1, on the same 2-core machine
(load average 0.4 at the start, about 8 by the end from other sessions' jobs), probes/weighted_sum.py
as at commit c1c10ab:

    logreg, 13 layers: 73.9 s wall, 58.6 s CPU on 5 fold(s); best layer 7 UAR 0.941
    weighted sum     : 78.1 s wall, 53.5 s CPU on 5 fold(s); UAR 1.000
    ratio weighted sum / 13-layer logreg: 1.06x wall, 0.91x CPU
    peak memory 623 MiB

(--folds 2 in the same session, before the load rose: 23.9 s against 23.9 s, 1.00x wall and CPU.)
Speech-Commands size, measured 2026-12-02 17:52-18:03 UTC, OMP_NUM_THREADS=1, --folds 1, on the same
machine (load about 2: one other session's tests), at commit 6ec7bed's probes:

    .venv/bin/python bench/weighted_sum.py --speech-commands --folds 1
    logreg, 13 layers: 506.7 s wall, 488.2 s CPU on 1 fold(s); best layer 6 UAR 0.931
    weighted sum     : 103.3 s wall, 101.1 s CPU on 1 fold(s); UAR 1.000
    ratio weighted sum / 13-layer logreg: 0.20x wall, 0.21x CPU
    5 folds, extrapolated x5: logreg 2533 s, weighted sum 516 s wall
    peak memory 5436 MiB

So the nested weighted-sum sweep at 105k clips x 13 layers takes about 8.6 minutes for 5 folds (under
the 15 asked) and the process peaks at 5.4 GB, 4.2 GB of it the layers this bench holds in memory
(under the 6 GB asked). Its weights on that fold: 0.15, 0.22, 0.25, 0.22, 0.15 on layers 4-8, C = 0.1.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
# bench/ is on the path when a bench runs as a script: the synthetic layers of its peers.
from probe_scale import DIM, N_GROUPS, N_LAYERS
from probe_scale import N_CLASSES as SC_CLASSES
from probe_scale import N_CLIPS as SC_CLIPS
from probe_sweep import N_CLASSES, build_layers

from layerprobe.probes.logreg import LOGREG
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.spec import FoldTask, selection_score
from layerprobe.probes.weighted_sum import WEIGHTED_SUM


def fsdd_layers() -> tuple[list[np.ndarray], np.ndarray, np.ndarray, int]:
    layers, labels, groups = build_layers()
    return layers, labels, groups, N_CLASSES


def speech_commands_layers(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, int]:
    """probe_scale.py's synthetic cache, drawn the same way, held in memory as 13 float32 matrices."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, SC_CLASSES, SC_CLIPS)
    groups = rng.integers(0, N_GROUPS, SC_CLIPS)
    class_means = rng.normal(size=(SC_CLASSES, DIM)).astype(np.float32)
    speaker_means = rng.normal(size=(N_GROUPS, DIM)).astype(np.float32)
    layers = []
    for layer in range(N_LAYERS):
        strength = 0.02 + 0.12 * np.sin(np.pi * layer / (N_LAYERS - 1))
        X = np.empty((SC_CLIPS, DIM), dtype=np.float32)
        rng.standard_normal(out=X, dtype=np.float32)
        for start in range(0, SC_CLIPS, 8192):
            rows = slice(start, start + 8192)
            X[rows] += strength * class_means[labels[rows]] + 0.1 * speaker_means[groups[rows]]
        layers.append(X)
    return layers, labels, groups, SC_CLASSES


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(spec, task: FoldTask):
    """(spec.run(task)'s observed outcome, wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = spec.run(task)[0]
    return outcome, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech-commands", action="store_true", help="Speech-Commands size instead of FSDD's")
    parser.add_argument("--folds", type=int, default=5, help="outer folds to run (default all 5; fewer: extrapolated)")
    args = parser.parse_args()
    layers, labels, groups, n_classes = speech_commands_layers() if args.speech_commands else fsdd_layers()
    folds = outer_folds(labels, groups.astype(str), cv="group", folds=5, seed=0)
    run = folds.outer[:args.folds]
    print(f"data: {len(labels)} clips x {len(layers)} layers x {layers[0].shape[1]} float32, {n_classes} classes; "
          f"{folds.protocol}, {len(folds.outer)} outer folds ({len(run)} run), "
          f"{len(folds.outer[0].selection)} inner; peak so far {peak_mib():.0f} MiB", flush=True)
    logreg_pred = np.full((len(layers), len(labels)), -1)
    ws_pred = np.full(len(labels), -1)
    totals = np.zeros((2, 2))  # (logreg, weighted sum) x (wall, cpu)
    for k, fold in enumerate(run):
        for layer, X in enumerate(layers):
            outcome, wall, cpu = timed(LOGREG, FoldTask(X, labels[None], n_classes, fold.fit, fold.test, fold.selection))
            logreg_pred[layer, fold.test] = outcome.predicted
            totals[0] += wall, cpu
        outcome, wall, cpu = timed(WEIGHTED_SUM, FoldTask(layers, labels[None], n_classes, fold.fit, fold.test,
                                                          fold.selection))
        ws_pred[fold.test] = outcome.predicted
        totals[1] += wall, cpu
        print(f"fold {k}: so far logreg 13 layers {totals[0, 0]:.1f} s wall {totals[0, 1]:.1f} s CPU, weighted sum "
              f"{totals[1, 0]:.1f} s wall {totals[1, 1]:.1f} s CPU; this fold's weighted sum C={WEIGHTED_SUM.grid[outcome.chosen]['C']:g}, weights "
              f"{np.array2string(outcome.layer_weights, precision=2, suppress_small=True)}; "
              f"peak {peak_mib():.0f} MiB", flush=True)
    tested = ws_pred >= 0
    scale = len(folds.outer) / len(run)
    best = max(range(len(layers)), key=lambda layer: selection_score(labels[tested], logreg_pred[layer, tested]))
    print(f"logreg, 13 layers: {totals[0, 0]:.1f} s wall, {totals[0, 1]:.1f} s CPU on {len(run)} fold(s); "
          f"best layer {best} UAR {selection_score(labels[tested], logreg_pred[best, tested]):.3f}")
    print(f"weighted sum     : {totals[1, 0]:.1f} s wall, {totals[1, 1]:.1f} s CPU on {len(run)} fold(s); "
          f"UAR {selection_score(labels[tested], ws_pred[tested]):.3f}")
    print(f"ratio weighted sum / 13-layer logreg: {totals[1, 0] / totals[0, 0]:.2f}x wall, "
          f"{totals[1, 1] / totals[0, 1]:.2f}x CPU")
    if scale != 1:
        print(f"5 folds, extrapolated x{scale:g}: logreg {totals[0, 0] * scale:.0f} s, "
              f"weighted sum {totals[1, 0] * scale:.0f} s wall")
    print(f"peak memory {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
