"""The JSON results contract of docs/design.md as types: what a probe or baselines document, its
records, a paired comparison and a run's facts hold, each read with `from_dict` and written with
`to_dict` to the JSON a user reads.

The document carries `"format": 2`. Files of format 1 (no `format` key: main before the types,
commit 2cede23) load too: the fields added since are filled with their defaults, named in each
class's docstring. A key this version does not know is kept as read (`extra`) and written back.
Nothing here imports numpy's users (scikit-learn), torch or h5py: the report stage reads these alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from numbers import Integral

from layerprobe.errors import UserError

FORMAT = 2
# The metrics every record holds, in the order tables show them.
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
DETECTION_METRICS = ("roc_auc", "average_precision")

# What a record's `layer` is: one layer's rows, a hand-made feature, the source chosen inside each
# training part, the chance baselines' (no features), or a head that reads every layer at once.
LAYER, FEATURE, SELECTED, CHANCE, ALL_LAYERS = "layer", "feature", "selected", "chance", "all-layers"
# How the kinds without an index or name are spelled in the JSON `layer` field.
_SPELLED = {SELECTED: "selected", CHANCE: "chance", ALL_LAYERS: "all"}


@dataclass(frozen=True)
class Source:
    """What a record's probe read. kind: LAYER (with `index`, the hidden_states index), FEATURE (with
    `name`, e.g. "mfcc"), SELECTED, CHANCE or ALL_LAYERS. In JSON: 7, "mfcc", "selected", "chance", "all"."""

    kind: str
    index: int | None = None
    name: str | None = None

    @classmethod
    def of(cls, value: int | str) -> Source:
        """The source a JSON `layer` value (or a study's source name) stands for."""
        if isinstance(value, Integral) and not isinstance(value, bool):
            return cls(LAYER, index=int(value))
        spelled = {text: kind for kind, text in _SPELLED.items()}
        if value in spelled:
            return cls(spelled[value])
        if not isinstance(value, str):
            raise UserError(f"a record's layer must be a layer index or a name, got {value!r}")
        return cls(FEATURE, name=value)

    def to_json(self) -> int | str:
        if self.kind == LAYER:
            return self.index
        return self.name if self.kind == FEATURE else _SPELLED[self.kind]

    def __str__(self) -> str:
        return str(self.to_json())

    def describe(self, classifier: str | None = None, picked: Sequence[Pick] = ()) -> str:
        """How messages, tables, the report and its figures name a source, with its classifier when
        given: "layer 7 logreg", "mfcc svm-rbf", "chance majority", "all layers weighted-sum",
        "selected layer (logreg)", "selected feature and classifier". A selected source chose among
        hand-made features when its picks all name features, else among layers."""
        if self.kind == SELECTED:
            among = "feature" if picked and all(pick.layer.kind == FEATURE for pick in picked) else "layer"
            if classifier is None:
                return f"selected {among}"
            return f"selected {among} and classifier" if classifier == SELECTED else f"selected {among} ({classifier})"
        name = {LAYER: f"layer {self.index}", FEATURE: self.name, ALL_LAYERS: "all layers"}.get(self.kind, self.kind)
        return name if classifier is None else f"{name} {classifier}"


@dataclass(frozen=True)
class Pick:
    """What a selected record took in one outer fold: the source, the classifier and its
    hyperparameters (`params`, written beside them: {"layer": 7, "classifier": "ridge", "alpha": 10.0})."""

    layer: Source
    classifier: str
    params: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> Pick:
        params = {key: value for key, value in d.items() if key not in ("layer", "classifier")}
        return cls(Source.of(d["layer"]), d["classifier"], params)

    def to_dict(self) -> dict:
        return {"layer": self.layer.to_json(), "classifier": self.classifier, **self.params}


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A metric's summary: `value` on the pooled out-of-fold predictions, its 95% interval `ci` (None
    where no honest one exists, `ci_note` then says why), how it was made (`ci_method`), the per-fold
    values and their standard deviation (None for one fold)."""

    value: float | None
    ci: list[float] | None
    ci_method: str | None
    folds: list[float | None]
    std: float | None
    ci_note: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Metric:
        return cls(value=d["value"], ci=d["ci"], ci_method=d.get("ci_method"), folds=d["folds"], std=d.get("std"),
                   ci_note=d.get("ci_note"))

    def to_dict(self) -> dict:
        note = {} if self.ci_note is None else {"ci_note": self.ci_note}
        return {"value": self.value, "ci": self.ci, "ci_method": self.ci_method, **note, "folds": self.folds,
                "std": self.std}


@dataclass(frozen=True, kw_only=True)
class DetectionMetric(Metric):
    """A metric of the decision scores (ROC-AUC, average precision): a Metric plus `fold_mean`, the
    mean of the folds that define it (pooled scores of models whose scales differ can rank worse than
    each fold's own). Added in format 2; a format 1 file gets the mean of its defined folds."""

    fold_mean: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> DetectionMetric:
        return cls(**_metric_fields(d))

    def to_dict(self) -> dict:
        out = {"value": self.value, "ci": self.ci, "ci_method": self.ci_method, "folds": self.folds,
               "fold_mean": self.fold_mean, "std": self.std}
        return out if self.ci_note is None else {**out, "ci_note": self.ci_note}


@dataclass(frozen=True, kw_only=True)
class RecallAtPrecision(DetectionMetric):
    """Two classes: the positive class's highest recall among the thresholds whose precision reaches
    `precision`, and the lowest such threshold (None where none does)."""

    precision: float
    threshold: float | None

    @classmethod
    def from_dict(cls, d: dict) -> RecallAtPrecision:
        return cls(**_metric_fields(d), precision=d["precision"], threshold=d["threshold"])

    def to_dict(self) -> dict:
        return {**super().to_dict(), "precision": self.precision, "threshold": self.threshold}


def _metric_fields(d: dict) -> dict:
    defined = [value for value in d["folds"] if value is not None]
    fold_mean = d["fold_mean"] if "fold_mean" in d else (sum(defined) / len(defined) if defined else None)
    return {**Metric.from_dict(d).__dict__, "fold_mean": fold_mean}


@dataclass(frozen=True)
class PerClass:
    """Per class, in the order of the record's classes: precision, recall, F1 and support from the
    pooled confusion matrix; one-vs-rest ROC-AUC and average precision where the record has decision
    scores (None for a class where undefined)."""

    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    roc_auc: list[float | None] | None = None
    average_precision: list[float | None] | None = None

    @classmethod
    def from_dict(cls, d: dict) -> PerClass:
        return cls(d["precision"], d["recall"], d["f1"], d["support"], d.get("roc_auc"), d.get("average_precision"))

    def to_dict(self) -> dict:
        return _without_none({"precision": self.precision, "recall": self.recall, "f1": self.f1,
                              "support": self.support, "roc_auc": self.roc_auc,
                              "average_precision": self.average_precision}, ("roc_auc", "average_precision"))


@dataclass(frozen=True)
class FoldPredictions:
    """One outer fold's test clips (`index` into the document's clip_ids) and their predicted labels;
    with decision scores, every class's (`scores`: {"dtype", "shape", "base64"}, added in format 2,
    None before) and for two classes the positive class's (`score`)."""

    index: list[int]
    predicted: list[str]
    scores: dict | None = None
    score: list[float] | None = None

    @classmethod
    def from_dict(cls, d: dict) -> FoldPredictions:
        return cls(d["index"], d["predicted"], d.get("scores"), d.get("score"))

    def to_dict(self) -> dict:
        return _without_none({"index": self.index, "predicted": self.predicted, "scores": self.scores,
                              "score": self.score}, ("scores", "score"))


@dataclass(frozen=True)
class DetectionNote:
    """Which score ranked the clips for the detection metrics: the positive class (two classes, else
    None), how classes are averaged, what the scores are; `pooled` and `stored` (how values are pooled,
    where the scores are kept) were added in format 2 (None before)."""

    positive_class: str | None
    average: str
    scores: str
    pooled: str | None = None
    stored: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> DetectionNote:
        return cls(d["positive_class"], d["average"], d["scores"], d.get("pooled"), d.get("stored"))

    def to_dict(self) -> dict:
        return _without_none({"positive_class": self.positive_class, "average": self.average, "scores": self.scores,
                              "pooled": self.pooled, "stored": self.stored}, ("pooled", "stored"))


@dataclass(frozen=True)
class Significance:
    """A permutation test of a record, written flat into it: the scheme (`permutation`), how many,
    the p-value, the family-wise one over every record of the run, the null's mean, and (format 2,
    None before) which folds it ran on (`permutation_folds`) and the observed UAR on them
    (`permutation_observed`)."""

    permutation: str
    permutations: int
    p_value: float
    p_value_fwer: float
    null_mean: float
    permutation_folds: str | None = None
    permutation_observed: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Significance | None:
        if "p_value" not in d:
            return None
        return cls(d["permutation"], d["permutations"], d["p_value"], d["p_value_fwer"], d["null_mean"],
                   d.get("permutation_folds"), d.get("permutation_observed"))

    def to_dict(self) -> dict:
        return _without_none({"permutation": self.permutation, "permutations": self.permutations,
                              "permutation_folds": self.permutation_folds,
                              "permutation_observed": self.permutation_observed, "p_value": self.p_value,
                              "p_value_fwer": self.p_value_fwer, "null_mean": self.null_mean},
                             ("permutation_folds", "permutation_observed"))


_SIGNIFICANCE_KEYS = {f.name for f in fields(Significance)}
# A fine-tuning rung's own fields of a Record, in the order the JSON lists them.
_RUNG_FIELDS = ("rung", "trainable_parameters", "parameters_per_hour", "learning_rate", "epochs", "device", "collapsed",
                "wall_seconds")


@dataclass(frozen=True)
class LayerWeights:
    """A head over every layer's learned softmax weights (--classifier weighted-sum): `layers`, the
    hidden_states indices it mixed, and per outer fold one weight per layer, in that order, summing to 1
    (`folds`). In JSON: {"layers": [0, 1, ...], "folds": [[w0, w1, ...], ...]}."""

    layers: list[int]
    folds: list[list[float]]

    @classmethod
    def from_dict(cls, d: dict) -> LayerWeights:
        return cls(list(d["layers"]), [list(weights) for weights in d["folds"]])

    def to_dict(self) -> dict:
        return {"layers": self.layers, "folds": self.folds}

    def mean(self) -> list[float]:
        """Each layer's weight averaged over the folds."""
        return [sum(column) / len(column) for column in zip(*self.folds)]


@dataclass(frozen=True)
class Record:
    """One source x classifier over every outer fold (docs/design.md's record). Optional parts are
    None where they do not apply: the detection metrics and `detection` without decision scores,
    `recall_at_precision` without --at-precision, `C` for probes without one, `picked` for a record
    that chose nothing, `pooling` for baselines, `significance` without permutations, `layer_weights`
    but for a head over every layer (added in format 2; absent before). A fine-tuning rung's record
    (finetune_results.json) also holds `rung`, `trainable_parameters`, `parameters_per_hour` (of
    training audio), the `learning_rate` and `epochs` chosen per outer fold, `device`, `collapsed`
    (True: its scores are not a result) and `wall_seconds`; None elsewhere, and absent from the JSON.
    `extra` keeps the keys this version does not know."""

    layer: Source
    classifier: str
    protocol: str
    selection: str
    class_weight: str
    n_clips: int
    n_tested: int
    split_counts: dict[str, int]
    classes: list[str]
    accuracy: Metric
    balanced_accuracy: Metric
    macro_f1: Metric
    per_class: PerClass
    confusion_matrix: list[list[int]]
    chance: dict[str, dict[str, float]]
    params: list[dict]
    predictions: list[FoldPredictions]
    roc_auc: DetectionMetric | None = None
    average_precision: DetectionMetric | None = None
    recall_at_precision: RecallAtPrecision | None = None
    detection: DetectionNote | None = None
    C: list | None = None
    picked: list[Pick] | None = None
    never_predicted: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pooling: str | None = None
    significance: Significance | None = None
    layer_weights: LayerWeights | None = None
    rung: str | None = None
    trainable_parameters: int | None = None
    parameters_per_hour: float | None = None
    learning_rate: list[float] | None = None
    epochs: list[int] | None = None
    device: str | None = None
    collapsed: bool | None = None
    wall_seconds: float | None = None
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        """"layer 7 logreg", "selected layer (ridge)", ...: see Source.describe."""
        return self.layer.describe(self.classifier, self.picked or ())

    def metric(self, name: str) -> Metric | None:
        """The summary of one of METRICS or DETECTION_METRICS (None where the record has none)."""
        if name not in METRICS + DETECTION_METRICS + ("recall_at_precision",):
            raise KeyError(name)
        return getattr(self, name)

    def row(self) -> dict:
        """The record as a table row: layer, classifier, protocol, selection, n_clips, each metric
        with its interval (NaN where it has none), p-values if any."""
        row = {"layer": self.layer.to_json(), "classifier": self.classifier, "protocol": self.protocol,
               "selection": self.selection, "n_clips": self.n_clips}
        for name in METRICS:
            summary = self.metric(name)
            row[name] = summary.value
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = summary.ci or (float("nan"), float("nan"))
        if self.significance is not None:
            row["p_value"], row["p_value_fwer"] = self.significance.p_value, self.significance.p_value_fwer
        return row

    @classmethod
    def from_dict(cls, d: dict) -> Record:
        known = {f.name for f in fields(cls)} | _SIGNIFICANCE_KEYS
        optional = {name: kind.from_dict(d[name]) for name, kind in (
            ("roc_auc", DetectionMetric), ("average_precision", DetectionMetric),
            ("recall_at_precision", RecallAtPrecision), ("detection", DetectionNote)) if d.get(name) is not None}
        return cls(
            layer=Source.of(d["layer"]), classifier=d["classifier"], protocol=d["protocol"], selection=d["selection"],
            class_weight=d.get("class_weight", "none"), n_clips=d["n_clips"], n_tested=d.get("n_tested", d["n_clips"]),
            split_counts=d.get("split_counts", {}), classes=d["classes"],
            **{name: Metric.from_dict(d[name]) for name in METRICS},
            per_class=PerClass.from_dict(d["per_class"]), confusion_matrix=d["confusion_matrix"], chance=d["chance"],
            params=d["params"], predictions=[FoldPredictions.from_dict(p) for p in d["predictions"]], **optional,
            C=d.get("C"), picked=[Pick.from_dict(p) for p in d["picked"]] if "picked" in d else None,
            never_predicted=d.get("never_predicted", []), warnings=d.get("warnings", []), pooling=d.get("pooling"),
            significance=Significance.from_dict(d),
            layer_weights=LayerWeights.from_dict(d["layer_weights"]) if d.get("layer_weights") else None,
            **{name: d.get(name) for name in _RUNG_FIELDS},
            extra={key: d[key] for key in d if key not in known})

    def to_dict(self) -> dict:
        out = {"layer": self.layer.to_json(), "classifier": self.classifier, "protocol": self.protocol,
               "selection": self.selection, "class_weight": self.class_weight, "n_clips": self.n_clips,
               "n_tested": self.n_tested, "split_counts": self.split_counts, "classes": self.classes,
               **{name: self.metric(name).to_dict() for name in METRICS},
               "per_class": self.per_class.to_dict(), "confusion_matrix": self.confusion_matrix,
               "chance": self.chance, "params": self.params,
               "predictions": [fold.to_dict() for fold in self.predictions]}
        for name in (*DETECTION_METRICS, "recall_at_precision", "detection"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).to_dict()
        if self.C is not None:
            out["C"] = self.C
        if self.picked is not None:
            out["picked"] = [pick.to_dict() for pick in self.picked]
        out["never_predicted"] = self.never_predicted
        out["warnings"] = self.warnings
        if self.significance is not None:
            out.update(self.significance.to_dict())
        if self.pooling is not None:
            out["pooling"] = self.pooling
        if self.layer_weights is not None:
            out["layer_weights"] = self.layer_weights.to_dict()
        out.update({name: getattr(self, name) for name in _RUNG_FIELDS if getattr(self, name) is not None})
        return {**out, **self.extra}


@dataclass(frozen=True)
class Side:
    """One side of a paired comparison: the record's source and classifier, its value and interval
    (None with the record's `ci_note`), and what it picked in each fold."""

    layer: Source
    classifier: str
    value: float | None
    ci: list[float] | None
    ci_note: str | None = None
    picked: list[Pick] = field(default_factory=list)

    def describe(self) -> str:
        return self.layer.describe(self.classifier, self.picked)

    @classmethod
    def from_dict(cls, d: dict) -> Side:
        return cls(Source.of(d["layer"]), d["classifier"], d["value"], d["ci"], d.get("ci_note"),
                   [Pick.from_dict(p) for p in d.get("picked", [])])

    def to_dict(self) -> dict:
        out = {"layer": self.layer.to_json(), "classifier": self.classifier, "value": self.value, "ci": self.ci}
        if self.ci_note is not None:
            out["ci_note"] = self.ci_note
        return {**out, "picked": [pick.to_dict() for pick in self.picked]}


@dataclass(frozen=True)
class Comparison:
    """The paired test of the selected layer against the selected baseline (comparison.json):
    per-fold differences (layer minus baseline), their mean, the pooled values' difference, the test,
    its statistic and p-value (None, with `note`, where no test is possible), the Wilcoxon p-value
    (with `wilcoxon_note` where the folds are too few for it), and for a single split McNemar's
    `discordant` counts. A fine-tuning document's `paired` entries pair a rung (`best_layer`) with the
    frozen probe's selected record (`best_baseline`), and add `difference_ci` (the corrected t interval
    of `value_difference`) and `p_value_fwer` (Holm over the ladder's rungs); None elsewhere, absent."""

    metric: str
    best_layer: Side
    best_baseline: Side
    differences: list[float]
    mean_difference: float
    value_difference: float
    n_folds: int
    test: str
    statistic: float | int | None
    p_value: float | None
    wilcoxon_p_value: float | None = None
    wilcoxon_note: str | None = None
    note: str | None = None
    discordant: dict[str, int] | None = None
    difference_ci: list[float] | None = None
    p_value_fwer: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Comparison:
        return cls(d["metric"], Side.from_dict(d["best_layer"]), Side.from_dict(d["best_baseline"]), d["differences"],
                   d["mean_difference"], d["value_difference"], d.get("n_folds", len(d["differences"])), d["test"],
                   d["statistic"], d["p_value"], d.get("wilcoxon_p_value"), d.get("wilcoxon_note"), d.get("note"),
                   d.get("discordant"), d.get("difference_ci"), d.get("p_value_fwer"))

    def to_dict(self) -> dict:
        out = {"metric": self.metric, "best_layer": self.best_layer.to_dict(),
               "best_baseline": self.best_baseline.to_dict(), "differences": self.differences,
               "mean_difference": self.mean_difference, "value_difference": self.value_difference,
               "n_folds": self.n_folds, "wilcoxon_p_value": self.wilcoxon_p_value,
               "wilcoxon_note": self.wilcoxon_note, "test": self.test, "statistic": self.statistic,
               "p_value": self.p_value, "note": self.note, "discordant": self.discordant,
               "difference_ci": self.difference_ci, "p_value_fwer": self.p_value_fwer}
        return _without_none(out, ("wilcoxon_note", "note", "discordant", "difference_ci", "p_value_fwer"))


@dataclass(frozen=True)
class RunFacts:
    """run.json: where the clips came from, how many were ok and failed, the probed label's class
    counts, the groups, the protocol, the encoder and its layers, each stage's seconds; `command` and
    `random_init_note` where known (None: absent)."""

    data: str | None
    n_clips: int
    n_failed: int
    classes: dict[str, int]
    groups: int
    group_column: str | None
    protocol: str | None
    model: str
    model_revision: str
    layers: list[int]
    stage_seconds: dict[str, float]
    command: str | None = None
    random_init_note: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> RunFacts:
        return cls(d.get("data"), d.get("n_clips", 0), d.get("n_failed", 0), d.get("classes", {}), d.get("groups", 0),
                   d.get("group_column"), d.get("protocol"), d.get("model", ""), d.get("model_revision", ""),
                   d.get("layers", []), d.get("stage_seconds", {}), d.get("command"), d.get("random_init_note"))

    def to_dict(self) -> dict:
        return _without_none({f.name: getattr(self, f.name) for f in fields(self)}, ("command", "random_init_note"))


# The document's own fields; every other top-level key is an option the stage ran with.
_DOCUMENT_FIELDS = ("format", "cache", "model", "model_fingerprint", "protocol", "protocol_reason", "selection", "leak",
                    "n_folds", "seed", "split_counts", "fold_sizes", "n_clips", "classes", "label_source",
                    "clip_ids", "clip_labels", "warnings", "results", "comparison", "paired", "run_key",
                    "layerprobe_version", "seconds")


@dataclass(frozen=True)
class Document:
    """A probe or baselines results document (`probe --format json`, probe_results.json,
    baseline_results.json), and what layerprobe.probe returns: run-level facts, the options the
    stage ran with (`options`, written at the top level), every warning, and the records (`results`).

    Record `predictions[k].index` values index into `clip_ids` and `clip_labels`. `comparison`:
    baselines --compare's paired test; `paired`: finetune's, each rung against the frozen probe; `run_key`, `layerprobe_version`, `seconds`: what `layerprobe
    run` adds to reuse a stage's result (None: absent). `format` is 1 for a file written before it
    was written down (FORMAT since)."""

    cache: str
    model: str
    model_fingerprint: str
    protocol: str
    protocol_reason: str
    selection: str
    leak: str | None
    n_folds: int
    seed: int
    split_counts: dict[str, int]
    fold_sizes: list[dict[str, int]]
    n_clips: int
    classes: list[str]
    label_source: dict | None
    clip_ids: list[str]
    clip_labels: list[str] | None
    warnings: list[str]
    results: list[Record]
    options: dict = field(default_factory=dict)
    comparison: Comparison | None = None
    paired: list[Comparison] | None = None
    run_key: str | None = None
    layerprobe_version: str | None = None
    seconds: float | None = None
    format: int = FORMAT

    def frame(self):
        """The records as a pandas DataFrame, one row per record (see Record.row)."""
        import pandas as pd

        return pd.DataFrame([record.row() for record in self.results])

    @classmethod
    def from_dict(cls, d: dict) -> Document:
        """Read a document of this format or an older one; a newer one is refused in one line."""
        version = d.get("format", 1)
        if not isinstance(version, int) or version > FORMAT:
            raise UserError(f"a results document of format {version!r}; this version reads formats 1 to {FORMAT}: "
                            "upgrade layerprobe")
        return cls(
            cache=d["cache"], model=d.get("model", ""), model_fingerprint=d.get("model_fingerprint", ""),
            protocol=d["protocol"], protocol_reason=d.get("protocol_reason", ""), selection=d["selection"],
            leak=d.get("leak"), n_folds=d["n_folds"], seed=d["seed"], split_counts=d.get("split_counts", {}),
            fold_sizes=d.get("fold_sizes", []), n_clips=d["n_clips"], classes=d["classes"],
            label_source=d.get("label_source"), clip_ids=d["clip_ids"], clip_labels=d.get("clip_labels"),
            warnings=d.get("warnings", []), results=[Record.from_dict(r) for r in d["results"]],
            options={key: value for key, value in d.items() if key not in _DOCUMENT_FIELDS},
            comparison=Comparison.from_dict(d["comparison"]) if d.get("comparison") else None,
            paired=[Comparison.from_dict(entry) for entry in d["paired"]] if d.get("paired") is not None else None,
            run_key=d.get("run_key"), layerprobe_version=d.get("layerprobe_version"), seconds=d.get("seconds"),
            format=version)

    def to_dict(self) -> dict:
        out = {"format": self.format, "cache": self.cache, "model": self.model,
               "model_fingerprint": self.model_fingerprint, "protocol": self.protocol,
               "protocol_reason": self.protocol_reason, "selection": self.selection, "leak": self.leak,
               "n_folds": self.n_folds, "seed": self.seed, "split_counts": self.split_counts,
               "fold_sizes": self.fold_sizes, **self.options, "n_clips": self.n_clips, "classes": self.classes,
               "label_source": self.label_source, "clip_ids": self.clip_ids, "clip_labels": self.clip_labels,
               "warnings": self.warnings, "results": [record.to_dict() for record in self.results]}
        if self.comparison is not None:
            out["comparison"] = self.comparison.to_dict()
        if self.paired is not None:
            out["paired"] = [entry.to_dict() for entry in self.paired]
        extra = {"run_key": self.run_key, "layerprobe_version": self.layerprobe_version, "seconds": self.seconds}
        return {**out, **{key: value for key, value in extra.items() if value is not None}}


def _without_none(d: dict, optional: Sequence[str]) -> dict:
    """d less its `optional` keys whose value is None (absent from the JSON rather than null)."""
    return {key: value for key, value in d.items() if not (key in optional and value is None)}
