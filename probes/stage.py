"""The probe stage as `probe`, layerprobe.probe and `layerprobe run` all run it: the sweep, its
results document and, with --save-model, the fitted probes."""
from __future__ import annotations

import os
from pathlib import Path

from layerprobe.errors import UserError
from layerprobe.options import (CurveOptions, DetectionOptions, FitOptions, LabelOptions, MdlOptions, ProbeOptions,
                                ProtocolOptions)
from layerprobe.probes.final_fits import FinalFit, selected_fit
from layerprobe.probes.layer_mdl import check_mdl, probe_mdl
from layerprobe.probes.output import document, headline_record
from layerprobe.probes.saved_probe import save_probe
from layerprobe.probes.sweep import sweep
from layerprobe.results import ALL_LAYERS, LAYER, Document, Record, Source

MODELS_DIR = "models"
SELECTED_FILE = "selected.npz"


def probe_stage(cache: str | os.PathLike[str], probe: ProbeOptions, protocol: ProtocolOptions, fit: FitOptions,
                labels: LabelOptions = LabelOptions(), detection: DetectionOptions = DetectionOptions(),
                curve: CurveOptions = CurveOptions(), mdl: MdlOptions = MdlOptions(), *,
                out: str | os.PathLike[str] | None = None,
                progress: bool = False) -> Document:
    """Probe the cache's layers; returns the results document (`probe --format json`'s object).

    out: the folder whose models/ receives, when probe.save_model (required then), each probe
    refitted on all clips (layerNN_CLASSIFIER.npz) and the selected one (selected.npz: the layer and
    classifier chosen on all clips by the rule of the headline's selected record). The callers write
    the document themselves (`layerprobe run` adds its stage key). mdl: with mdl.mdl, each layer's
    logreg record gains its online codelength (probes/layer_mdl.py).
    """
    if probe.save_model and out is None:
        raise UserError("--save-model needs --out DIR")
    check_mdl(mdl, probe.classifiers)
    result = probe_mdl(sweep(cache, probe, protocol, fit, labels, detection, curve, progress=progress), cache, probe,
                       protocol, fit, mdl, progress=progress)
    doc = document(result, cache, {**probe.to_dict(), **protocol.to_dict(), **fit.result_dict(), **labels.to_dict(),
                                   **detection.to_dict(), **curve.result_dict(), **mdl.result_dict()})
    if out is None or not result.fits:  # result.fits is empty without save_model
        return doc
    shared = {"pooling": probe.pooling, "model": doc.model, "model_fingerprint": doc.model_fingerprint,
              "cache": doc.cache, "n_clips": doc.n_clips, "class_weight": fit.class_weight,
              "label_source": doc.label_source}
    folder = Path(out) / MODELS_DIR
    for final in result.fits:
        record = next(r for r in result.records
                      if (r.layer, r.classifier) == (Source.of(final.layer), final.classifier))
        save_probe(final.model, result.classes, folder / model_file(final),
                   {**shared, **_fit_meta(final, record, result.layers)})
    chosen = selected_fit(result.fits)
    save_probe(chosen.model, result.classes, folder / SELECTED_FILE,
               {**shared, **_fit_meta(chosen, headline_record(result.records), result.layers), "selected": True})
    return doc


def model_file(final: FinalFit) -> str:
    """layerNN_CLASSIFIER.npz, or all_CLASSIFIER.npz for a head over every layer."""
    source = Source.of(final.layer)
    return f"layer{source.index:02d}_{final.classifier}.npz" if source.kind == LAYER else \
        f"{source}_{final.classifier}.npz"


def _fit_meta(final: FinalFit, record: Record, layers: list[int]) -> dict:
    """What a saved probe says of itself: its layer (and for a head over every layer, "all" and the
    `layers` it mixes, which --predict reads), classifier and hyperparameters, their selection score,
    and with --at-precision the threshold its record found (applied by --predict --at-precision)."""
    meta = {"layer": final.layer, "classifier": final.classifier, "params": final.params,
            "selection_score": final.score}
    if Source.of(final.layer).kind == ALL_LAYERS:
        meta["layers"] = list(layers)
    if record.recall_at_precision:
        found = record.recall_at_precision
        meta["at_precision"] = {"precision": found.precision, "threshold": found.threshold,
                                "positive_class": record.detection.positive_class}
    return meta
