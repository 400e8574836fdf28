"""The MLP probe: scikit-learn's MLPClassifier with one hidden layer, after a StandardScaler, the HEAR
and EmoBox kind of head, for labels that no linear probe separates.

Its weight decay alpha is chosen on the selection splits as the linear probes' C is. Each fit stops
early on a stratified tenth of the rows it is fitted on (MLPClassifier's early_stopping), so the
epochs are chosen inside the fitting part: test rows never reach a fit, and a selection fit never
sees its validation part. Where that tenth cannot hold every class twice over (a rare class with a
single clip in the part), the fit runs its MAX_ITER epochs without stopping early, and a fit that
ends there unconverged says so. Every fit is seeded (the weights' initialisation, the
early-stopping split, the minibatch order).

Its decision scores are the output layer's logits (one logistic logit for two classes), whose
softmax is predict_proba: the detection metrics and --predict rank and report its probabilities, as
for logistic regression.

Not in `--classifier all`, asked for by name: on FSDD-size data (bench/probe_sweep.py's layer 6: 3,000
clips x 768 dims, 10 classes, 3 selection splits) one outer fold took 21 CPU-seconds (5 alphas x 3
splits + the refit, 1.3 s a fit) against 1.0 for logreg's fast solver: 20x, about 23 minutes for 13
layers x 5 folds on one core.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from layerprobe.probes.detection import ScoreKind
from layerprobe.probes.spec import ClassWeight, Declared, predicted_classes, sklearn_spec
from layerprobe.probes.standardize import standardized_blocks

# One hidden layer of 256 units: narrower than the 768-1024-dim embeddings it reads, so the head
# stays a probe (about 200,000 weights on 768 dims; HEAR's 1024 units cost 4x the time per fit).
HIDDEN = 256
# MLPClassifier's alpha is an L2 penalty per clip (alpha / 2n |W|^2), a decade apart. On FSDD-size data
# (the fold above) the selection score rose from 0.867 at 1e-2 to 0.925 at 10 and fell to 0.812 at 100.
ALPHA_GRID = tuple(float(a) for a in np.logspace(-2, 2, 5))
VALIDATION_FRACTION = 0.1
# Epochs at most; with early stopping a fit on FSDD-size data stops after 20-35.
MAX_ITER = 200
ACTIVATIONS = {"relu": lambda h: np.maximum(h, 0.0)}


class EarlyStoppedMLP(ClassifierMixin, BaseEstimator):
    """MLPClassifier((HIDDEN,)) with class weights (as sample weights) and early stopping on a
    stratified VALIDATION_FRACTION of the fitted rows wherever that split can hold every class."""

    def __init__(self, alpha: float = 1e-4, class_weight: ClassWeight = None, random_state: int = 0):
        self.alpha = alpha
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> EarlyStoppedMLP:
        counts = np.unique(y, return_counts=True)[1]
        held = int(np.ceil(VALIDATION_FRACTION * len(y)))
        stop_early = counts.min() >= 2 and held >= len(counts) and len(y) - held >= len(counts)
        self.network_ = MLPClassifier((HIDDEN,), alpha=self.alpha, early_stopping=stop_early,
                                      validation_fraction=VALIDATION_FRACTION, max_iter=MAX_ITER,
                                      random_state=self.random_state)
        self.network_.fit(X, y, sample_weight=compute_sample_weight(self.class_weight, y))
        self.classes_ = self.network_.classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.network_.predict(X)


def _pipeline(class_weight: ClassWeight, seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", EarlyStoppedMLP(class_weight=class_weight,
                                                                         random_state=seed))])


@dataclass(frozen=True)
class MLPModel:
    """A fitted MLP probe: standardize with (mean, scale), then each layer h -> activation(h @ W + b)
    (the last one's output the logits). weights, biases: one per layer, as MLPClassifier's coefs_
    and intercepts_."""

    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activation: str = "relu"

    kind: ClassVar[str] = "mlp"

    @property
    def dims(self) -> int:
        return self.weights[0].shape[0]

    def decision_function(self, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), n_scores) logits of X[rows] (default every row): one per class, or the
        positive class's for two classes."""
        rows = np.arange(len(X)) if rows is None else rows
        scores = np.empty((len(rows), self.weights[-1].shape[1]))
        for part, h in standardized_blocks(X, rows, self.mean, self.scale):
            for W, b in zip(self.weights[:-1], self.biases[:-1]):
                h = ACTIVATIONS[self.activation](h @ W + b)
            scores[part] = h @ self.weights[-1] + self.biases[-1]
        return scores

    def classes(self, scores: np.ndarray) -> np.ndarray:
        return predicted_classes(scores)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes(self.decision_function(X))

    def arrays(self) -> dict[str, np.ndarray]:
        layers = {f"{name}_{i}": array for name, arrays in (("weights", self.weights), ("biases", self.biases))
                  for i, array in enumerate(arrays)}
        return {"mean": self.mean, "scale": self.scale, **layers, "activation": np.array(self.activation)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> MLPModel:
        depth = sum(name.startswith("weights_") for name in arrays)
        return cls(arrays["mean"], arrays["scale"], tuple(arrays[f"weights_{i}"] for i in range(depth)),
                   tuple(arrays[f"biases_{i}"] for i in range(depth)), str(arrays["activation"]))

    @classmethod
    def declared_problem(cls, declared: Declared, n_classes: int) -> str:
        depth = sum(name.startswith("weights_") for name in declared)
        needed = ["mean", "scale", "activation"] + [f"{name}_{i}" for i in range(depth) for name in ("weights", "biases")]
        missing = [name for name in needed if name not in declared]
        if depth == 0 or missing:
            return f"{missing[0] if missing else 'weights_0'} is not a file in the archive"
        if declared["activation"][0] != () or declared["activation"][1].kind != "U":
            return "activation is not a name"
        numbers = [name for name in needed if name != "activation"]
        if not all(np.issubdtype(declared[name][1], np.floating) for name in numbers):
            return "its weights are not arrays of numbers"
        width = declared["mean"][0]
        if declared["scale"][0] != width or len(width) != 1:
            return f"mean has shape {width}, scale {declared['scale'][0]}: expected one (dims,) each"
        for i in range(depth):
            shape, bias = declared[f"weights_{i}"][0], declared[f"biases_{i}"][0]
            if len(shape) != 2 or shape[0] != width[0] or bias != shape[1:]:
                return f"weights_{i} has shape {shape}, biases_{i} {bias}; the layer before gives {width[0]}"
            width = shape[1:]
        if n_classes != max(width[0], 2):
            return f"classes has shape ({n_classes},), {width[0]} output units need ({max(width[0], 2)},)"
        if width[0] == 2:
            return "two output units: a binary probe has one"
        return ""


def mlp_model(pipeline: Pipeline) -> MLPModel:
    """The MLPModel of a fitted Pipeline(StandardScaler, EarlyStoppedMLP)."""
    scaler, network = pipeline[0], pipeline[-1].network_
    return MLPModel(scaler.mean_, scaler.scale_, tuple(network.coefs_), tuple(network.intercepts_), network.activation)


SCORE_KIND = ScoreKind("softmax probabilities of the network's output logits (predict_proba)",
                       "the log-odds of the positive class (ranks as its probability does)", softmax=True)
MLP = sklearn_spec("mlp", _pipeline, [{"alpha": a} for a in ALPHA_GRID], score_kind=SCORE_KIND, fitted=mlp_model,
                   model=MLPModel)
