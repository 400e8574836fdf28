"""`write_report`: read a run folder, draw the figures, write report.md, report.html and results.json."""
from __future__ import annotations

import json
import os
from pathlib import Path

from layerprobe.atomic_write import write_text_atomic
from layerprobe.probes.output import interval_method
from layerprobe.report import plots
from layerprobe.report.curve_figure import curve_figures
from layerprobe.report.document import Image, to_html, to_markdown
from layerprobe.report.layer_weights import weights_images
from layerprobe.report.mdl_figure import mdl_figures
from layerprobe.report.run_dir import RunInputs, read_run_dir
from layerprobe.report.sections import report_blocks, title
from layerprobe.report.selection import best_baseline, best_layer, curve_records
from layerprobe.results import Document

PR_CURVE_FILE = "precision_recall_best_layer.png"
LADDER_FILE = "ladder.png"


def write_report(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the comparison report into RUN_DIR and return the written paths by file name:
    report.md, report.html, results.json, layer_curve.png, confusion_best_layer.png,
    per_class_recall.png, layer_weights.png with a weighted sum of layers,
    precision_recall_best_layer.png for two classes and compression_curve.png with --mdl. Raises UserError
    when RUN_DIR or its probe_results.json is missing."""
    inputs = read_run_dir(run_dir)
    figures = draw_figures(inputs)
    blocks = report_blocks(inputs, figures)
    directory = inputs.directory
    written = {
        "report.md": directory / "report.md",
        "report.html": directory / "report.html",
        "results.json": directory / "results.json",
    }
    write_text_atomic(written["report.md"], to_markdown(blocks))
    write_text_atomic(written["report.html"], to_html(blocks, title(inputs)))
    write_text_atomic(written["results.json"], json.dumps(results_document(inputs), indent=1))
    return {**written, **{figure.path.name: figure.path for figure in figures}}


def draw_figures(inputs: RunInputs) -> list[Image]:
    """The figures, written into the run folder, with their captions: the layer curve, the weighted sum's
    layer weights, the confusion matrix, per-class recall, and for two classes the precision-recall curve."""
    directory = inputs.directory
    records = curve_records(inputs.layer_records)
    top = best_layer(inputs.layer_records, inputs.comparison)
    # The baseline the headline and the paired test use, not the best row seen afterwards.
    baseline = best_baseline(inputs.baseline_records, inputs.comparison)
    # The weighted sum's layer weights come beside the layer curve (first, without one).
    figures = weights_images(inputs.layer_records, directory)
    if top.confusion_matrix is not None:
        confusion = plots.confusion_matrix(top, directory / "confusion_best_layer.png")
        figures.append(Image(confusion, "Confusion matrix of the layer chosen inside each training part, over all "
                                        "test folds, rows normalized (counts in brackets)."))
    else:  # too many classes for a K x K matrix: the record keeps its nonzero cells
        confusion = plots.confused_pairs(top, directory / "confused_pairs_best_layer.png")
        figures.append(Image(confusion, f"The most frequent confusions of the layer chosen inside each training part "
                                        f"over all test folds ({len(top.classes)} classes: too many for a matrix)."))
    # A run of heads that read every layer at once (the weighted sum alone) has no per-layer curve.
    if records:
        curve = plots.layer_curve(records, [baseline] if baseline else [], top, directory / "layer_curve.png")
        recall = plots.per_class_recall(records, top, directory / "per_class_recall.png")
        figures = [
            Image(curve, "Accuracy and UAR against layer: pooled out-of-fold value, error bars where it has an "
                         f"interval [{interval_method(top.accuracy)}]; dotted: the layer chosen inside each training "
                         "part; band: the baseline chosen the same way (its 95% interval); dashed: chance."),
            *figures,
            Image(recall, "Recall of each class at each layer: a dark column is a class that the probes miss."),
        ]
    truth = inputs.probe.clip_labels
    if len(top.classes) == 2 and truth and top.predictions[0].score is not None:
        curve_path = plots.precision_recall(top, truth, directory / PR_CURVE_FILE)
        figures.append(Image(curve_path, f"Precision-recall curve of {top.detection.positive_class!r} for the "
                                         "layer chosen inside each training part, from the decision scores of every "
                                         "test clip pooled over folds (each fold's from its own model); dashed: "
                                         "the class's prevalence, what random scores reach."))
    if inputs.finetune is not None and inputs.finetune.results:
        ladder = plots.ladder(inputs.finetune.results, top, directory / LADDER_FILE)
        figures.append(Image(ladder, "UAR of each fine-tuning rung against its trainable parameters (log axis), on "
                                     "the probe's folds, error bars its 95% interval; dotted, with its interval as a "
                                     "band: the frozen probe's layer chosen inside each training part; dashed: "
                                     "chance. A collapsed rung is not drawn."))
    return figures + curve_figures(inputs) + mdl_figures(inputs)


def results_document(inputs: RunInputs) -> dict:
    """Every layer and baseline record unchanged, the paired comparison and the run facts
    (None where absent); `probe` and `baselines` keep the documents' other top-level fields,
    such as clip_ids, into which the records' prediction indices point."""
    return {
        "results": [record.to_dict() for record in inputs.layer_records + inputs.baseline_records],
        "comparison": inputs.comparison.to_dict() if inputs.comparison else None,
        "run": inputs.run.to_dict() if inputs.run else None,
        "probe": _metadata(inputs.probe),
        "baselines": _metadata(inputs.baselines),
    }


def _metadata(doc: Document | None) -> dict | None:
    return None if doc is None else {key: value for key, value in doc.to_dict().items() if key != "results"}
