"""The JSON results contract of docs/design.md as types: what a probe or baselines document, its
records, a paired comparison and a run's facts hold, each read with `from_dict` and written with
`to_dict` to the JSON a user reads.

The document carries `"format": 3`. Files of format 2 (the per-class decision scores inline, in
base64) and of format 1 (no `format` key: main before the types, commit 2cede23) load too: the fields
added since are filled with their defaults, named in each class's docstring. A key this version does
not know is kept as read (`extra`) and written back. In memory a record's scores are numpy arrays; on
disk they live in a side file beside the JSON (layerprobe/results_file.py reads and writes the pair).
Nothing here imports numpy's users (scikit-learn), torch or h5py: the report stage reads these alone.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from numbers import Integral

import numpy as np

from layerprobe.errors import UserError

FORMAT = 3
# How the per-class decision scores are kept on disk: little-endian float32.
SCORES_DTYPE = "<f4"
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
    with decision scores, every class's and for two classes the positive class's (`score`).

    scores: in memory a float32 (clips, classes) array, rows as `index`, columns as the record's
    classes (None without decision scores, or when the document was read without its side file;
    not compared by ==). In the JSON of format 3 a reference {"dtype", "shape", "member"} to the
    member of the document's side file (`scores_file`); in format 2 the values inline,
    {"dtype", "shape", "base64"}; absent in format 1. stored: that reference, kept where the
    document was read without its side file, so that it is written back as it was read."""

    index: list[int]
    predicted: list[str]
    scores: np.ndarray | None = field(default=None, compare=False)
    score: list[float] | None = None
    stored: dict | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict, arrays: Mapping[str, np.ndarray] | None = None) -> FoldPredictions:
        """arrays: the side file's members by name (None: leave format 3 scores unread)."""
        scores = _stored_scores(d.get("scores"), len(d["index"]), arrays)
        unread = d["scores"] if scores is None and d.get("scores") is not None else None
        return cls(d["index"], d["predicted"], scores, d.get("score"), unread)

    def to_dict(self, member: str | None = None) -> dict:
        """member: the side file's member holding `scores` (None: the reference as read, if any)."""
        reference = self.stored if member is None or self.scores is None else \
            {"dtype": SCORES_DTYPE, "shape": list(self.scores.shape), "member": member}
        return _without_none({"index": self.index, "predicted": self.predicted, "scores": reference,
                              "score": self.score}, ("scores", "score"))


def _stored_scores(stored: dict | None, n_clips: int, arrays: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
    """A fold's scores from the JSON: decoded from format 2's base64, taken from the side file's
    `arrays` for format 3 (None when they are not given), None where the fold kept none."""
    if stored is None:
        return None
    shape = tuple(stored["shape"])
    if len(shape) != 2 or shape[0] != n_clips or stored["dtype"] != SCORES_DTYPE:
        raise UserError(f"stored scores of shape {list(shape)} and dtype {stored['dtype']!r} do not fit a fold of "
                        f"{n_clips} clips")
    if "base64" in stored:
        raw = base64.b64decode(stored["base64"])
        if len(raw) != 4 * shape[0] * shape[1]:
            raise UserError(f"stored scores hold {len(raw)} bytes, not the {4 * shape[0] * shape[1]} of {list(shape)}")
        return np.frombuffer(raw, SCORES_DTYPE).reshape(shape)
    if arrays is None:
        return None
    member = stored["member"]
    if member not in arrays:
        raise UserError(f"the scores file has no member {member!r}")
    found = arrays[member]
    if found.shape != shape or found.dtype != np.dtype(SCORES_DTYPE):
        raise UserError(f"the scores file's {member!r} is {found.dtype} {list(found.shape)}, not {list(shape)}")
    return found


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


@dataclass(frozen=True, kw_only=True)
class Mdl:
    """The online codelength of a record's labels given its layer (--mdl; Voita & Titov 2020): in bits,
    averaged over `orders` seeded orderings (each one's in `order_bits`), the uniform code's
    (n log2 K), their ratio `compression` (uniform over online: 1 for a layer that tells nothing),
    and the probe that coded the blocks. Added in format 3; absent before and without --mdl."""

    codelength_bits: float
    uniform_bits: float
    compression: float
    orders: int
    order_bits: list[float] = field(default_factory=list)
    probe: str = "logreg"

    @classmethod
    def from_dict(cls, d: dict) -> Mdl:
        return cls(codelength_bits=d["codelength_bits"], uniform_bits=d["uniform_bits"], compression=d["compression"],
                   orders=d["orders"], order_bits=list(d.get("order_bits", [])), probe=d.get("probe", "logreg"))

    def to_dict(self) -> dict:
        return {"codelength_bits": self.codelength_bits, "uniform_bits": self.uniform_bits,
                "compression": self.compression, "orders": self.orders, "order_bits": self.order_bits,
                "probe": self.probe}


@dataclass(frozen=True)
class CurvePoint:
    """One point of a learning curve: the record's evaluation with every outer training part subsampled
    to `fraction` (draw `repeat`, from 0), tuned and fitted on the subsample, scored on the full outer
    test parts. `n_train`: clips per fitting part (the mean over outer folds), `n_train_per_class` the same
    per class; the metrics as the record's own (Metric)."""

    fraction: float
    repeat: int
    n_train: float
    n_train_per_class: dict[str, float]
    accuracy: Metric
    balanced_accuracy: Metric
    macro_f1: Metric

    @classmethod
    def from_dict(cls, d: dict) -> CurvePoint:
        return cls(d["fraction"], d.get("repeat", 0), d["n_train"], d["n_train_per_class"],
                   **{name: Metric.from_dict(d[name]) for name in METRICS})

    def to_dict(self) -> dict:
        return {"fraction": self.fraction, "repeat": self.repeat, "n_train": self.n_train,
                "n_train_per_class": self.n_train_per_class, **{name: getattr(self, name).to_dict() for name in METRICS}}


@dataclass(frozen=True)
class Forecast:
    """The inverse power law score = a - b * n^-c fitted to a learning curve's UAR (`metric`) against
    training clips per class (two classes: the positive class's clips; `x` says which), and the gain
    expected from doubling the training data at the whole training part's `n`: `doubling_gain`, with its
    95% interval `ci` (None with `ci_note` where none exists) made as `ci_method` says. `flat`: the
    expected gain is below a hundredth of UAR."""

    metric: str
    x: str
    a: float
    b: float
    c: float
    n: float
    doubling_gain: float
    ci: list[float] | None
    ci_method: str | None
    flat: bool
    ci_note: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Forecast:
        return cls(d["metric"], d["x"], d["a"], d["b"], d["c"], d["n"], d["doubling_gain"], d["ci"],
                   d.get("ci_method"), d["flat"], d.get("ci_note"))

    def to_dict(self) -> dict:
        return _without_none({f.name: getattr(self, f.name) for f in fields(self)}, ("ci_note",))


@dataclass(frozen=True)
class LearningCurve:
    """A record's learning curve (--learning-curve): its points, one per fraction and draw, and the
    forecast fitted to them (None, with `note`, where too few sizes were measured to fit one). In a
    record's JSON: `learning_curve` (the points) and `forecast` (or `forecast_note`)."""

    points: list[CurvePoint]
    forecast: Forecast | None = None
    note: str | None = None

    @classmethod
    def from_record(cls, d: dict) -> LearningCurve | None:
        """The curve of a record's JSON, None where it has none."""
        if d.get("learning_curve") is None:
            return None
        return cls([CurvePoint.from_dict(p) for p in d["learning_curve"]],
                   Forecast.from_dict(d["forecast"]) if d.get("forecast") else None, d.get("forecast_note"))

    def sizes(self, classes: Sequence[str], positive_class: str | None = None) -> list[float]:
        """Each point's training size as the forecast reads it: clips per class (the mean over `classes`),
        or for two classes the positive class's clips (default: the second class)."""
        if len(classes) == 2:
            positive = positive_class or classes[1]
            return [point.n_train_per_class[positive] for point in self.points]
        return [point.n_train / len(classes) for point in self.points]

    def to_record(self) -> dict:
        """The record's `learning_curve`, `forecast` and `forecast_note` keys."""
        return _without_none({"learning_curve": [point.to_dict() for point in self.points],
                              "forecast": self.forecast.to_dict() if self.forecast else None,
                              "forecast_note": self.note}, ("forecast", "forecast_note"))


@dataclass(frozen=True, kw_only=True)
class Record:
    """One source x classifier over every outer fold (docs/design.md's record). Optional parts are
    None where they do not apply: the detection metrics and `detection` without decision scores,
    `recall_at_precision` without --at-precision, `C` for probes without one, `picked` for a record
    that chose nothing, `pooling` for baselines, `significance` without permutations, `layer_weights`
    but for a head over every layer (added in format 2; absent before), `learning_curve` without
    --learning-curve, `mdl` without --mdl (added in format 3; absent before). `extra` keeps the keys
    this version does not know.

    The pooled confusion matrix is `confusion_matrix` (K x K counts) up to 100 classes
    (probes/metrics.py DENSE_CONFUSION_MAX), else `confusion_cells` (format 3): its nonzero cells as
    [true, predicted, count], the other None (absent from the JSON); see `confusions`. A fine-tuning rung's record
    (finetune_results.json) also holds `rung`, `trainable_parameters`, `parameters_per_hour` (of
    training audio), the `learning_rate` and `epochs` chosen per outer fold, `device`, `collapsed`
    (True: its scores are not a result) and `wall_seconds`; None elsewhere, and absent from the JSON."""

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
    chance: dict[str, dict[str, float]]
    params: list[dict]
    predictions: list[FoldPredictions]
    confusion_matrix: list[list[int]] | None = None
    confusion_cells: list[list[int]] | None = None
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
    learning_curve: LearningCurve | None = None
    mdl: Mdl | None = None
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

    def confusions(self) -> list[tuple[int, int, int]]:
        """The pooled confusion matrix's nonzero cells, (true code, predicted code, count), row-major,
        whichever form the record keeps."""
        if self.confusion_cells is not None:
            return [(int(i), int(j), int(n)) for i, j, n in self.confusion_cells]
        return [(i, j, n) for i, row in enumerate(self.confusion_matrix or []) for j, n in enumerate(row) if n]

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
    def from_dict(cls, d: dict, arrays: Mapping[str, np.ndarray] | None = None) -> Record:
        """arrays: the side file's members, for the predictions' scores (see FoldPredictions.from_dict)."""
        known = {f.name for f in fields(cls)} | _SIGNIFICANCE_KEYS | {"forecast", "forecast_note"}
        optional = {name: kind.from_dict(d[name]) for name, kind in (
            ("roc_auc", DetectionMetric), ("average_precision", DetectionMetric),
            ("recall_at_precision", RecallAtPrecision), ("detection", DetectionNote)) if d.get(name) is not None}
        return cls(
            layer=Source.of(d["layer"]), classifier=d["classifier"], protocol=d["protocol"], selection=d["selection"],
            class_weight=d.get("class_weight", "none"), n_clips=d["n_clips"], n_tested=d.get("n_tested", d["n_clips"]),
            split_counts=d.get("split_counts", {}), classes=d["classes"],
            **{name: Metric.from_dict(d[name]) for name in METRICS},
            per_class=PerClass.from_dict(d["per_class"]), confusion_matrix=d.get("confusion_matrix"),
            confusion_cells=d.get("confusion_cells"), chance=d["chance"], params=d["params"],
            predictions=[FoldPredictions.from_dict(p, arrays) for p in d["predictions"]], **optional,
            C=d.get("C"), picked=[Pick.from_dict(p) for p in d["picked"]] if "picked" in d else None,
            never_predicted=d.get("never_predicted", []), warnings=d.get("warnings", []), pooling=d.get("pooling"),
            significance=Significance.from_dict(d),
            layer_weights=LayerWeights.from_dict(d["layer_weights"]) if d.get("layer_weights") else None,
            learning_curve=LearningCurve.from_record(d),
            mdl=Mdl.from_dict(d["mdl"]) if d.get("mdl") else None,
            **{name: d.get(name) for name in _RUNG_FIELDS},
            extra={key: d[key] for key in d if key not in known})

    def to_dict(self, members: Sequence[str | None] | None = None) -> dict:
        """members: per fold, the side file's member holding its scores (Document.score_members);
        None: the scores are not written."""
        confusion = {name: getattr(self, name) for name in ("confusion_matrix", "confusion_cells")
                     if getattr(self, name) is not None}
        out = {"layer": self.layer.to_json(), "classifier": self.classifier, "protocol": self.protocol,
               "selection": self.selection, "class_weight": self.class_weight, "n_clips": self.n_clips,
               "n_tested": self.n_tested, "split_counts": self.split_counts, "classes": self.classes,
               **{name: self.metric(name).to_dict() for name in METRICS},
               "per_class": self.per_class.to_dict(), **confusion,
               "chance": self.chance, "params": self.params,
               "predictions": [fold.to_dict(None if members is None else members[k])
                               for k, fold in enumerate(self.predictions)]}
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
        if self.learning_curve is not None:
            out.update(self.learning_curve.to_record())
        if self.mdl is not None:
            out["mdl"] = self.mdl.to_dict()
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


@dataclass(frozen=True)
class ScoresFile:
    """Where a document's per-class decision scores are (format 3): the side file's `name`, a plain
    name in the JSON's folder, and the `digest` of its arrays, which the side file holds too; a side
    file whose digest differs is another run's (see layerprobe/results_file.py)."""

    name: str
    digest: str

    @classmethod
    def from_dict(cls, d: dict) -> ScoresFile:
        return cls(d["name"], d["digest"])

    def to_dict(self) -> dict:
        return {"name": self.name, "digest": self.digest}


# The document's own fields; every other top-level key is an option the stage ran with.
_DOCUMENT_FIELDS = ("format", "cache", "model", "model_fingerprint", "protocol", "protocol_reason", "selection", "leak",
                    "n_folds", "seed", "split_counts", "fold_sizes", "n_clips", "classes", "label_source",
                    "clip_ids", "clip_labels", "warnings", "results", "comparison", "paired", "run_key",
                    "layerprobe_version", "seconds", "scores_file")


@dataclass(frozen=True)
class Document:
    """A probe or baselines results document (`probe --format json`, probe_results.json,
    baseline_results.json), and what layerprobe.probe returns: run-level facts, the options the
    stage ran with (`options`, written at the top level), every warning, and the records (`results`).

    Record `predictions[k].index` values index into `clip_ids` and `clip_labels`. `comparison`:
    baselines --compare's paired test; `paired`: finetune's, each rung against the frozen probe;
    `run_key`, `layerprobe_version`, `seconds`: what `layerprobe run` adds to reuse a stage's result
    (None: absent). `format` is 1 for a file written before it
    was written down (FORMAT since). `scores_file`: the side file holding the records' scores, set
    when the document was written with them (results_file.write_document) and kept as read; None:
    the JSON carries no scores (a document printed to stdout without --out)."""

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
    scores_file: ScoresFile | None = None
    format: int = FORMAT

    def frame(self):
        """The records as a pandas DataFrame, one row per record (see Record.row)."""
        import pandas as pd

        return pd.DataFrame([record.row() for record in self.results])

    def score_members(self) -> tuple[list[list[str | None]], dict[str, np.ndarray]]:
        """Per record and fold, the side file member its scores are written to (rRECORD_fFOLD, None
        without scores), and the members' arrays. An array that records share (a selected record's
        and its picked layer's are one) is written once, each record naming the same member."""
        named: dict[int, str] = {}
        arrays: dict[str, np.ndarray] = {}
        members = []
        for i, record in enumerate(self.results):
            row: list[str | None] = []
            for k, fold in enumerate(record.predictions):
                if fold.scores is None:
                    row.append(None)
                    continue
                member = named.setdefault(id(fold.scores), f"r{i}_f{k}")
                arrays.setdefault(member, np.ascontiguousarray(fold.scores, dtype=SCORES_DTYPE))
                row.append(member)
            members.append(row)
        return members, arrays

    @classmethod
    def from_dict(cls, d: dict, arrays: Mapping[str, np.ndarray] | None = None) -> Document:
        """Read a document of this format or an older one; a newer one is refused in one line.
        arrays: the side file's members (results_file.read_document), None: format 3 scores stay None."""
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
            warnings=d.get("warnings", []), results=[Record.from_dict(r, arrays) for r in d["results"]],
            options={key: value for key, value in d.items() if key not in _DOCUMENT_FIELDS},
            comparison=Comparison.from_dict(d["comparison"]) if d.get("comparison") else None,
            paired=[Comparison.from_dict(entry) for entry in d["paired"]] if d.get("paired") is not None else None,
            run_key=d.get("run_key"), layerprobe_version=d.get("layerprobe_version"), seconds=d.get("seconds"),
            scores_file=ScoresFile.from_dict(d["scores_file"]) if d.get("scores_file") else None, format=version)

    def to_dict(self) -> dict:
        out = {"format": self.format, "cache": self.cache, "model": self.model,
               "model_fingerprint": self.model_fingerprint, "protocol": self.protocol,
               "protocol_reason": self.protocol_reason, "selection": self.selection, "leak": self.leak,
               "n_folds": self.n_folds, "seed": self.seed, "split_counts": self.split_counts,
               "fold_sizes": self.fold_sizes, **self.options, "n_clips": self.n_clips, "classes": self.classes,
               "label_source": self.label_source, "clip_ids": self.clip_ids, "clip_labels": self.clip_labels,
               "warnings": self.warnings,
               "results": [record.to_dict(None if self.scores_file is None else members)
                           for record, members in zip(self.results, self.score_members()[0])]}
        if self.comparison is not None:
            out["comparison"] = self.comparison.to_dict()
        if self.paired is not None:
            out["paired"] = [entry.to_dict() for entry in self.paired]
        extra = {"run_key": self.run_key, "layerprobe_version": self.layerprobe_version, "seconds": self.seconds,
                 "scores_file": self.scores_file.to_dict() if self.scores_file else None}
        return {**out, **{key: value for key, value in extra.items() if value is not None}}


def listed(names: Sequence[str], shown: int = 10) -> str:
    """Names as a message or the report lists them: "a, b, c", cut to the first `shown` and a count
    of the rest (1,000 speakers never predicted are not a line a person reads)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _without_none(d: dict, optional: Sequence[str]) -> dict:
    """d less its `optional` keys whose value is None (absent from the JSON rather than null)."""
    return {key: value for key, value in d.items() if not (key in optional and value is None)}
