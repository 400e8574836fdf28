"""Time --mdl (the online code of probes/mdl.py) beside the logreg sweep it rides on, and beside the same
code with scikit-learn's LogisticRegression, in one run.

FSDD size: bench/probe_sweep.py's synthetic layers (3,000 clips x 768 float32, 10 classes, 6 speakers;
class signal rising to the middle layers). For each of --layers layers: one ordering of our online code
(11 blocks cut at Voita & Titov's fractions; of clips, not of the 6 speakers, whose whole-group blocks
would be only 6: the bench times the code, not the grouping), then one outer fold of the nested
logreg sweep (3 inner splits x the C grid, then the refit), interleaved so that load from other jobs
falls on both alike. The peer: the same code (same order, blocks, C rule and smoothing) with
Pipeline(StandardScaler, LogisticRegression(lbfgs)) fitted at every C of the grid on every block, on
--peer-layers layers; its bits are printed beside ours (they agree to the solvers' tolerance).

    OMP_NUM_THREADS=1 .venv/bin/python bench/mdl_cost.py --layers 13 --peer-layers 2

Measured 2026-12-02 on the 2-core machine shared by ~6 sessions (load average 6-9), OMP_NUM_THREADS=1
(commit 104d33d):

    online code, 1 ordering, 13 layers: 48.5 s wall, 24.2 s CPU
    logreg sweep, 1 of 5 outer folds, 13 layers: 31.3 s wall, 15.2 s CPU
    ratio one ordering / one outer fold: 1.55x wall, 1.59x CPU
    scikit-learn's code, 2 layer(s): 2.4 s wall a layer, ours 2.7: 0.9x   (a rerun on 2 layers)

So --mdl at its default 3 orderings costs about as much as the 5-fold logreg sweep it rides on (73 s
against 76 s of CPU); our solver is no faster than scikit-learn's here (the blocks' fits are small).
Compression rose from 0.995 (layers 0 and 12, almost no signal) to 4.39 (layer 6); scikit-learn's
fits gave bits within 0.06% of ours (10010.0 against 10004.5, 9524.2 against 9524.5). End to end,
`probe --classifier logreg --n-jobs 2` on these layers as a cache (6 speakers, so 4-5 blocks of whole
speakers) took 319 s of wall without --mdl and 426 s with it (load average 8-10).
"""
from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
from probe_sweep import N_CLASSES, build_layers
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from layerprobe.probes.grids import LOGREG_C_GRID
from layerprobe.probes.logreg import LOGREG
from layerprobe.probes.mdl import TIED_BITS, block_cuts, online_code, transmission_order
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.spec import FoldTask


def sklearn_code(X: np.ndarray, codes: np.ndarray, n_classes: int, seed: int) -> float:
    """The online code of probes/mdl.py (ordering 0, clips as units) with scikit-learn's fits."""
    sent, ends = transmission_order(np.full(len(codes), ""), seed, 0)
    cuts = block_cuts(ends)
    bits, chosen = cuts[0] * np.log2(n_classes), 0
    for start, end in zip(cuts[:-1], cuts[1:]):
        fit_rows, coded = sent[:start], sent[start:end]
        t, present = len(fit_rows), np.unique(codes[fit_rows])
        per_c = []
        for C in LOGREG_C_GRID:
            p = np.zeros((len(coded), n_classes))
            if len(present) == 1:
                p[:, present[0]] = 1.0
            else:
                model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X[fit_rows],
                                                                                                  codes[fit_rows])
                p[:, present] = model.predict_proba(X[coded])
            per_c.append(-np.log2((t * p[np.arange(len(coded)), codes[coded]] + 1) / (t + n_classes)).sum())
        bits += per_c[chosen]
        chosen = int(np.flatnonzero(np.array(per_c) <= min(per_c) + TIED_BITS)[0])
    return float(bits)


def timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--peer-layers", type=int, default=1)
    args = parser.parse_args()
    layers, labels, groups = build_layers()
    folds = outer_folds(labels, groups.astype(str), cv="group", folds=5, seed=0)
    fold = folds.outer[0]
    no_groups = np.full(len(labels), "")
    ours, sweep, peer = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    for layer in range(args.layers):
        X = layers[layer]
        code, wall, cpu = timed(partial(online_code, X, labels, N_CLASSES, no_groups, 0, 0))
        ours[0], ours[1] = ours[0] + wall, ours[1] + cpu
        task = FoldTask(X, labels[None, :], N_CLASSES, fold.fit, fold.test, fold.selection)
        _, wall, cpu = timed(partial(LOGREG.run, task))
        sweep[0], sweep[1] = sweep[0] + wall, sweep[1] + cpu
        compression = len(labels) * np.log2(N_CLASSES) / code.bits
        line = f"layer {layer:2d}: ours {code.bits:9.1f} bits (compression {compression:.3f})"
        if layer < args.peer_layers:
            bits, wall, cpu = timed(partial(sklearn_code, X, labels, N_CLASSES, 0))
            peer[0], peer[1] = peer[0] + wall, peer[1] + cpu
            line += f", scikit-learn {bits:9.1f} bits"
        print(line, flush=True)
    n = args.layers
    print(f"online code, 1 ordering, {n} layers: {ours[0]:.1f} s wall, {ours[1]:.1f} s CPU")
    print(f"logreg sweep, 1 of 5 outer folds, {n} layers: {sweep[0]:.1f} s wall, {sweep[1]:.1f} s CPU")
    print(f"ratio one ordering / one outer fold: {ours[0] / sweep[0]:.2f}x wall, {ours[1] / sweep[1]:.2f}x CPU")
    if args.peer_layers:
        per_layer = ours[0] / n
        print(f"scikit-learn's code, {args.peer_layers} layer(s): {peer[0] / args.peer_layers:.1f} s wall a layer, "
              f"ours {per_layer:.1f}: {peer[0] / args.peer_layers / per_layer:.1f}x")


if __name__ == "__main__":
    main()
