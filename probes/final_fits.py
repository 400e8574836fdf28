"""The probes refitted on all clips for --save-model: every layer x classifier, and the selected probe.

Each fit chooses its hyperparameters on the selection splits of protocols.final_fold (inner CV over
every used clip, or the one split's validation part) and is refitted on the fitting rows. The
selected probe is the layer and classifier whose chosen point scored best on those same splits,
the first on ties: the rule by which evaluate.select chooses inside each outer training part, here
applied once to all the data, so the probe saved is the one the headline's score describes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from joblib import delayed

from layerprobe.options import FitOptions
from layerprobe.probes.evaluate import Job, fold_job, reading, run_jobs
from layerprobe.probes.protocols import Folds, final_fold
from layerprobe.probes.spec import Model, ProbeSpec


@dataclass(frozen=True)
class FinalFit:
    """One probe fitted on all clips: its source, its chosen hyperparameters and their selection score."""

    layer: int | str
    classifier: str
    model: Model
    params: dict
    score: float


def final_fits(sources: Sequence[tuple[int | str, Callable[[], np.ndarray]]], specs: Sequence[ProbeSpec],
               codes: np.ndarray, n_classes: int, folds: Folds, fit: FitOptions, *,
               progress: bool = False) -> list[FinalFit]:
    """Fit every source x spec that reads it (evaluate.reading) on all clips, sources in order, each
    source's specs in order.

    Parameters
    ----------
    sources : (layer, loader) pairs; loader() returns the (n_clips, F) matrix, called when its fits are due.
    specs : the probes.
    codes : (n_clips,) the class code of every clip.
    n_classes : the number of classes.
    folds : the protocol's folds (its selection rule and seed).
    fit : the class weighting and the joblib workers (validated).
    progress : show a progress bar (default False).
    """
    final = final_fold(codes, folds)

    def jobs() -> Iterator[Job]:
        for layer, load in sources:
            if not reading(layer, specs):
                continue
            X = load()
            for spec in reading(layer, specs):
                yield Job((layer, spec.name), delayed(fold_job)(X, codes[None, :], True, n_classes, final, spec,
                                                                fit.class_weight, folds.seed, True))

    total = sum(len(reading(layer, specs)) for layer, _ in sources)
    results = run_jobs(jobs(), fit.n_jobs, total, progress, progress_label="final fits")
    fits = []
    for layer, _ in sources:
        for spec in reading(layer, specs):
            found = results[(layer, spec.name)]
            fits.append(FinalFit(layer, spec.name, found.model, dict(spec.grid[found.chosen]), float(found.best[0])))
    return fits


def selected_fit(fits: Sequence[FinalFit]) -> FinalFit:
    """The fit whose chosen point scored best on the selection splits, the first on ties."""
    return fits[int(np.argmax([fit.score for fit in fits]))]
