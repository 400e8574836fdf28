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
from layerprobe.finetune.estimate import estimate_line
from layerprobe.finetune.ladder_input import ladder_input
from layerprobe.finetune.output import RESULTS_FILE
from layerprobe.finetune.paired import ladder_comparisons
from layerprobe.finetune.pretrained import load_encoder
from layerprobe.finetune.records import rung_record
from layerprobe.finetune.registry import rung_class
from layerprobe.finetune.unit import run_unit
from layerprobe.options import FinetuneOptions, FitOptions, LabelOptions, ProtocolOptions
from layerprobe.probes.output import document, write_results
from layerprobe.probes.sweep import Sweep
from layerprobe.results import Document

WORK_DIR = "finetune_work"  # finished units, checkpoints and top-k's frozen frames


def finetune_stage(source: str | os.PathLike[str], out: str | os.PathLike[str], finetune: FinetuneOptions,
                   protocol: ProtocolOptions = ProtocolOptions(), fit: FitOptions = FitOptions(),
                   labels: LabelOptions = LabelOptions(), *, progress: bool = False) -> Document:
    """Train and test every asked rung on the probe's folds (validated options; see layerprobe.run_finetune);
    writes and returns the results document. A rerun with the same `out` continues where a killed one stopped."""
    found = ladder_input(source, protocol, labels)
    classes, codes = np.unique(found.target.labels, return_inverse=True)
    encoder = load_encoder(finetune.model, found.attrs, finetune.device)
    work = Path(out) / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    waves = decoded_clips(found.cache, found.target.rows, encoder, progress=progress)
    rungs = [rung_class(name)(encoder, waves, finetune, len(classes), work, progress) for name in finetune.rungs]
    for rung in rungs:
        rung.prepare()
    folds, seed = found.folds, found.protocol.seed
    if progress:
        print(estimate_line(rungs, folds, found.durations, codes), file=sys.stderr)
    units = {}
    with tqdm(total=len(rungs) * len(folds.outer), desc="fine-tuning", unit="unit", disable=not progress) as bar:
        for rung in rungs:
            for index, fold in enumerate(folds.outer):
                bar.set_postfix_str(f"{rung.name} fold {index + 1}")
                units[rung.name, index] = run_unit(rung, fold, index, codes, seed=seed, class_weight=fit.class_weight,
                                                   folder=work)
                bar.update()
    training_seconds = float(np.mean([found.durations[fold.fit].sum() for fold in folds.outer]))
    records = [rung_record(rung.name, rung.source, [units[rung.name, k] for k in range(len(folds.outer))], codes,
                           classes, folds, fit.class_weight, training_seconds=training_seconds,
                           device=str(encoder.device)) for rung in rungs]
    options = {key: value for key, value in finetune.to_dict().items() if key != "model"}
    sweep = Sweep(folds, records, found.clip_ids, found.attrs, [note for note in [found.target.note()] if note],
                  classes=[str(name) for name in classes], labels=found.target)
    doc = document(sweep, found.cache, {**options, **found.protocol.to_dict(), "class_weight": fit.class_weight,
                                        **found.labels.to_dict()})
    if found.probe is not None:  # a run folder: each rung against its frozen probe's selected layer
        doc = replace(doc, paired=ladder_comparisons(records, found.probe.results, found.target.labels.tolist()))
    write_results(doc, out, RESULTS_FILE)
    return doc

