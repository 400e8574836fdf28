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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from layerprobe.options import FitOptions, ProtocolOptions
from layerprobe.probes.detection import DECISION_FUNCTION, ScoreKind
from layerprobe.probes.standardize import standardized_blocks

Split = tuple[np.ndarray, np.ndarray]
ClassWeight = dict | str | None
CLASS_WEIGHTS = ("none", "balanced", "sqrt")
SQRT_WEIGHT_CAP = 3.0


@dataclass(frozen=True)
class FoldTask:
    """One outer fold of one feature matrix, for a batch of label vectors.

    X: (n_clips, D) features of every ok clip. codes: (P, n_clips) int label codes; row 0 holds the
    observed labels, further rows permutations of them. n_classes: number of classes overall.
    fit_rows: the rows of the final refit. test_rows: the rows predicted. selection: (train, validation)
    row pairs that choose the hyperparameters; never containing a test row (a selection train part
    may hold a single class, as with speaker-level labels and few speakers: a probe fitted on it
    predicts that class). class_weight: "none",
    "balanced" or "sqrt", computed from the labels of the rows each fit sees. seed: seeds every
    randomized solver. keep_model: also return the refitted linear model (row 0 only).
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


@dataclass(frozen=True)
class LinearModel:
    """A fitted linear probe: standardize with (mean, scale), then scores = x @ coef.T + intercept.

    coef has one row per class, or a single row for two classes (positive: class code 1), as sklearn's.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

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
        if self.coef.shape[0] == 1:
            return (scores[:, 0] > 0).astype(np.int64)
        return scores.argmax(axis=1)


@dataclass(frozen=True)
class FoldOutcome:
    """What one label vector yields on one outer fold.

    scores: (n_grid,) mean selection score (UAR) of each grid point over the selection splits.
    chosen: index of the grid point refitted, the first maximum of `scores`. predicted: (n_test,)
    class codes of the test rows. model: the refitted model when task.keep_model (else None).
    decision: the test rows' decision scores for the observed labels (row 0 of task.codes), None
    for the permutations (it would cost P times the memory): (n_test, n_classes), or (n_test,) the
    second class's score for two classes, as scikit-learn's decision_function gives them.
    """

    scores: np.ndarray
    chosen: int
    predicted: np.ndarray
    model: LinearModel | None = None
    decision: np.ndarray | None = None


@dataclass(frozen=True)
class ProbeSpec:
    """A probe as the evaluation sees it.

    name: what records call it ("logreg"). grid: the hyperparameter points, e.g. ({"C": 0.01}, ...),
    in the order ties are broken (the first maximum wins). run(task): one FoldOutcome per row of
    task.codes. score_kind: what its decision scores are, so that the detection metrics rank clips by
    a one-vs-rest score (softmax probabilities of logits). batch: how many label vectors one task
    should carry (a solver that shares work across them wants many; a plain one, one per task, so
    that workers share the load).
    """

    name: str
    grid: tuple[dict[str, float], ...]
    run: Callable[[FoldTask], list[FoldOutcome]]
    score_kind: ScoreKind
    batch: int = 1


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
                 step: str = "clf", *, score_kind: ScoreKind = DECISION_FUNCTION) -> ProbeSpec:
    """A spec fitted with scikit-learn, one fit per (selection split, grid point), as GridSearchCV does.

    pipeline(class_weight, seed): an unfitted Pipeline whose last step, named `step`, takes the
    grid's keys as parameters. score_kind: what the classifier's decision_function gives (default: taken
    as one-vs-rest scores; a multinomial LogisticRegression's are logits). This is the reference the
    fast solvers are tested against, and the engine of baselines such as the RBF SVM.
    """
    grid = tuple(dict(point) for point in grid)

    def fit(task: FoldTask, codes: np.ndarray, rows: np.ndarray, point: dict) -> Pipeline:
        model = clone(pipeline(class_weights(task.class_weight, codes[rows]), task.seed))
        model.set_params(**{f"{step}__{key}": value for key, value in point.items()})
        return model.fit(task.X[rows], codes[rows])

    def validation_score(task: FoldTask, codes: np.ndarray, train: np.ndarray, validation: np.ndarray,
                         point: dict) -> float:
        present = np.unique(codes[train])
        if len(present) == 1:
            return selection_score(codes[validation], np.full(len(validation), present[0]))
        return selection_score(codes[validation], fit(task, codes, train, point).predict(task.X[validation]))

    def run(task: FoldTask) -> list[FoldOutcome]:
        outcomes = []
        for codes in task.codes:
            scores = np.zeros(len(grid))
            if len(grid) > 1:
                scores = np.array([np.mean([validation_score(task, codes, train, validation, point)
                                            for train, validation in task.selection]) for point in grid])
            chosen = int(np.argmax(scores))
            final = fit(task, codes, task.fit_rows, grid[chosen])
            predicted = final.predict(task.X[task.test_rows]) if len(task.test_rows) else np.zeros(0, np.int64)
            model = linear_model(final) if task.keep_model and not outcomes else None
            decision = decision_scores(final, task.X[task.test_rows]) if len(task.test_rows) and not outcomes else None
            outcomes.append(FoldOutcome(scores, chosen, np.asarray(predicted, dtype=np.int64), model, decision))
        return outcomes

    return ProbeSpec(name, grid, run, score_kind)


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
