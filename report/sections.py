"""What the report says, section by section, as document blocks (document.py renders them)."""
from __future__ import annotations

from pathlib import Path

from layerprobe.finetune.paired import verdict
from layerprobe.layer_spec import format_layers
from layerprobe.probes.output import COLUMNS, detection_headline, interval_method, pooled_and_fold_mean, with_interval
from layerprobe.report.document import Block, Bullets, Heading, Image, Note, Paragraph, Table
from layerprobe.report.layer_weights import weight_place, weighted_sum_name, weighted_sum_record, weights_sentence
from layerprobe.report.learning_curve import curve_section
from layerprobe.report.mdl_figure import mdl_paragraph
from layerprobe.report.run_dir import BASELINES_FILE, COMPARISON_FILE, RUN_FILE, RunInputs
from layerprobe.report.selection import (RANKING, best_baseline, best_layer, chance_level, curve_records, find,
                                         picks_summary)
from layerprobe.report.summary import summary_table
from layerprobe.results import ALL_LAYERS, CHANCE, LAYER, Comparison, Document, Metric, Record, RunFacts, listed

TITLES = dict(COLUMNS)
CLASS_TITLES = {"precision": "precision", "recall": "recall", "f1": "F1", "roc_auc": "ROC-AUC",
                "average_precision": "AP"}
# Above this many classes the per-class table lists those of lowest recall only.
TABLED_CLASSES = 50


def title(inputs: RunInputs) -> str:
    """The report's title: the dataset's name when run.json gives it, else the run folder's."""
    data = inputs.run.data if inputs.run else None
    return f"layerprobe report: {Path(data).name if data else inputs.directory.resolve().name}"


def report_blocks(inputs: RunInputs, figures: list[Image]) -> list[Block]:
    """The whole report: the one-glance table, headline, dataset, encoder, layers, MDL, per-class scores,
    baselines, comparison, learning curves, the fine-tuning ladder, warnings, timings, figures."""
    return [Heading(title(inputs), level=1), *summary_table(inputs), *headline(inputs), *dataset(inputs),
            *encoder(inputs), *layer_table(inputs), *mdl_paragraph(inputs), *per_class_table(inputs),
            *baseline_table(inputs), *comparison(inputs), *curve_section(inputs), *ladder(inputs), *warnings(inputs),
            *timings(inputs), Heading("Figures"), *figures]


def headline(inputs: RunInputs) -> list[Block]:
    """The honest result as short bullets, one point each: the protocol, the selected layer's score
    with its interval (for two classes its average precision and recall at the asked precision first),
    the weighted sum of layers when run, the selected baseline's, chance, the paired test and whether
    the family-wise test holds."""
    probe = inputs.probe
    top = best_layer(inputs.layer_records, inputs.comparison)
    chance, kind = chance_level(top, RANKING)
    items = []
    if probe.leak:
        items.append(f"Warning: {probe.leak}.")
    items.append(f"Protocol: {probe.protocol}, {probe.protocol_reason}; hyperparameters chosen by {top.selection}.")
    items.append(f"{_put_forward(top)} reaches {_lead(top)}UAR {with_interval(top.metric(RANKING))} and accuracy "
                 f"{with_interval(top.accuracy)}{_interval_clause(top.accuracy)}.")
    if top.never_predicted:
        remedy = " (--class-weight balanced weighs every class equally)" if top.class_weight == "none" else ""
        items.append(f"It never predicts class(es) {listed(top.never_predicted)}{remedy}.")
    heads = weighted_sum_record(inputs.layer_records)
    if heads is not None:
        items.append(f"Its weight sits mostly on {weight_place(heads)}." if heads is top else weights_sentence(heads))
    baseline = best_baseline(inputs.baseline_records, inputs.comparison)
    against = (f"the baseline chosen the same way ({picks_summary(baseline)}) reaches {_lead(baseline)}UAR "
               f"{with_interval(baseline.metric(RANKING))}; " if baseline else "no baseline was run; ")
    items.append(f"For comparison, {against}chance ({kind}) is UAR {chance:.3f}.")
    items.append(_test_sentence(inputs.comparison))
    items.append(_family_sentence(top, probe))
    return [Bullets(items)]


def _put_forward(top: Record) -> str:
    """What the headline's record is: the layer chosen inside each training part, or a head over every
    layer, which chooses none (a run of the weighted sum alone)."""
    if top.layer.kind == ALL_LAYERS:
        return f"The {weighted_sum_name(top)} (it reads every layer: no layer is chosen)"
    return f"The layer chosen inside each training part ({picks_summary(top)})"


def _lead(record: Record) -> str:
    """"average precision of 'owl' ... at precision 0.9 (...); " for two classes, else nothing."""
    lead = detection_headline(record)
    return f"{lead}; " if lead else ""


def _interval_clause(summary: Metric) -> str:
    """" (95% intervals)", or why the figures before it have none."""
    return " (95% intervals)" if summary.ci is not None else f"; {interval_method(summary)}"


def _family_sentence(record: Record, probe: Document) -> str:
    test = record.significance
    if test is None:
        asked = probe.options.get("permutations")
        if not asked:
            return "No permutation test was run (--permutations N runs one)."
        # The study says why in a run-level note (probes.significance.resolution_note).
        why = next((line for line in probe.warnings if "permutation" in line), "no p-value was recorded")
        return f"No permutation test although --permutations {asked} asked for one: {why}."
    holds = "holds" if test.p_value_fwer <= 0.05 else "does not hold"
    # Label-free folds (probes/permutation_folds.py) give the test an observed UAR of its own.
    where = (f", run on folds that read no labels, where the observed UAR is {test.permutation_observed:.3f}"
             if (test.permutation_folds or "").startswith("folds that read no labels") else "")
    return (f"Permutation test ({test.permutations} {test.permutation} permutations{where}): p = "
            f"{test.p_value:.3g}, family-wise over every layer and classifier p = {test.p_value_fwer:.3g}: "
            f"the result {holds} at 0.05.")


def dataset(inputs: RunInputs) -> list[Block]:
    """Where the clips came from, how many were usable, the classes, groups and the protocol."""
    run, probe = inputs.run, inputs.probe
    first = inputs.layer_records[0]
    counts = run.classes if run else dict(zip(first.classes, first.per_class.support))
    items = [
        f"data: {run.data if run else 'unknown'}",
        f"clips: {run.n_clips if run else first.n_clips} ok, {run.n_failed if run else 'unknown'} failed",
        f"classes ({len(counts)}): " + ", ".join(f"{label} ({count})" for label, count in counts.items()),
        f"groups: {_groups(run)}",
        f"protocol: {probe.protocol}, {probe.n_folds} fold(s), seed {probe.seed}: {probe.protocol_reason}",
        "clips per split: " + (", ".join(f"{k} {v}" for k, v in probe.split_counts.items()) or "none"),
    ]
    blocks: list[Block] = [Heading("Dataset"), Bullets(items)]
    if not inputs.run:
        blocks.append(Note(f"{RUN_FILE} is missing: the data source, failed clips and groups are unknown; "
                           "class counts are the probe's test support."))
    return blocks


def encoder(inputs: RunInputs) -> list[Block]:
    """The encoder, its revision and the layers probed, with the random-init note when there is one."""
    run = inputs.run
    layers = (run.layers if run else None) or sorted({r.layer.index for r in curve_records(inputs.layer_records)})
    items = [f"model: {(run.model if run else None) or inputs.probe.model or 'unknown'}",
             f"revision: {(run.model_revision if run else None) or 'unknown'}",
             f"layers: {format_layers(layers)}",
             f"pooling over each clip's frames: {_pooling_words(inputs.probe.options.get('pooling', 'mean'))}"]
    blocks: list[Block] = [Heading("Encoder"), Bullets(items)]
    if run and run.random_init_note:
        blocks.append(Note(run.random_init_note))
    return blocks


def _pooling_words(pooling: str) -> str:
    """"mean+std" -> "mean+std (their vectors concatenated: statistics pooling)"."""
    return f"{pooling} (their vectors concatenated: statistics pooling)" if "+" in pooling else pooling


def layer_table(inputs: RunInputs) -> list[Block]:
    """Every layer x classifier: accuracy, UAR, macro-F1 (mean ± std over folds), p-value if any."""
    records = sorted(curve_records(inputs.layer_records), key=lambda r: r.layer.index)
    others = [r for r in inputs.layer_records if r.layer.kind != LAYER]  # selected, a head over all layers
    top = best_layer(inputs.layer_records, inputs.comparison)
    return [Heading("Layers"), _score_table(records + others, top, "layer"),
            Paragraph(f"Pooled out-of-fold value [{interval_method(top.accuracy)}]; the selected rows "
                      "choose the layer inside each training part, (headline) marks the one put forward above. "
                      "The per-layer rows are a curve to look at, not a choice: their maximum is optimistic.")]


def per_class_table(inputs: RunInputs) -> list[Block]:
    """Each class of the layer put forward: support, precision, recall, F1, and ROC-AUC and average
    precision (one-vs-rest) from its decision scores, with what the detection figures mean."""
    top = best_layer(inputs.layer_records, inputs.comparison)
    scores = top.per_class
    columns = [name for name in ("precision", "recall", "f1", "roc_auc", "average_precision")
               if getattr(scores, name) is not None]
    shown = range(len(top.classes))
    if len(top.classes) > TABLED_CLASSES:  # speaker ID: the classes recognized worst, not 1,251 rows
        shown = sorted(shown, key=lambda i: (scores.recall[i], i))[:TABLED_CLASSES]
    rows = [[top.classes[i], str(scores.support[i]), *(_cell(getattr(scores, column)[i]) for column in columns)]
            for i in shown]
    blocks: list[Block] = [Heading("Per class"), Table(["class", "support", *(CLASS_TITLES[c] for c in columns)], rows)]
    if len(top.classes) > TABLED_CLASSES:
        blocks.append(Paragraph(f"The {TABLED_CLASSES} classes of lowest recall of {len(top.classes)}; every class's "
                                "values are in the record's per_class."))
    if top.detection:
        detection = top.detection
        text = (f"Of the {top.describe()}, over all test folds. ROC-AUC and AP (average precision) rank each class "
                f"against the rest by its score: {detection.scores}. The table's values and the pooled ones "
                "are computed on the scores of every test clip together (each fold's from its own model), the "
                f"fold mean averages the per-fold values. Overall: ROC-AUC {pooled_and_fold_mean(top.roc_auc)}; "
                f"AP {pooled_and_fold_mean(top.average_precision)} ({detection.average})")
        if top.recall_at_precision:
            at = top.recall_at_precision
            text += f"; recall of {detection.positive_class!r} at precision {at.precision:g}: {with_interval(at)}"
        blocks.append(Paragraph(text + "."))
    return blocks


def baseline_table(inputs: RunInputs) -> list[Block]:
    """Every baseline record (features and chance) on the same folds, or why there are none."""
    if inputs.baselines is None:
        return [Heading("Baselines"), Note(f"{BASELINES_FILE} is missing: no baselines were run.")]
    records = inputs.baseline_records
    return [Heading("Baselines"), _score_table(records, best_baseline(records, inputs.comparison), "feature")]


def comparison(inputs: RunInputs) -> list[Block]:
    """The paired test of the best layer against the best baseline, with its per-fold differences."""
    found = inputs.comparison
    if found is None:
        return [Heading("Comparison"), Note(f"{COMPARISON_FILE} is missing: no paired test was run.")]
    layer, baseline = found.best_layer, found.best_baseline
    metric = TITLES.get(found.metric, found.metric)
    text = (f"{metric} of the {layer.describe()} ({layer.value:.3f}) against the {baseline.describe()} "
            f"({baseline.value:.3f}) on the same {found.n_folds} fold(s): "
            f"difference {found.value_difference:+.3f}. {_test_sentence(found)}")
    return [Heading("Comparison"), Paragraph(text), _fold_table(inputs, metric)]


def ladder(inputs: RunInputs) -> list[Block]:
    """Is fine-tuning worth it: the ladder's verdict and one row per rung (a collapsed one named, never scored);
    nothing when the folder holds no finetune_results.json."""
    doc = inputs.finetune
    if doc is None:
        return []
    rows = [[record.rung, "collapsed" if record.collapsed else with_interval(record.balanced_accuracy),
             f"{record.trainable_parameters:,}", f"{record.parameters_per_hour:.3g}",
             ", ".join(f"{rate:g}" for rate in record.learning_rate or []),
             ", ".join(map(str, record.epochs or [])), record.device or ""] for record in doc.results]
    table = Table(["rung", "UAR", "trainable parameters", "per hour of training audio", "learning rate per fold",
                   "epochs per fold", "device"], rows)
    return [Heading("Is fine-tuning worth it?"),
            Paragraph(f"Against the frozen probe, on its folds: {verdict(doc.results, doc.paired or [])}."), table]


def warnings(inputs: RunInputs) -> list[Block]:
    """Missing inputs, then the probe's and the baselines' warnings (never-predicted classes among
    them), less those of the chance baselines: a majority guess never predicting most classes is its
    definition, not news."""
    chance = {w for record in inputs.baseline_records if record.layer.kind == CHANCE for w in record.warnings}
    lines = [f"{name} is missing" for name in inputs.missing]
    for doc in (inputs.probe, inputs.baselines):
        # The document's own list holds the protocol's warnings and every record's.
        lines += doc.warnings if doc else []
    lines = [line for line in dict.fromkeys(lines) if line not in chance]
    return [Heading("Warnings"), Bullets(lines) if lines else Paragraph("None.")]


def timings(inputs: RunInputs) -> list[Block]:
    """Seconds each stage took, and their sum."""
    stages = inputs.run.stage_seconds if inputs.run else None
    if not stages:
        return [Heading("Stage timings"), Paragraph("Not recorded.")]
    rows = [[stage, f"{seconds:.1f}"] for stage, seconds in stages.items()]
    rows.append(["total", f"{sum(stages.values()):.1f}"])
    blocks: list[Block] = [Heading("Stage timings"), Table(["stage", "seconds"], rows)]
    if inputs.run.command:
        blocks.append(Paragraph(f"Command: {inputs.run.command}"))
    return blocks


def _fold_table(inputs: RunInputs, title: str) -> Table:
    """One row per fold: the difference, preceded by both sides' scores when their records are at hand."""
    found = inputs.comparison
    metric, differences = found.metric, found.differences
    sides = [find(inputs.layer_records, found.best_layer), find(inputs.baseline_records, found.best_baseline)]
    header = ["fold", f"{title} difference (layer - baseline)"]
    columns = [[f"{difference:+.3f}" for difference in differences]]
    if all(side and len(side.metric(metric).folds) == len(differences) for side in sides):
        header[1:1] = [side.describe() for side in sides]
        columns[:0] = [[f"{score:.3f}" for score in side.metric(metric).folds] for side in sides]
    return Table(header, [[str(k + 1), *cells] for k, cells in enumerate(zip(*columns))])


def _score_table(records: list[Record], top: Record | None, first_column: str) -> Table:
    has_p = any(record.significance for record in records)
    header = [first_column, "classifier", *(title for _, title in COLUMNS)] + (["p-value"] if has_p else [])
    rows = []
    for record in records:
        mark = " (headline)" if record is top else ""
        cells = [with_interval(record.metric(metric)) for metric, _ in COLUMNS]
        p = [f"{record.significance.p_value:.3g}" if record.significance else ""] if has_p else []
        rows.append([f"{record.layer}{mark}", record.classifier, *cells, *p])
    return Table(header, rows)


def _test_sentence(found: Comparison | None) -> str:
    if found is None:
        return "No paired test was run."
    if found.p_value is None:
        return f"No paired test ({found.note or 'no p-value was computed'})."
    metric = TITLES.get(found.metric, found.metric)
    # One fold (a train/test split) leaves no per-fold differences: the test pairs the clips instead.
    paired = "the test clips each side gets right" if found.n_folds == 1 else f"the per-fold {metric} differences"
    sentence = f"Paired test on {paired}, {found.test}: p = {found.p_value:.3g}"
    if found.wilcoxon_p_value is not None:
        sentence += f" (Wilcoxon signed-rank p = {found.wilcoxon_p_value:.3g}"
        sentence += f"; {found.wilcoxon_note})" if found.wilcoxon_note else ")"
    return sentence + "."


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _groups(run: RunFacts | None) -> str:
    if run is None:
        return "unknown"
    return f"{run.groups} (column {run.group_column})" if run.groups else "none"
