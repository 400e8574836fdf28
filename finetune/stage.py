"""The ladder as `layerprobe finetune` and layerprobe.run_finetune run it: the probe's clips and folds, the
cache's encoder (checked by fingerprint), the clips' audio, every rung's (rung, fold) units (resumable), and
their records in one results document, DIR/finetune_results.json."""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from layerprobe.finetune.clips import decoded_clips
from layerprobe.finetune.estimate import estimate_line, pace
from layerprobe.finetune.ladder_input import LadderInput, ladder_input
from layerprobe.finetune.output import RESULTS_FILE
from layerprobe.finetune.paired import ladder_comparisons
from layerprobe.finetune.pretrained import load_encoder
from layerprobe.finetune.records import rung_record
from layerprobe.finetune.registry import rung_class
from layerprobe.finetune.rung import Rung
from layerprobe.finetune.unit import UnitResult, run_unit
from layerprobe.options import EngineOptions, FinetuneOptions, FitOptions, LabelOptions, ProtocolOptions
from layerprobe.probes.output import document, write_results
from layerprobe.probes.sweep import Sweep
from layerprobe.results import Document

WORK_DIR = "finetune_work"  # finished units, checkpoints and the stored frozen frames


def finetune_stage(source: str | os.PathLike[str], out: str | os.PathLike[str], finetune: FinetuneOptions,
                   protocol: ProtocolOptions = ProtocolOptions(), fit: FitOptions = FitOptions(),
                   labels: LabelOptions = LabelOptions(), engine: EngineOptions = EngineOptions(), *,
                   progress: bool = False) -> Document:
    """Train and test every asked rung on the probe's folds (validated options; see layerprobe.run_finetune),
    here or as Ray tasks (`engine`); writes and returns the results document. A rerun with the same `out`
    continues where a killed one stopped."""
    found = ladder_input(source, protocol, labels)
    classes, codes = np.unique(found.target.labels, return_inverse=True)
    on_ray = engine.engine == "ray"
    # On Ray the tasks train; here the encoder is loaded on the CPU to be checked and to read the audio.
    encoder = load_encoder(finetune.model, found.attrs, "cpu" if on_ray else finetune.device)
    work = Path(out) / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    waves = decoded_clips(found.cache, found.target.rows, encoder, progress=progress)
    rungs = [rung_class(name)(encoder, waves, finetune, len(classes), work, progress) for name in finetune.rungs]
    folds = found.folds
    if on_ray:
        units, device = _ray_units(rungs, found, codes, fit.class_weight, engine, progress=progress)
    else:
        units, device = _local_units(rungs, found, codes, fit.class_weight, progress=progress), str(encoder.device)
    training_seconds = float(np.mean([found.durations[fold.fit].sum() for fold in folds.outer]))
    records = [rung_record(rung.name, rung.source, [units[rung.name, k] for k in range(len(folds.outer))], codes,
                           classes, folds, fit.class_weight, training_seconds=training_seconds,
                           device=device) for rung in rungs]
    options = {key: value for key, value in finetune.to_dict().items() if key != "model"}
    sweep = Sweep(folds, records, found.clip_ids, found.attrs, [note for note in [found.target.note()] if note],
                  classes=[str(name) for name in classes], labels=found.target)
    doc = document(sweep, found.cache, {**options, **found.protocol.to_dict(), "class_weight": fit.class_weight,
                                        **found.labels.to_dict()})
    if found.probe is not None:  # a run folder: each rung against its frozen probe's selected layer
        doc = replace(doc, paired=ladder_comparisons(records, found.probe.results, found.target.labels.tolist()))
    write_results(doc, out, RESULTS_FILE)
    return doc


def _local_units(rungs: list[Rung], found: LadderInput, codes: np.ndarray, class_weight: str, *,
                 progress: bool) -> dict[tuple[str, int], UnitResult]:
    """Every (rung, fold) unit trained here, one after the other, after the cost estimate."""
    for rung in rungs:
        rung.prepare()
    folds = found.folds
    if progress:
        paces = [pace(rung, folds.outer[0].fit, codes, found.durations) for rung in rungs]
        print(estimate_line(paces, rungs[0].options, folds.outer, found.durations), file=sys.stderr)
    units = {}
    with tqdm(total=len(rungs) * len(folds.outer), desc="fine-tuning", unit="unit", disable=not progress) as bar:
        for rung in rungs:
            for index, fold in enumerate(folds.outer):
                bar.set_postfix_str(f"{rung.name} fold {index + 1}")
                units[rung.name, index] = run_unit(rung, fold, index, codes, seed=found.protocol.seed,
                                                   class_weight=class_weight, folder=rung.work)
                bar.update()
    return units


def _ray_units(rungs: list[Rung], found: LadderInput, codes: np.ndarray, class_weight: str, engine: EngineOptions,
               *, progress: bool) -> tuple[dict[tuple[str, int], UnitResult], str]:
    """Every (rung, fold) unit trained in a Ray task (finetune/ray_units.py), and the device they trained on."""
    from layerprobe.finetune.ray_units import UnitJob, ray_units

    options = rungs[0].options
    model = options.model or str(found.attrs.get("model", ""))
    if Path(model).exists():  # a task need not run in this directory
        model = str(Path(model).resolve())
    jobs = [UnitJob(rung.name, index, fold, model, found.attrs, options, rung.n_classes, codes, found.protocol.seed,
                    class_weight, str(rung.work.resolve()))
            for rung in rungs for index, fold in enumerate(found.folds.outer)]
    return ray_units(engine.settings, jobs, rungs[0].waves, options.device, found.durations if progress else None,
                     progress=progress)
