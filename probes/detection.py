"""Detection metrics from out-of-fold decision scores: ROC-AUC and average precision per class
(one-vs-rest) and their macro mean, and, for two classes, the recall reached at a chosen precision.

A rare class (the owl among the birds) is judged by how well its scores rank it, not by accuracy.
Each probe says what its per-class score is (ScoreKind): a one-vs-rest score ranks the clips for its
class whatever the other classes' scores, while multinomial logits do not (adding a constant to every
logit of a clip changes nothing), so those become softmax probabilities. The pooled values are
computed on the scores of every test clip taken together, as is common; those of different folds
come from different models, so their scales may differ a little, and the per-fold values and their
mean are kept beside them. The figures are scikit-learn's (roc_auc_score, average_precision_score,
precision_recall_curve): the per-class values are computed from ranks, every column sorted once, and
equal scikit-learn's (tested), at a cost that thousands of classes allow; the weighted curves below
only serve the bootstrap of a single split, and equal scikit-learn's with sample weights (tested).

A class that occurs in no test clip (or in all of them) has no ROC-AUC or AP: its value is None,
and macro means average the classes that have one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax
from sklearn.metrics import precision_recall_curve

from layerprobe.errors import UserError
from layerprobe.results import DETECTION_METRICS

# The clips x classes of scores the per-class metrics sort at once (a copy of that many float32s).
DETECTION_BLOCK_CELLS = 2 ** 22
POOLED_SCORES = ("value: computed on the out-of-fold scores pooled over folds (each fold's from its own model); "
                 "folds: per fold; fold_mean: their mean")
STORED_SCORES = ("predictions[k].scores: fold k's per-class scores, clips in the order of predictions[k].index, "
                 "classes in the order of classes, little-endian float32, in the member it names of the document's "
                 "scores_file (an .npz beside the JSON, bound to it by its digest; none in a document printed "
                 "without --out); every detection figure is computed on exactly these values")


@dataclass(frozen=True)
class ScoreKind:
    """What a probe's per-class score is, the one that ranks clips for a class against the rest.

    per_class: what it is with more than two classes. two_class: what the single score of two
    classes is (the positive class's score minus the other's; every probe's decision function gives
    it, and any monotone function of it, its probability included, ranks alike). softmax: the
    decision function gives multinomial logits, made into probabilities for more than two classes.
    """

    per_class: str
    two_class: str
    softmax: bool = False


# A scikit-learn classifier's own scores where no probe says otherwise (sklearn_spec's default).
DECISION_FUNCTION = ScoreKind("the classifier's decision_function (predict_proba where it has none), one column "
                              "per class", "the classifier's decision_function for the positive class (predict_proba: "
                              "its probability minus the other's)")


@dataclass(frozen=True)
class Detection:
    """What the user asked of the detection metrics.

    positive_class: the class whose ROC-AUC and AP head a two-class record and whose recall is read
    at `at_precision` (default: the second class in sorted order, scikit-learn's pos_label).
    at_precision: 0 < P <= 1, the precision at which the recall of the positive class is reported
    (two classes only); None: not reported.
    """

    positive_class: str | None = None
    at_precision: float | None = None

    def check(self, classes: list[str]) -> None:
        """Raise UserError when these options do not apply to `classes`."""
        if self.at_precision is not None and not 0 < self.at_precision <= 1:
            raise UserError(f"--at-precision must be in (0, 1], got {self.at_precision:g}")
        if len(classes) > 2 and (self.positive_class is not None or self.at_precision is not None):
            raise UserError(f"--positive-class and --at-precision apply to two classes; the labels have "
                            f"{len(classes)}, and every record gives ROC-AUC and AP per class and their macro mean")
        if self.positive_class is not None and self.positive_class not in classes:
            raise UserError(f"--positive-class {self.positive_class!r} is not a class; the classes are "
                            f"{', '.join(map(repr, classes))}")

    def positive(self, classes: list[str]) -> int:
        """The code of the positive class of a two-class problem."""
        return classes.index(self.positive_class) if self.positive_class is not None else 1


def class_scores(decision: np.ndarray, n_classes: int, kind: ScoreKind) -> np.ndarray:
    """(n, n_classes) float32 one-vs-rest scores, higher meaning more of that class, from a decision
    function's output whose meaning `kind` gives. Two classes always become (-s, s), s the second
    class's margin: sklearn's single column as it is, a score per class (ridge's, a probability) as
    their difference; so the two columns rank alike, and scores pooled over folds won by different
    probes stay comparable. More classes: softmax probabilities of logits, other scores as they are.

    float32 is what records store (4 bytes per clip and class); the metrics are computed on these
    values, so that they can be recomputed from a record exactly.
    """
    decision = np.asarray(decision, dtype=np.float64)
    if decision.ndim == 1 or decision.shape[1] == 1:
        single = decision.reshape(-1)
        return np.column_stack([-single, single]).astype(np.float32)
    if n_classes == 2 and decision.shape[1] == 2:
        return class_scores(decision[:, 1] - decision[:, 0], 2, kind)
    if decision.shape[1] != n_classes:
        raise ValueError(f"decision scores have {decision.shape[1]} columns for {n_classes} classes")
    return (softmax(decision, axis=1) if kind.softmax else decision).astype(np.float32)


def scores_description(per_fold: list[ScoreKind], n_classes: int) -> str:
    """What the scores of a record are: one description, or, where the folds' probes differ (a
    selected record), each with the folds (1-based) it holds for."""
    described = [kind.two_class if n_classes == 2 else kind.per_class for kind in per_fold]
    distinct = list(dict.fromkeys(described))
    if len(distinct) == 1:
        return distinct[0]
    folds = {text: [str(k + 1) for k, other in enumerate(described) if other == text] for text in distinct}
    return "per fold, the picked probe's: " + "; ".join(
        f"{text} (fold{'s' if len(folds[text]) > 1 else ''} {', '.join(folds[text])})" for text in distinct)


def per_class_detection(truth: np.ndarray, scores: np.ndarray) -> dict[str, list[float | None]]:
    """ROC-AUC and average precision of each class against the rest (None where undefined):
    scikit-learn's roc_auc_score and average_precision_score of each column, computed from ranks.

    Each column is sorted once, a block of columns at a time (DETECTION_BLOCK_CELLS scores), and its
    class's clips are looked up in it: a per-class scikit-learn call costs milliseconds of input
    checks and curve building, which at 1,251 classes took minutes a record (tested against it).
    """
    n, K = scores.shape
    counts = np.bincount(truth, minlength=K)
    rows = np.split(np.argsort(truth, kind="stable"), np.cumsum(counts)[:-1])
    defined = np.flatnonzero((counts > 0) & (counts < n))
    out: dict[str, list[float | None]] = {name: [None] * K for name in DETECTION_METRICS}
    for block in np.array_split(defined, -(-len(defined) * n // DETECTION_BLOCK_CELLS) or 1):
        ordered = np.sort(scores[:, block], axis=0)
        for j, c in enumerate(block):
            out["roc_auc"][c], out["average_precision"][c] = _one_vs_rest(ordered[:, j], scores[rows[c], c])
    return out


def _one_vs_rest(ordered: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """(ROC-AUC, AP) of one class from every clip's score sorted ascending (`ordered`) and its own
    clips' scores. ROC-AUC: the share of (positive, negative) pairs ranked right, ties counting half.
    AP: the mean over positives of the precision among the clips scoring at least as high (a tie
    shares one threshold, as scikit-learn's steps do)."""
    positive = np.sort(positive)
    n, P = len(ordered), len(positive)
    below, upto = np.searchsorted(ordered, positive, "left"), np.searchsorted(ordered, positive, "right")
    below_pos, upto_pos = np.searchsorted(positive, positive, "left"), np.searchsorted(positive, positive, "right")
    negatives_below = below - below_pos
    negatives_tied = (upto - below) - (upto_pos - below_pos)
    auc = float((negatives_below + 0.5 * negatives_tied).sum() / (P * (n - P)))
    return auc, float(np.mean((P - below_pos) / (n - below)))


def summary(values: list[float | None], positive: int | None) -> float | None:
    """The positive class's value (two classes), else the macro mean over the classes that have one."""
    if positive is not None:
        return values[positive]
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def recall_at_precision(positive: np.ndarray, score: np.ndarray, precision: float) -> tuple[float, float | None]:
    """The highest recall of `positive` among the thresholds whose precision reaches `precision`,
    and the lowest such threshold (scores >= it are called positive); (0.0, None) when none does."""
    precisions, recalls, thresholds = precision_recall_curve(positive, score)
    # The curve's last point (precision 1, recall 0) has no threshold.
    reached = np.flatnonzero(precisions[:-1] >= precision)
    if not len(reached):
        return 0.0, None
    best = reached[np.argmax(recalls[reached])]
    return float(recalls[best]), float(thresholds[best])


def weighted_curves(positive: np.ndarray, score: np.ndarray, weights: np.ndarray,
                    precision: float | None = None) -> dict[str, np.ndarray]:
    """ROC-AUC, AP (and the recall at `precision`) for each row of integer `weights` (B, n) at once:
    scikit-learn's values with sample_weight=weights[b]. Used to bootstrap a single split."""
    order = np.argsort(-score, kind="mergesort")
    # One point per distinct score: the last clip of each run of equal scores.
    last = np.r_[np.flatnonzero(np.diff(score[order])), len(order) - 1]
    # Counts in float32 are exact (below 2**24) and halve the memory traffic of the two running sums.
    ranked = weights[:, order].astype(np.float32)
    tp = np.cumsum(ranked * positive[order], axis=1)[:, last].astype(np.float64)
    called = np.cumsum(ranked, axis=1)[:, last].astype(np.float64)
    fp = called - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr, fpr = tp / tp[:, -1:], fp / fp[:, -1:]
        # A point no weighted clip reaches yet (called 0) adds nothing to AP; its precision is moot.
        precisions = np.where(called > 0, tp / np.where(called > 0, called, 1), 1.0)
    tpr0, fpr0 = np.pad(tpr, ((0, 0), (1, 0))), np.pad(fpr, ((0, 0), (1, 0)))
    out = {"roc_auc": np.sum(np.diff(fpr0, axis=1) * (tpr0[:, 1:] + tpr0[:, :-1]) / 2, axis=1),
           "average_precision": np.sum(np.diff(tpr0, axis=1) * precisions, axis=1)}
    if precision is not None:
        out["recall_at_precision"] = np.where(precisions >= precision, tpr, 0.0).max(axis=1)
    return out
