"""What the evaluation asks of a probe, and the plain scikit-learn way of answering it.

On one outer fold a probe scores every point of its hyperparameter grid on the selection splits
(inner CV folds, or the dataset's train/validation pair), refits the best point on the fitting rows
and predicts the test rows. It does so for a batch of label vectors at once (the observed labels,
then permutations of them), so that a solver may share work between them (one decomposition serves
every label vector of a ridge probe).

Labels are integer codes 0..n_classes-1 (the sorted class names), the same in every fold. Every fit
standardizes with the mean and std of the rows it is fitted on, as Pipeline(StandardScaler, clf)
does, so the validation and test rows never shape the scaling.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from layerprobe.options import FitOptions, ProtocolOptions
from layerprobe.probes.detection import DECISION_FUNCTION, ScoreKind
from layerprobe.probes.standardize import standardized_blocks

Split = tuple[np.ndarray, np.ndarray]
ClassWeight = dict | str | None
CLASS_WEIGHTS = ("none", "balanced", "sqrt")
SQRT_WEIGHT_CAP = 3.0
# What a probe reads: one layer's (n_clips, D) matrix, or every layer at once (a learned weighted sum).
READS = ("layer", "all-layers")
# (shape, dtype) of each array of a saved model, as its file's headers declare them before loading.
Declared = dict[str, tuple[tuple[int, ...], np.dtype]]


@dataclass(frozen=True)
class FoldTask:
    """One outer fold of one feature matrix, for a batch of label vectors.

    X: (n_clips, D) features of every ok clip (for an all-layers spec, the L layers' (n_clips, D)
    matrices: a LayerStack, a sequence or an (n_clips, L, D) array). codes: (P, n_clips) int label codes; row 0 holds the
    observed labels, further rows permutations of them. n_classes: number of classes overall.
    fit_rows: the rows of the final refit. test_rows: the rows predicted. selection: (train, validation)
    row pairs that choose the hyperparameters; never containing a test row (a selection train part
    may hold a single class, as with speaker-level labels and few speakers: a probe fitted on it
    predicts that class). class_weight: "none",
    "balanced" or "sqrt", computed from the labels of the rows each fit sees. seed: seeds every
    randomized solver. keep_model: also return the refitted model (row 0 only).
    """

    X: np.ndarray
    codes: np.ndarray
    n_classes: int
    fit_rows: np.ndarray
    test_rows: np.ndarray
    selection: tuple[Split, ...]
    class_weight: str = FitOptions.class_weight
    seed: int = ProtocolOptions.seed
    keep_model: bool = False


class Model(Protocol):
    """A fitted probe as --save-model keeps it: plain arrays in, decision scores out.

    kind: what a saved file calls this model. decision_function(X, rows): (len(rows), n_scores)
    decision scores of X[rows] (default every row); classes(scores): the class code each row of
    those scores predicts. arrays(): the model as named plain arrays (np.savez's, no pickle);
    from_arrays(arrays) builds it back. declared_problem(declared, n_classes): what makes arrays of
    these declared shapes and dtypes no such model of n_classes classes ("" when they are one),
    checked before any is loaded.
    """

    kind: ClassVar[str]

    @property
    def dims(self) -> int: ...

    def decision_function(self, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray: ...

    def classes(self, scores: np.ndarray) -> np.ndarray: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def arrays(self) -> dict[str, np.ndarray]: ...

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Model: ...

    @classmethod
    def declared_problem(cls, declared: Declared, n_classes: int) -> str: ...


def predicted_classes(scores: np.ndarray) -> np.ndarray:
    """The class code each row of decision scores predicts: one column (two classes) is the
    positive class's margin, as sklearn's; more are one score per class."""
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0).astype(np.int64)
    return scores.argmax(axis=1)


def finite_scaling(arrays: dict[str, np.ndarray]) -> str:
    """What makes a saved model's arrays unusable: NaN or infinity anywhere, or a non-positive scale."""
    numbers = [value for value in arrays.values() if np.issubdtype(value.dtype, np.floating)]
    if not all(np.isfinite(value).all() for value in numbers) or (arrays["scale"] <= 0).any():
        return "it holds NaN, infinity or a non-positive scale"
    return ""


@dataclass(frozen=True)
class LinearModel:
    """A fitted linear probe: standardize with (mean, scale), then scores = x @ coef.T + intercept.

    coef has one row per class, or a single row for two classes (positive: class code 1), as sklearn's.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    kind: ClassVar[str] = "linear"

    @property
    def dims(self) -> int:
        return self.coef.shape[1]

    def decision_function(self, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), n_scores) scores of X[rows] (default: every row), a block of rows at a time."""
        rows = np.arange(len(X)) if rows is None else rows
        scores = np.empty((len(rows), len(self.coef)))
        for part, Z in standardized_blocks(X, rows, self.mean, self.scale):
            scores[part] = Z @ self.coef.T
        return scores + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted class code of each row."""
        return self.classes(self.decision_function(X))

    def classes(self, scores: np.ndarray) -> np.ndarray:
        """The class code each row of decision_function's scores predicts."""
        return predicted_classes(scores)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LinearModel:
        return cls(arrays["mean"], arrays["scale"], arrays["coef"], arrays["intercept"])

    @classmethod
    def declared_problem(cls, declared: Declared, n_classes: int) -> str:
        names = ("mean", "scale", "coef", "intercept")
        missing = [name for name in names if name not in declared]
        if missing:
            return f"{missing[0]} is not a file in the archive"
        coef = declared["coef"][0]
        if len(coef) != 2 or not all(np.issubdtype(declared[name][1], np.floating) for name in names):
            return "coef is not a (classes, dims) array of numbers"
        n_scores, dims = coef
        for name, shape in {"mean": (dims,), "scale": (dims,), "intercept": (n_scores,)}.items():
            if declared[name][0] != shape:
                return f"{name} has shape {declared[name][0]}, coef {coef} needs {shape}"
        if n_classes != max(n_scores, 2):
            return f"classes has shape ({n_classes},), coef {coef} needs ({max(n_scores, 2)},)"
        if n_scores == 2:
            return "two score rows: a binary probe has one"
        return ""


@dataclass(frozen=True)
class FoldOutcome:
    """What one label vector yields on one outer fold.

    scores: (n_grid,) mean selection score (UAR) of each grid point over the selection splits.
    chosen: index of the grid point refitted, the first maximum of `scores`. predicted: (n_test,)
    class codes of the test rows. model: the refitted model when task.keep_model (else None).
    decision: the test rows' decision scores for the observed labels (row 0 of task.codes), None
    for the permutations (it would cost P times the memory): (n_test, n_classes), or (n_test,) the
    second class's score for two classes, as scikit-learn's decision_function gives them.
    unconverged: for the observed labels, one line per fit whose solver stopped short of its
    tolerance ("C=100 (refit): ..."), empty when every fit converged. layer_weights: a head over
    every layer's refit softmax weights (L,), None for a probe that reads one layer.
    """

    scores: np.ndarray
    chosen: int
    predicted: np.ndarray
    model: Model | None = None
    decision: np.ndarray | None = None
    unconverged: tuple[str, ...] = ()
    layer_weights: np.ndarray | None = None


@dataclass(frozen=True)
class ProbeSpec:
    """A probe as the evaluation sees it.

    name: what records call it ("logreg"). grid: the hyperparameter points, e.g. ({"C": 0.01}, ...),
    in the order ties are broken (the first maximum wins). run(task): one FoldOutcome per row of
    task.codes. score_kind: what its decision scores are, so that the detection metrics rank clips by
    a one-vs-rest score (softmax probabilities of logits). batch: how many label vectors one task
    should carry (a solver that shares work across them wants many; a plain one, one per task, so
    that workers share the load). reads: "layer" (task.X is one layer's matrix: the sweep runs it
    per layer) or "all-layers" (a head that reads every layer at once). model: the type of its
    fitted model (FoldOutcome.model), which saves it as plain arrays and loads it back. reference:
    the scikit-learn spec its fast solver is tested against, run by --solver reference (None: this
    spec is scikit-learn's own).
    """

    name: str
    grid: tuple[dict[str, float], ...]
    run: Callable[[FoldTask], list[FoldOutcome]]
    score_kind: ScoreKind
    batch: int = 1
    reads: str = "layer"
    model: type[Model] = LinearModel
    reference: ProbeSpec | None = None

    def __post_init__(self) -> None:
        if self.reads not in READS:
            raise ValueError(f"{self.name} reads {self.reads!r}; a probe reads one of {', '.join(READS)}")


def selection_score(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Unweighted average recall over the classes present in `truth` (sklearn's balanced_accuracy_score,
    without its warnings): hyperparameters chosen by it do not trade a rare class away for accuracy."""
    present, inverse = np.unique(truth, return_inverse=True)
    hits = np.bincount(inverse, weights=(truth == predicted), minlength=len(present))
    return float(np.mean(hits / np.bincount(inverse, minlength=len(present))))


def class_weights(mode: str, labels: np.ndarray) -> ClassWeight:
    """The class_weight of one fit from the labels it sees.

    mode: "none" (every clip counts once), "balanced" (sklearn's n / (k * count_c)), or "sqrt":
    weight_c = min(sqrt(max_count / count_c), 3), which lifts rare classes without letting a
    handful of clips dominate.
    """
    if mode == "none":
        return None
    if mode == "balanced":
        return "balanced"
    if mode == "sqrt":
        classes, counts = np.unique(labels, return_counts=True)
        weights = np.minimum(np.sqrt(counts.max() / counts), SQRT_WEIGHT_CAP)
        return {c: float(w) for c, w in zip(classes.tolist(), weights)}
    raise ValueError(f"unknown class weighting {mode!r}; choose from {', '.join(CLASS_WEIGHTS)}")


def sklearn_spec(name: str, pipeline: Callable[[ClassWeight, int], Pipeline], grid: Sequence[dict],
                 step: str = "clf", *, score_kind: ScoreKind = DECISION_FUNCTION,
                 fitted: Callable[[Pipeline], Model] | None = None, model: type[Model] = LinearModel) -> ProbeSpec:
    """A spec fitted with scikit-learn, one fit per (selection split, grid point), as GridSearchCV does.

    pipeline(class_weight, seed): an unfitted Pipeline whose last step, named `step`, takes the
    grid's keys as parameters. score_kind: what the classifier's decision_function gives (default: taken
    as one-vs-rest scores; a multinomial LogisticRegression's are logits). fitted(pipeline): the
    Model of a fitted pipeline, whose decision_function then gives the decision scores (default
    None: the model is linear_model's, the scores the pipeline's own). model: fitted's type (default
    LinearModel). This is the reference the fast solvers are tested against, and the engine of
    baselines such as the RBF SVM.

    A fit that warns ConvergenceWarning is named in its outcome's `unconverged` (the warning does not
    reach the terminal on its own: the record's warnings say it once).
    """
    grid = tuple(dict(point) for point in grid)
    model_of = fitted or linear_model

    def fit(task: FoldTask, codes: np.ndarray, rows: np.ndarray, point: dict, notes: list[str], where: str) -> Pipeline:
        estimator = clone(pipeline(class_weights(task.class_weight, codes[rows]), task.seed))
        estimator.set_params(**{f"{step}__{key}": value for key, value in point.items()})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(task.X[rows], codes[rows])
        for warning in caught:
            if issubclass(warning.category, ConvergenceWarning):
                notes.append(f"{_point_name(point)} ({where}): {str(warning.message).splitlines()[0].rstrip(':')}")
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return estimator

    def validation_score(task: FoldTask, codes: np.ndarray, train: np.ndarray, validation: np.ndarray,
                         point: dict, notes: list[str]) -> float:
        present = np.unique(codes[train])
        if len(present) == 1:
            return selection_score(codes[validation], np.full(len(validation), present[0]))
        fitted_here = fit(task, codes, train, point, notes, "selection fit")
        return selection_score(codes[validation], fitted_here.predict(task.X[validation]))

    def run(task: FoldTask) -> list[FoldOutcome]:
        outcomes = []
        for codes in task.codes:
            notes: list[str] = []
            scores = np.zeros(len(grid))
            if len(grid) > 1:
                scores = np.array([np.mean([validation_score(task, codes, train, validation, point, notes)
                                            for train, validation in task.selection]) for point in grid])
            chosen = int(np.argmax(scores))
            final = fit(task, codes, task.fit_rows, grid[chosen], notes, "refit")
            tested = len(task.test_rows) > 0
            predicted = final.predict(task.X[task.test_rows]) if tested else np.zeros(0, np.int64)
            first = not outcomes
            kept = model_of(final) if first and (task.keep_model or (fitted and tested)) else None
            decision = None
            if first and tested:
                decision = kept.decision_function(task.X, task.test_rows) if fitted else decision_scores(
                    final, task.X[task.test_rows])
            outcomes.append(FoldOutcome(scores, chosen, np.asarray(predicted, dtype=np.int64),
                                        kept if task.keep_model else None, decision,
                                        tuple(dict.fromkeys(notes)) if first else ()))
        return outcomes

    return ProbeSpec(name, grid, run, score_kind, model=model)


def _point_name(point: dict) -> str:
    """"C=100", "alpha=0.1": a grid point as the warnings name it."""
    return ", ".join(f"{key}={value:g}" for key, value in point.items()) or "the fit"


def decision_scores(pipeline: Pipeline, X: np.ndarray) -> np.ndarray | None:
    """The fitted pipeline's decision_function on X; its predict_proba for a classifier without one
    (the chance baselines' DummyClassifier); None for a classifier with neither."""
    for method in ("decision_function", "predict_proba"):
        if hasattr(pipeline, method):
            return getattr(pipeline, method)(X)
    return None


def linear_model(pipeline: Pipeline) -> LinearModel:
    """The LinearModel of a fitted Pipeline(StandardScaler, linear classifier)."""
    scaler, clf = pipeline[0], pipeline[-1]
    return LinearModel(scaler.mean_, scaler.scale_, np.atleast_2d(clf.coef_), np.atleast_1d(clf.intercept_))
