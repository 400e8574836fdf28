"""The probe stage as `probe`, layerprobe.probe and `layerprobe run` all run it: the sweep, its
results document and, with --save-model, the fitted probes."""
from __future__ import annotations

import os
from pathlib import Path

from layerprobe.errors import UserError
from layerprobe.options import DetectionOptions, FitOptions, LabelOptions, ProbeOptions, ProtocolOptions
from layerprobe.probes.output import document
from layerprobe.probes.saved_probe import save_probe
from layerprobe.probes.sweep import sweep

MODELS_DIR = "models"


def probe_stage(cache: str | os.PathLike[str], probe: ProbeOptions, protocol: ProtocolOptions, fit: FitOptions,
                labels: LabelOptions = LabelOptions(), detection: DetectionOptions = DetectionOptions(), *,
                out: str | os.PathLike[str] | None = None, progress: bool = False) -> dict:
    """Probe the cache's layers; returns the results document (`probe --format json`'s object).

    out: the folder whose models/ receives each probe refitted on all clips, when probe.save_model
    (required then). The callers write the document themselves (`layerprobe run` adds its stage key).
    """
    if probe.save_model and out is None:
        raise UserError("--save-model needs --out DIR")
    result = sweep(cache, probe.layers, probe.classifiers, pooling=probe.pooling, save_models=probe.save_model, progress=progress,
                   n_jobs=fit.n_jobs, class_weight=fit.class_weight, permutations=fit.permutations,
                   **protocol.sweep_kwargs(), **labels.to_dict(), **detection.to_dict())
    doc = document(result, cache, {**probe.to_dict(), **protocol.to_dict(), **fit.result_dict(), **labels.to_dict(),
                                   **detection.to_dict()})
    if out is not None:  # result.models is empty without save_model
        for (layer, classifier), model in result.models.items():
            meta = {"layer": layer, "pooling": probe.pooling, "classifier": classifier, "model": doc["model"],
                    "model_fingerprint": doc["model_fingerprint"], "cache": doc["cache"], "n_clips": doc["n_clips"],
                    "class_weight": fit.class_weight, "label_source": doc["label_source"]}
            save_probe(model, result.classes, Path(out) / MODELS_DIR / f"layer{layer:02d}_{classifier}.npz", meta)
    return doc
