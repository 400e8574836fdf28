"""The run's cost, said before it trains: clip-seconds x epochs x rungs x folds, at each rung's pace timed on
its first training batches."""
from __future__ import annotations

import time

import numpy as np

from layerprobe.finetune.rung import Rung
from layerprobe.finetune.training import adamw, loss_weights, train_epoch
from layerprobe.options import FinetuneOptions
from layerprobe.probes.protocols import OuterFold

# Training batches timed per rung (the first one is warm-up, not counted).
TIMED_BATCHES = 3


def clip_seconds(outer: list[OuterFold], durations: np.ndarray, grid_size: int, epochs: int) -> float:
    """Audio seconds one rung trains on at most over the `outer` folds: each learning rate's inner run and the
    refit, each for every epoch."""
    return float(sum(epochs * (grid_size * durations[fold.selection[0][0]].sum() + durations[fold.fit].sum())
                     for fold in outer))


def pace(rung: Rung, rows: np.ndarray, codes: np.ndarray, durations: np.ndarray) -> float:
    """Training seconds per audio second of `rung`, timed on its first batches of `rows` (a throwaway model)."""
    options = rung.options
    model = rung.build()
    optimizer = adamw(model, min(options.learning_rates))
    weights = loss_weights("none", codes[rows], rung.n_classes)
    batches = [rows[start:start + options.batch_size]
               for start in range(0, min(len(rows), TIMED_BATCHES * options.batch_size), options.batch_size)]
    timed, audio = 0.0, 0.0
    for number, batch in enumerate(batches):
        started = time.perf_counter()
        train_epoch(rung, model, optimizer, batch, codes, weights, lr=min(options.learning_rates),
                    schedule=options.schedule, first_step=0, total_steps=len(batches), max_grad_norm=1.0,
                    batch_size=options.batch_size)
        if number or len(batches) == 1:
            timed, audio = timed + time.perf_counter() - started, audio + float(durations[batch].sum())
    return timed / max(audio, 1e-9)


def estimate_line(paces: list[float], options: FinetuneOptions, outer: list[OuterFold], durations: np.ndarray, *,
                  at_once: int = 1) -> str:
    """One line: the clip-seconds, epochs, rungs and folds, and the time they add up to at each rung's timed pace
    (`paces`, training seconds per audio second, see `pace`); with `at_once` units training side by side (Ray),
    the wall time that gives when they keep each other busy."""
    per_rung = clip_seconds(outer, durations, len(options.learning_rates), options.epochs)
    seconds = sum(paces) * per_rung
    audio = float(durations[outer[0].fit].sum())
    units = len(paces) * len(outer)
    parallel = (f", about {_duration(seconds / min(at_once, units))} of wall time with {min(at_once, units)} "
                f"units at once" if at_once > 1 else "")
    return (f"cost estimate: {audio:.0f} clip-seconds per training part x {options.epochs} epochs x "
            f"({len(options.learning_rates)} learning rates on the inner split + the refit) x {len(paces)} rungs x "
            f"{len(outer)} folds = {per_rung * len(paces):.0f} clip-seconds of training, about "
            f"{_duration(seconds)} at the pace of the first batches{parallel}")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
