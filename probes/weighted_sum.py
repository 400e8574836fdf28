"""The learned weighted sum of layers as a probe (SUPERB's protocol, s3prl's Featurizer).

Per fit, each layer l is standardized with the mean and std of the fit's rows (x~_il), the layers are
mixed with softmax weights w = softmax(a), z_i = sum_l w_l x~_il, and a multinomial logistic head reads
z_i; weights and head are trained jointly on

    1/2 |W|^2 + C sum_i s_i CE(W z_i + b, y_i)

with s_i the class weight of clip i: scikit-learn's LogisticRegression parametrization, penalizing
the head's weights W, not its intercepts b nor the layer logits a (for two classes the multinomial at
C/2, as probes/logreg.py explains). So the C grid is logreg's, and with the weights frozen one-hot on
layer k the probe is logreg's on layer k. Mean pooling is linear: the weighted sum of the cached
mean-pooled layers is the mean-pooled weighted sum.

Solver: block coordinate descent, each block minimized to its tolerance, so the objective does not
rise. With w fixed the problem is logreg's on Z = sum_l w_l X~_l, solved by logreg.fit_path
(Newton-CG) from the last head. With the head's direction fixed the logits are
g sum_l w_l S_l + b, S_l = X~_l W' (n x K each: L matrix products), and (a, b, g) minimize a
smooth problem of L + K + 1 parameters by L-BFGS-B (scipy) at the cost of a few n x K x L sums per
step. Rounds stop when no weight moved by more than WEIGHT_TOL. The C path runs from the largest C
down, each fit starting from the last one's solution (_path says why not upward).

The head's Newton-CG is preconditioned by the eigendecomposition of Z's Gram matrix, which depends
on w and costs as much as hundreds of matrix passes; a fold keeps the decompositions it has made, on
the refit's rows (every k-th, at most LARGE_FIT, as path_probe), and reuses one while w stays within
REFRESH (total variation) of the weights it was made at. The first is made at the starting weights,
the same for every label vector, so a label vector's fit does not depend on the others of its task.

Memory: the layers are read as they are (float32). A fit keeps its rows' standardized layers when
they take at most KEPT_BYTES, else standardizes a block of rows at a time; beside them its only
full-size arrays are Z ((n, D+1) float32) and S ((L, n, K) float32).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, softmax
from threadpoolctl import ThreadpoolController

from layerprobe.probes.detection import ScoreKind
from layerprobe.probes.fit_rows import class_weight_table, uar_many
from layerprobe.probes.grids import LOGREG_C_GRID
from layerprobe.probes.logreg import coefficients, fit_path
from layerprobe.probes.path_probe import LARGE_FIT, Design
from layerprobe.probes.spec import Declared, FoldOutcome, FoldTask, ProbeSpec
from layerprobe.probes.standardize import scaling, standardized_blocks

# Rounds stop when no layer weight moved by more than this in the last one: weights are read to a
# few hundredths, and the head's optimum moves with them smoothly.
WEIGHT_TOL = 1e-3
MAX_ROUNDS = 30
# A Gram decomposition made at weights w0 preconditions fits at weights w while 1/2 |w - w0|_1 <= REFRESH.
REFRESH = 0.1
# A fit keeps its rows' standardized layers (float32) when they take at most this much memory: a
# selection part of 10,000 rows x 13 x 768 does (400 MB), the 84,000-row refit at Speech-Commands
# size (3.4 GB beside the 4.2 GB of layers) standardizes a block of rows at a time instead.
KEPT_BYTES = 512 * 2**20
# The (a, b) step stops at this gradient (max entry) of the mean weighted loss.
STEP_GTOL = 1e-6

Layers = Sequence[np.ndarray]
Solution = tuple[np.ndarray, np.ndarray]  # (a (L,), W (D+1, K) in the fit's Z units, last row the intercepts)

# The decision scores are the head's multinomial logits (one logit for two classes), as logreg's: detection
# ranks by their softmax, and a saved probe's --predict gives the same probabilities and threshold.
SCORE_KIND = ScoreKind("softmax probabilities of the weighted-sum head's logits",
                       "the log-odds of the positive class (ranks as its probability does)", softmax=True)


def layer_list(X: np.ndarray | Layers) -> list[np.ndarray]:
    """The L (n, D) layer matrices of a task's X: an (n, L, D) array (as X[:, l] views) or a sequence."""
    if isinstance(X, np.ndarray):
        if X.ndim != 3:
            raise ValueError(f"the weighted sum needs (n_clips, n_layers, dim) features, got shape {X.shape}")
        return [X[:, layer] for layer in range(X.shape[1])]
    return list(X)


@dataclass(frozen=True)
class WeightedSumModel:
    """A fitted weighted-sum probe as plain arrays.

    mean, scale: (L, D) each layer's standardization. layer_weights: (L,) softmax weights. coef (K, D),
    or one row for two classes (positive: class code 1), and intercept: the head on the weighted sum
    of the standardized layers, as sklearn's.
    """

    mean: np.ndarray
    scale: np.ndarray
    layer_weights: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    kind: ClassVar[str] = "weighted-sum"

    @property
    def dims(self) -> int:
        """Each layer's dimension."""
        return self.coef.shape[1]

    @property
    def n_layers(self) -> int:
        return len(self.layer_weights)

    def predict(self, X: np.ndarray | Layers) -> np.ndarray:
        """The predicted class code of each row."""
        return self.classes(self.decision_function(X))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "layer_weights": self.layer_weights, "coef": self.coef,
                "intercept": self.intercept}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> WeightedSumModel:
        return cls(arrays["mean"], arrays["scale"], arrays["layer_weights"], arrays["coef"], arrays["intercept"])

    @classmethod
    def declared_problem(cls, declared: Declared, n_classes: int) -> str:
        """What makes arrays of these shapes no weighted sum of n_classes classes ("" when they are one)."""
        names = ("mean", "scale", "layer_weights", "coef", "intercept")
        missing = [name for name in names if name not in declared]
        if missing:
            return f"{missing[0]} is not a file in the archive"
        if not all(np.issubdtype(declared[name][1], np.floating) for name in names):
            return "its arrays are not arrays of numbers"
        coef, weights = declared["coef"][0], declared["layer_weights"][0]
        if len(coef) != 2 or len(weights) != 1:
            return "coef is not a (classes, dims) array or layer_weights not one weight per layer"
        (n_scores, dims), (n_layers,) = coef, weights
        for name, shape in {"mean": (n_layers, dims), "scale": (n_layers, dims), "intercept": (n_scores,)}.items():
            if declared[name][0] != shape:
                return f"{name} has shape {declared[name][0]}, coef {coef} and {n_layers} layers need {shape}"
        if n_classes != max(n_scores, 2) or n_scores == 2:
            return f"classes has shape ({n_classes},), coef {coef} needs ({max(n_scores, 2)},) and not two rows"
        return ""

    def decision_function(self, X: np.ndarray | Layers, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), len(coef)) logits of the rows (default every row); X as FoldTask.X."""
        layers = layer_list(X)
        rows = np.arange(len(layers[0])) if rows is None else rows
        return _logits(layers, rows, self.mean, self.scale, [(self.layer_weights, self.coef, self.intercept)])[0]

    def predict_proba(self, X: np.ndarray | Layers, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), n_classes) class probabilities."""
        return probabilities(self.decision_function(X, rows))

    def classes(self, scores: np.ndarray) -> np.ndarray:
        """The class code each row of decision_function's scores predicts."""
        if scores.shape[1] == 1:
            return (scores[:, 0] > 0).astype(np.int64)
        return scores.argmax(axis=1)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """(n, n_classes) probabilities of decision_function's logits (a single column: two classes)."""
    logits = logits.astype(np.float64)
    if logits.shape[1] == 1:
        positive = expit(logits[:, 0])
        return np.column_stack([1.0 - positive, positive])
    return softmax(logits, axis=1)


@dataclass(frozen=True)
class _Fit:
    """One fit's rows and each layer's standardization on them, (L, D) mean and scale."""

    rows: np.ndarray
    mean: np.ndarray
    scale: np.ndarray


def _fit_rows(layers: Layers, rows: np.ndarray) -> _Fit:
    stats = [scaling(X, rows) for X in layers]
    return _Fit(rows, np.stack([m for m, _ in stats]), np.stack([s for _, s in stats]))


def _layer_blocks(layers: Layers, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                  used: np.ndarray) -> Iterator[tuple[slice, list[np.ndarray]]]:
    """(positions, [standardized float32 block of each used layer]), a block of rows at a time."""
    streams = [standardized_blocks(layers[k], rows, mean[k], scale[k], dtype=np.float32) for k in used]
    for parts in zip(*streams):
        yield parts[0][0], [block for _, block in parts]


def _mix(blocks: list[np.ndarray], weights: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = sum_l weights[l] * blocks[l] (float32)."""
    np.multiply(blocks[0], np.float32(weights[0]), out=out)
    for w, block in zip(weights[1:], blocks[1:]):
        out += np.float32(w) * block
    return out


def _logits(layers: Layers, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray,
            models: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Each (layer weights, coef, intercept)'s (len(rows), len(coef)) float32 logits of the rows, every
    model from one standardization of each block; layers of weight 0 are skipped."""
    used = np.flatnonzero(np.any([w != 0 for w, _, _ in models], axis=0))
    out = [np.empty((len(rows), len(coef)), dtype=np.float32) for _, coef, _ in models]
    mixed = None
    for part, blocks in _layer_blocks(layers, rows, mean, scale, used):
        mixed = np.empty_like(blocks[0]) if mixed is None or len(mixed) != len(blocks[0]) else mixed
        for scores, (w, coef, intercept) in zip(out, models):
            scores[part] = _mix(blocks, w[used], mixed) @ coef.T.astype(np.float32) + intercept.astype(np.float32)
    return out


class _Spectra:
    """The eigendecompositions of Z's Gram matrix a fold has made, on a sample of the refit's rows."""

    def __init__(self, layers: Layers, final: _Fit):
        self.layers, self.final = layers, final
        self.sample = final.rows[::-(-len(final.rows) // LARGE_FIT)]
        self.made: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def copy(self) -> _Spectra:
        other = _Spectra.__new__(_Spectra)
        other.layers, other.final, other.sample, other.made = self.layers, self.final, self.sample, list(self.made)
        return other

    def at(self, weights: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(basis, eigenvalues) for a fit of n_rows rows at these weights."""
        for made_at, basis, eigenvalues in self.made:
            if 0.5 * np.abs(weights - made_at).sum() <= REFRESH:
                return basis, eigenvalues * (n_rows / len(self.final.rows))
        sample = np.empty((len(self.sample), self.final.mean.shape[1] + 1), dtype=np.float32)
        _combine(self.layers, self.final, self.sample, weights, sample)
        # Accumulated in float32 as path_probe's: it only shapes the preconditioner.
        eigenvalues, basis = np.linalg.eigh((sample.T @ sample).astype(np.float64)
                                            * (len(self.final.rows) / len(self.sample)))
        self.made.append((weights.copy(), basis.astype(np.float32), np.maximum(eigenvalues, 0.0)))
        return self.at(weights, n_rows)


def _combine(layers: Layers, fit: _Fit, rows: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
    """out[:, :-1] = the weighted sum of the standardized layers at `rows` (fit's standardization), out[:, -1] = 1."""
    used = np.flatnonzero(weights)
    out[:, -1] = 1.0
    for part, blocks in _layer_blocks(layers, rows, fit.mean, fit.scale, used):
        _mix(blocks, weights[used], out[part, :-1])


def _weights_step(S: np.ndarray, labels: np.ndarray, sample: np.ndarray, a: np.ndarray, W: np.ndarray,
                  strength: float) -> tuple[np.ndarray, np.ndarray]:
    """(a, head) after minimizing the objective over the layer logits a, the intercepts and the head's
    scale g (W[:-1] -> g W[:-1]) with the head's direction fixed: logits g sum_l softmax(a)_l S_l + b,
    penalty g^2 |W[:-1]|^2 / 2, by L-BFGS-B from (a, W's intercepts, g = 1).

    The scale is what the weights and the head trade most: spreading weight over layers whose
    standardized rows differ shrinks z, which the head's norm must make up; fitting it here spares the
    rounds that would otherwise pass that trade back and forth.
    """
    n_layers = len(S)
    clips = np.arange(len(labels))
    flat = S.reshape(n_layers, -1)
    total = strength * sample.sum()
    weight = sample.astype(np.float32)[:, None]
    norm2 = float(np.sum(W[:-1] ** 2))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b, scale = softmax(theta[:n_layers]), theta[n_layers:-1], np.exp(theta[-1])
        mixed = (w.astype(np.float32) @ flat).reshape(S.shape[1:])
        logits = np.float32(scale) * mixed + b.astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        norm = p.sum(axis=1, keepdims=True)
        p /= norm
        value = sample @ (np.log(norm[:, 0]) - logits[clips, labels]).astype(np.float64)
        p[clips, labels] -= 1.0
        p *= weight
        by_layer = scale * (flat @ p.ravel()).astype(np.float64)
        gradient = strength * np.concatenate([w * (by_layer - w @ by_layer), p.sum(axis=0, dtype=np.float64),
                                              [scale * np.vdot(p, mixed)]])
        gradient[-1] += scale * scale * norm2
        return (strength * value + 0.5 * scale * scale * norm2) / total, gradient / total

    start = np.concatenate([a, W[-1], [0.0]])
    with _blas().limit(limits=1, user_api="blas"):
        # Its arrays are tiny: BLAS threads would spend the step waiting on each other.
        theta = minimize(objective, start, jac=True, method="L-BFGS-B",
                         options={"gtol": STEP_GTOL, "maxiter": 500}).x
    head = W * np.exp(theta[-1])
    head[-1] = theta[n_layers:-1]
    return theta[:n_layers], head


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


class _Problem:
    """One fit's problem for one label vector: its rows, labels, class weights, and Z's buffer."""

    def __init__(self, layers: Layers, fit: _Fit, labels: np.ndarray, class_weight: str, n_classes: int,
                 spectra: _Spectra):
        self.layers, self.fit, self.labels, self.n_classes, self.spectra = layers, fit, labels, n_classes, spectra
        # Per C, why its solution's last head fit stopped short of its tolerance (absent: it converged).
        self.unconverged: dict[float, str] = {}
        self.class_weight = class_weight_table(class_weight, labels[None], n_classes)[0]
        self.features = np.empty((len(fit.rows), fit.mean.shape[1] + 1), dtype=np.float32)
        self.kept = None
        if len(layers) * self.features.size * 4 <= KEPT_BYTES:
            self.kept = np.empty((len(layers), len(fit.rows), fit.mean.shape[1]), dtype=np.float32)
            for part, blocks in _layer_blocks(layers, fit.rows, fit.mean, fit.scale, np.arange(len(layers))):
                for k, block in enumerate(blocks):
                    self.kept[k, part] = block

    def combine(self, weights: np.ndarray) -> None:
        """features = the weighted sum of the standardized layers, and the constant column."""
        if self.kept is None:
            _combine(self.layers, self.fit, self.fit.rows, weights, self.features)
            return
        used = np.flatnonzero(weights)
        _mix([self.kept[k] for k in used], weights[used], self.features[:, :-1])
        self.features[:, -1] = 1.0

    def products(self, W: np.ndarray) -> np.ndarray:
        """(L, n, K) float32 S_l = X~_l W[:-1] for every layer."""
        head = W[:-1].astype(np.float32)
        if self.kept is not None:
            return (self.kept.reshape(-1, head.shape[0]) @ head).reshape(len(self.kept), -1, head.shape[1])
        S = np.empty((len(self.layers), len(self.fit.rows), head.shape[1]), dtype=np.float32)
        for part, blocks in _layer_blocks(self.layers, self.fit.rows, self.fit.mean, self.fit.scale,
                                          np.arange(len(self.layers))):
            for k, block in enumerate(blocks):
                S[k, part] = block @ head
        return S

    def heads(self, a: np.ndarray, values: Sequence[float], start: np.ndarray) -> list[np.ndarray]:
        """logreg's path of heads over `values` on the weighted sum at softmax(a), from `start`."""
        w = softmax(a)
        self.combine(w)
        basis, eigenvalues = self.spectra.at(w, len(self.fit.rows))
        dim = self.features.shape[1] - 1
        design = Design(self.fit.rows, self.features, basis, eigenvalues, np.zeros(dim), np.ones(dim))
        path = fit_path(design, self.labels, self.class_weight, self.n_classes, values, start)
        # The last head fit at each C is the one its solution keeps: its note replaces any earlier one.
        stopped = dict(path.unconverged)
        for k, C in enumerate(values):
            if k in stopped:
                self.unconverged[C] = f"the head {stopped[k]}"
            else:
                self.unconverged.pop(C, None)
        return path.solutions

    def solve(self, C: float, a: np.ndarray, W: np.ndarray) -> Solution:
        """The joint fit at C from (a, W): the head fitted at softmax(a) from W, then rounds of a
        weights step and a head fit until no weight moves by more than WEIGHT_TOL."""
        sample = self.class_weight[self.labels]
        W = self.heads(a, [C], W)[0]
        for _ in range(MAX_ROUNDS):
            moved, W = _weights_step(self.products(W), self.labels, sample, a, W,
                                     C / 2 if self.n_classes == 2 else C)
            shift = np.abs(softmax(moved) - softmax(a)).max()
            a = moved
            W = self.heads(a, [C], W)[0]
            if shift <= WEIGHT_TOL:
                break
        else:
            self.unconverged[C] = (f"{self.unconverged[C]}; " if C in self.unconverged else "") + \
                f"the layer weights still moved by {shift:.2g} after {MAX_ROUNDS} rounds"
        return a, W


def _path(problem: _Problem, values: Sequence[float], start: Solution, learn: bool,
          lowest: int = 0) -> list[Solution]:
    """The fits for each C of values[lowest:].

    Frozen weights: the heads along the C path from the start's head, as logreg's. Learned: the
    joint fit at the largest C from the start's weights and that C's head on the path, then each
    smaller C's from the last solution. Downward, because upward the weights would stay where the
    smallest C puts them: on the single layer whose gradient is largest (there the loss is nearly
    linear in the weights, so their optimum is a vertex), where softmax's gradient vanishes.
    """
    a = start[0]
    heads = problem.heads(a, values, start[1])
    if not learn:
        return [(a, W) for W in heads[lowest:]]
    solutions = [problem.solve(values[-1], a, heads[-1])]
    for C in values[-2:lowest - 1 if lowest else None:-1]:
        solutions.append(problem.solve(C, *solutions[-1]))
    return solutions[::-1]


def fit_weighted_sum(X: np.ndarray | Layers, labels: np.ndarray, rows: np.ndarray, *, C: float, n_classes: int,
                     class_weight: str = "none", weights: np.ndarray | None = None,
                     grid: Sequence[float] = LOGREG_C_GRID) -> WeightedSumModel:
    """The weighted-sum probe fitted on X's `rows` at C, one of `grid`, as the refit fits it.

    labels: (n,) class codes of every row of X. class_weight: "none", "balanced" or "sqrt".
    weights: (L,) layer weights to freeze (None: learned, starting uniform). grid: the C path the
    fit follows (default logreg's).
    """
    values = [float(c) for c in grid]
    if C not in values:
        raise ValueError(f"C={C:g} is not on the grid {values}")
    layers = layer_list(X)
    fit = _fit_rows(layers, rows)
    start, spectra = _start(layers, fit, n_classes, weights)
    problem = _Problem(layers, fit, labels[rows], class_weight, n_classes, spectra)
    return _model(fit, *_path(problem, values, start, weights is None, values.index(C))[0], n_classes)


def _start(layers: Layers, final: _Fit, n_classes: int, weights: np.ndarray | None) -> tuple[Solution, _Spectra]:
    """The fits' starting point (uniform or frozen weights, zero head) and the fold's spectra, holding
    the decomposition at those weights."""
    if weights is None:
        a = np.zeros(len(layers))
    else:
        with np.errstate(divide="ignore"):
            a = np.log(np.asarray(weights, dtype=np.float64))  # log 0 = -inf: softmax gives those layers exactly 0
    spectra = _Spectra(layers, final)
    spectra.at(softmax(a), len(final.rows))
    return (a, np.zeros((final.mean.shape[1] + 1, n_classes))), spectra


def _model(fit: _Fit, a: np.ndarray, W: np.ndarray, n_classes: int) -> WeightedSumModel:
    return WeightedSumModel(fit.mean, fit.scale, softmax(a), *coefficients(W, n_classes))


def weighted_sum_spec(*, grid: Sequence[float] = LOGREG_C_GRID, weights: np.ndarray | None = None,
                      name: str = "weighted-sum") -> ProbeSpec:
    """The weighted-sum probe over the C values `grid`; task.X holds every layer (layer_list).

    weights: (L,) layer weights to freeze, the head alone fitted (None, default: learned jointly). With
    one-hot weights on layer k this is logreg's probe on layer k.
    """
    values = tuple(float(c) for c in grid)
    learn = weights is None

    def run(task: FoldTask) -> list[FoldOutcome]:
        layers = layer_list(task.X)
        final = _fit_rows(layers, task.fit_rows)
        splits = [(_fit_rows(layers, train), validation) for train, validation in task.selection]
        start, shared = _start(layers, final, task.n_classes, weights)
        outcomes = []
        for codes in task.codes:
            spectra = shared.copy()
            # One split's problem at a time: each may keep its standardized rows (KEPT_BYTES).
            paths, split_notes = [], []
            for fitted, _ in splits:
                problem = _Problem(layers, fitted, codes[fitted.rows], task.class_weight, task.n_classes, spectra)
                paths.append(_path(problem, values, start, learn))
                split_notes += [f"C={C:g} (selection fit): {why}" for C, why in problem.unconverged.items()]
            scores = np.zeros(len(values))
            for (fitted, validation), path in zip(splits, paths):
                models = [_model(fitted, a, W, task.n_classes) for a, W in path]
                logits = _logits(layers, validation, fitted.mean, fitted.scale,
                                 [(m.layer_weights, m.coef, m.intercept) for m in models])
                predicted = np.stack([m.classes(s) for m, s in zip(models, logits)])
                scores += uar_many(np.broadcast_to(codes[validation], predicted.shape), predicted, task.n_classes)
            scores /= max(len(splits), 1)
            chosen = int(scores.argmax())
            refit = _Problem(layers, final, codes[final.rows], task.class_weight, task.n_classes, spectra)
            a, W = _refit(refit, paths, task, values, chosen, start, learn)
            model = _model(final, a, W, task.n_classes)
            logits = model.decision_function(layers, task.test_rows)
            first = not outcomes
            notes = (split_notes + [f"C={values[chosen]:g} (refit): {why}" for C, why in refit.unconverged.items()
                        if C == values[chosen]]) if first else []
            outcomes.append(FoldOutcome(scores, chosen, model.classes(logits),
                                        model if task.keep_model and first else None,
                                        logits if first else None, tuple(dict.fromkeys(notes)),
                                        layer_weights=model.layer_weights))
        return outcomes

    return ProbeSpec(name, tuple({"C": c} for c in values), run, SCORE_KIND, reads="all-layers", model=WeightedSumModel)


def _refit(problem: _Problem, paths: list[list[Solution]], task: FoldTask, values: Sequence[float], chosen: int,
           start: Solution, learn: bool) -> Solution:
    """The solution at values[chosen] on the refit's rows: along the path as each split's, or for a large fit (path_probe's rule) from the splits' averaged solutions
    at the closest problem (a split of n_s rows at C' poses the refit's problem at C' n_s / n_f); their
    heads are in their own standardized units, close to the refit's: the rows are samples of the same clips."""
    if len(problem.fit.rows) <= LARGE_FIT or not paths:
        return _path(problem, values, start, learn, chosen)[0]
    ratio = np.mean([len(train) for train, _ in task.selection]) / len(problem.fit.rows)
    closest = int(np.argmin(np.abs(np.log(np.asarray(values) * ratio / values[chosen]))))
    a = np.mean([path[closest][0] for path in paths], axis=0)
    W = np.mean([path[closest][1] for path in paths], axis=0)
    return problem.solve(values[chosen], a, W) if learn else (a, problem.heads(a, values[chosen:chosen + 1], W)[0])


WEIGHTED_SUM = weighted_sum_spec()
