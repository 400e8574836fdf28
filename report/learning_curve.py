"""The report's learning-curve section: which records it shows, the forecast sentence, the table."""
from __future__ import annotations

from layerprobe.probes.forecast import forecast_sentence
from layerprobe.report.document import Block, Heading, Paragraph, Table
from layerprobe.report.run_dir import RunInputs
from layerprobe.report.selection import best_baseline, best_layer
from layerprobe.results import ALL_LAYERS, SELECTED, Record


def learning_curve_records(inputs: RunInputs) -> list[Record]:
    """The records whose curves the report shows, where they have one: the layer chosen inside each
    training part (the headline's), the weighted sum of every layer, and the baseline chosen the same way."""
    top = best_layer(inputs.layer_records, inputs.comparison)
    heads = [r for r in inputs.layer_records if r.layer.kind == ALL_LAYERS]
    baseline = best_baseline(inputs.baseline_records, inputs.comparison)
    chosen = [top, *heads[:1], *([baseline] if baseline else [])]
    return [record for record in chosen if record.learning_curve is not None]


def name(record: Record) -> str:
    """How the section and the figure call a record: "selected layer (logreg)", "all layers weighted-sum",
    "selected baseline: feature and classifier"."""
    described = record.describe()
    return f"baseline {described}" if record.layer.kind == SELECTED and described.startswith("selected feature") \
        else described


def sizes(record: Record) -> list[float]:
    """The x of each point of the record's curve, as its forecast reads them (LearningCurve.sizes)."""
    positive = record.detection.positive_class if record.detection else None
    return record.learning_curve.sizes(record.classes, positive)


def curve_section(inputs: RunInputs) -> list[Block]:
    """The forecast of each shown record and a table of the curves (UAR per fraction, the mean over its
    draws); nothing when no record has a curve."""
    records = learning_curve_records(inputs)
    if not records:
        return []
    lines = [f"{name(record).capitalize()}: {forecast_sentence(record.learning_curve)}." for record in records]
    first = records[0].learning_curve
    method = f" Intervals: {first.forecast.ci_method}." if first.forecast and first.forecast.ci_method else ""
    intro = ("Each outer training part subsampled to each fraction, the probe tuned and fitted on the subsample and "
             "scored on the full test part; the inverse power law UAR = a - b n^-c fitted to UAR against n, the "
             f"training clips per class (two classes: of the positive class).{method}")
    fractions = sorted({point.fraction for point in first.points})
    rows = []
    for fraction in fractions:
        cells = []
        for record in records:
            values = [(x, p.balanced_accuracy.value) for x, p in zip(sizes(record), record.learning_curve.points)
                      if p.fraction == fraction]
            cells.append(f"{sum(v for _, v in values) / len(values):.3f} at n {sum(x for x, _ in values) / len(values):.0f}"
                         if values else "")
        rows.append([f"{fraction:g}", *cells])
    table = Table(["fraction", *(f"{name(record)}: UAR" for record in records)], rows)
    return [Heading("Learning curve"), Paragraph(intro), Paragraph(" ".join(lines)), table]
