"""CPU seconds of the logreg probe with its C grid against the grid that ended at C = 1, in one run.

On bench/probe_sweep.py's synthetic FSDD-size embeddings (3,000 clips x 768 dims, 10 classes,
grouped 5-fold outer CV), every outer fold of the given layers is fitted with both grids, interleaved
fold by fold so that a loaded machine slows both alike; time.process_time counts this process's CPU,
which other jobs on the machine do not inflate. Run with one BLAS thread for comparable figures:

    OMP_NUM_THREADS=1 .venv/bin/python bench/c_grid_cost.py --layers 6,0
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from probe_sweep import build_layers, fold_task

from layerprobe.probes import logreg
from layerprobe.probes.grids import LOGREG_C_GRID
from layerprobe.probes.path_probe import path_spec
from layerprobe.probes.protocols import outer_folds

NARROW = tuple(float(c) for c in np.logspace(-4, 0, 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="6,0", help="synthetic layers to fit (default 6,0)")
    args = parser.parse_args()
    layers, labels, groups = build_layers()
    folds = outer_folds(labels, groups.astype(str), cv="group", folds=5, seed=0)
    specs = {grid: path_spec("logreg", logreg.fit_path, logreg.coefficients, grid) for grid in (NARROW, LOGREG_C_GRID)}
    seconds = dict.fromkeys(specs, 0.0)
    for layer in (int(value) for value in args.layers.split(",")):
        for k in range(len(folds.outer)):
            task = fold_task(layers[layer], labels[None], folds, k)
            for grid, spec in specs.items():
                started = time.process_time()
                spec.run(task)
                seconds[grid] += time.process_time() - started
    for grid, spent in seconds.items():
        print(f"logreg C {grid[0]:g}..{grid[-1]:g} ({len(grid)} values): {spent:.1f} s CPU")
    print(f"ratio: {seconds[LOGREG_C_GRID] / seconds[NARROW]:.2f}x")


if __name__ == "__main__":
    main()
