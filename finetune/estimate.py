"""The run's cost, said before it trains: clip-seconds x epochs x rungs x folds, at each rung's pace timed on
its first training batches."""
from __future__ import annotations

import time

import numpy as np

from layerprobe.finetune.rung import Rung
from layerprobe.finetune.training import adamw, loss_weights, train_epoch
from layerprobe.probes.protocols import Folds

# Training batches timed per rung (the first one is warm-up, not counted).
TIMED_BATCHES = 3


def clip_seconds(folds: Folds, durations: np.ndarray, grid_size: int, epochs: int) -> float:
    """Audio seconds one rung trains on at most over every fold: each learning rate's inner run and the refit,
    each for every epoch."""
    return float(sum(epochs * (grid_size * durations[fold.selection[0][0]].sum() + durations[fold.fit].sum())
                     for fold in folds.outer))


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


def estimate_line(rungs: list[Rung], folds: Folds, durations: np.ndarray, codes: np.ndarray) -> str:
    """One line: the clip-seconds, epochs, rungs and folds, and the time they add up to at the timed paces."""
    options = rungs[0].options
    per_rung = clip_seconds(folds, durations, len(options.learning_rates), options.epochs)
    fit = folds.outer[0].fit
    seconds = sum(pace(rung, fit, codes, durations) * per_rung for rung in rungs)
    audio = float(durations[fit].sum())
    return (f"cost estimate: {audio:.0f} clip-seconds per training part x {options.epochs} epochs x "
            f"({len(options.learning_rates)} learning rates on the inner split + the refit) x {len(rungs)} rungs x "
            f"{len(folds.outer)} folds = {per_rung * len(rungs):.0f} clip-seconds of training, about "
            f"{_duration(seconds)} at the pace of the first batches")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
