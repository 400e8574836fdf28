"""A rung's finished units as a Record, built by the probes' own record machinery (probes/records.py), so its
pooled metrics, intervals, per-fold values, out-of-fold predictions and detection metrics are computed as every
probe's are, and the rung's own fields beside them."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from layerprobe.finetune.unit import UnitResult
from layerprobe.probes.detection import Detection, ScoreKind, class_scores
from layerprobe.probes.evaluate import Candidate
from layerprobe.probes.protocols import Folds
from layerprobe.probes.records import record
from layerprobe.results import Record

SCORE_KIND = ScoreKind("softmax probabilities of the fine-tuned model's logits",
                       "the log-odds of the positive class (ranks as its probability does)", softmax=True)
SECONDS_PER_HOUR = 3600.0


def rung_record(rung: str, source: int | str, units: list[UnitResult], codes: np.ndarray, classes: np.ndarray,
                folds: Folds, class_weight: str, *, training_seconds: float, device: str,
                detection: Detection = Detection()) -> Record:
    """The record of `rung` over every outer fold (units: one per fold, in order). training_seconds: the audio of
    an outer training part (the mean over folds), for parameters_per_hour. A collapsed unit marks the record
    collapsed, with a warning per fold saying why."""
    K = len(classes)
    logits = [np.asarray(unit.logits, dtype=np.float64).reshape(-1, K) for unit in units]
    k = len(units)
    candidate = Candidate(layer=source, classifier=rung, best=np.zeros((k, 1)), hits=np.zeros((k, 1, K)),
                          support=np.zeros((k, 1, K)), predicted=[fold.argmax(axis=1) for fold in logits],
                          params=[{"learning_rate": unit.learning_rate, "epochs": unit.epochs} for unit in units],
                          decisions=[class_scores(fold, K, SCORE_KIND) for fold in logits],
                          score_kinds=[SCORE_KIND] * k)
    found = record(candidate, codes, classes, folds, class_weight, detection)
    trainable = units[0].trainable_parameters
    collapsed = [f"{rung} collapsed in fold {i + 1}: {unit.collapsed}" for i, unit in enumerate(units)
                 if unit.collapsed]
    return replace(found, rung=rung, trainable_parameters=trainable,
                   parameters_per_hour=trainable / (training_seconds / SECONDS_PER_HOUR),
                   learning_rate=[unit.learning_rate for unit in units], epochs=[unit.epochs for unit in units],
                   device=device, collapsed=bool(collapsed), wall_seconds=sum(unit.seconds for unit in units),
                   warnings=collapsed + found.warnings)
