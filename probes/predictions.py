"""What `probe --predict` writes for each clip beside its predicted class: a score per class, and with
--at-precision the decision at the threshold the probe's record found; and the summary it prints."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from layerprobe.errors import UserError
from layerprobe.probes.detection import DECISION_FUNCTION, ScoreKind, class_scores
from layerprobe.probes.registry import probe_names, probe_spec


def score_kind(classifier: str) -> ScoreKind:
    """What a saved probe's decision scores are, as its classifier's spec says (logreg, mlp: logits)."""
    return probe_spec(classifier).score_kind if classifier in probe_names() else DECISION_FUNCTION


def score_columns(decision: np.ndarray, classes: Sequence[str], classifier: str) -> dict[str, np.ndarray]:
    """One column per class, named for what it holds: probability_CLASS where the probe has
    probabilities, else decision_score_CLASS (higher: more of that class; for two classes the
    margin s of the second class and -s, as the detection metrics rank them).

    decision: the probe's decision_function, (n, n_classes) or (n, 1) for two classes.
    """
    kind = score_kind(classifier)
    if kind.softmax:  # logits: their softmax (sigmoid for two classes) is predict_proba (LogisticRegression's, MLP's)
        if decision.shape[1] == 1:
            positive = expit(decision[:, 0])
            scores, name = np.column_stack([1 - positive, positive]), "probability"
        else:
            scores, name = softmax(decision, axis=1), "probability"
    else:
        scores, name = class_scores(decision, len(classes), kind), "decision_score"
    return {f"{name}_{label}": scores[:, index] for index, label in enumerate(classes)}


def threshold_column(decision: np.ndarray, classes: Sequence[str], classifier: str, found: dict | None,
                     precision: float, model: str) -> tuple[str, np.ndarray]:
    """("at_precision_P", the class each clip gets at the threshold the record found for precision P):
    the positive class where its detection score reaches the threshold, else the other class.

    found: the saved probe's meta["at_precision"] (precision, threshold, positive_class), None when it
    was saved without --at-precision. model: the probe file, for the messages.
    """
    if len(classes) != 2:
        raise UserError(f"--at-precision applies to two classes; {model} has {len(classes)}")
    if found is None or found["precision"] != precision:
        saved = "without --at-precision" if found is None else f"with --at-precision {found['precision']:g}"
        raise UserError(f"{model} was saved {saved}; save it with probe --save-model --at-precision {precision:g} "
                        "to get that threshold")
    if found["threshold"] is None:
        raise UserError(f"{model}: its record reached precision {precision:g} at no threshold (recall 0), "
                        "so there is no decision to apply")
    positive = list(classes).index(found["positive_class"])
    # The score the record's threshold was found on: the detection metrics' (float32, as records store it).
    called = class_scores(decision, 2, score_kind(classifier))[:, positive] >= found["threshold"]
    return f"at_precision_{precision:g}", np.where(called, classes[positive], classes[1 - positive])


def summary(predictions: pd.DataFrame, path: Path, pooling: str) -> dict:
    """What --predict prints instead of every row (`--format json` prints this object): where the
    file went, its columns, clips per predicted class (and per decision at the threshold), and the
    accuracy where every clip has a label (None otherwise)."""
    labelled = (predictions["label"] != "").all()
    return {
        "predictions_file": str(path),
        "columns": list(predictions.columns),
        "pooling": pooling,
        "n_clips": len(predictions),
        "counts": {column: _counts(predictions[column]) for column in predictions.columns
                   if column == "predicted" or column.startswith("at_precision_")},
        "accuracy": float((predictions["label"] == predictions["predicted"]).mean()) if labelled else None,
    }


def describe(found: dict) -> str:
    """summary() as lines for the terminal."""
    counts = found["counts"]
    lines = [f"predicted {found['n_clips']} clips (pooling {found['pooling']}): {_listed(counts['predicted'])}"]
    lines += [f"{column}: {_listed(per_class)}" for column, per_class in counts.items() if column != "predicted"]
    if found["accuracy"] is not None:
        lines.append(f"accuracy on the {found['n_clips']} labelled clips: {found['accuracy']:.3f}")
    lines.append(f"predictions: {found['predictions_file']} ({', '.join(found['columns'])})")
    return "\n".join(lines)


def _listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(name): int(count) for name, count in sorted(values.value_counts().items())}
