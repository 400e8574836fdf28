"""The weighted sum of layers: against logreg with one-hot weights, against a direct joint solver, and on
planted layers whose signal is split over two layers or sits in one."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from layerprobe.probes import weighted_sum
from layerprobe.probes.classifiers import LOGREG_REFERENCE
from layerprobe.probes.logreg import LOGREG
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.spec import FoldTask, selection_score
from layerprobe.probes.weighted_sum import WEIGHTED_SUM, fit_weighted_sum, layer_list, weighted_sum_spec


def layers_with(signal, n: int = 300, n_layers: int = 4, dim: int = 8, n_classes: int = 4,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (n, L, D) float32, codes, groups): noise with per-dimension offsets and scales (so that the
    standardization matters), plus signal(codes, rng) (n, L, D) added in standardized units."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_classes, n)
    groups = rng.integers(0, 6, n)
    X = rng.normal(size=(n, n_layers, dim)) + signal(codes, rng, (n, n_layers, dim))
    X = X * rng.uniform(0.5, 3, (n_layers, dim)) + rng.normal(size=(n_layers, dim)) * 5
    return X.astype(np.float32), codes, groups


def split_signal(codes, rng, shape):
    """Layer 1 tells classes {0, 1} from {2, 3}, layer 2 the even from the odd: each alone half the answer."""
    signal = np.zeros(shape)
    signal[:, 1, :2] = 3.0 * (codes >= 2)[:, None]
    signal[:, 2, :2] = 3.0 * (codes % 2)[:, None]
    return signal


def one_layer_signal(codes, rng, shape):
    """Every class told apart in layer 2 only."""
    signal = np.zeros(shape)
    signal[:, 2] = 1.0 * rng.normal(size=(codes.max() + 1, shape[2]))[codes]
    return signal


def tasks(X, codes, groups, **options) -> list[FoldTask]:
    folds = outer_folds(codes, groups.astype(str), cv="group", folds=5, seed=0)
    return [FoldTask(X, codes[None], int(codes.max()) + 1, fold.fit, fold.test, fold.selection, **options)
            for fold in folds.outer]


def pooled_uar(spec, fold_tasks, codes) -> float:
    predicted = np.zeros_like(codes)
    for task in fold_tasks:
        predicted[task.test_rows] = spec.run(task)[0].predicted
    return selection_score(codes, predicted)


def on_layer(task: FoldTask, layer: int) -> FoldTask:
    return FoldTask(np.ascontiguousarray(task.X[:, layer]), task.codes, task.n_classes, task.fit_rows,
                    task.test_rows, task.selection, task.class_weight, task.seed, task.keep_model)


@pytest.mark.parametrize("n_classes, class_weight", [(4, "none"), (2, "balanced")])
def test_one_hot_weights_fit_scikit_learns_logistic_regression_on_that_layer(n_classes, class_weight):
    X, codes, _ = layers_with(one_layer_signal, n=400, n_classes=n_classes)
    fit, held_out = np.arange(250), np.arange(250, 400)
    for C in (0.01, 1.0):
        model = fit_weighted_sum(X, codes, fit, C=C, n_classes=n_classes, class_weight=class_weight,
                                 weights=np.eye(4)[2])
        reference = Pipeline([("scale", StandardScaler()),
                              ("clf", LogisticRegression(C=C, class_weight=None if class_weight == "none" else
                                                         class_weight, tol=1e-8, max_iter=10_000))])
        reference.fit(X[fit, 2].astype(np.float64), codes[fit])
        ours = model.classes(model.decision_function(X, held_out))
        assert np.mean(ours == reference.predict(X[held_out, 2].astype(np.float64))) >= 0.99
        assert model.layer_weights.tolist() == [0.0, 0.0, 1.0, 0.0]
        np.testing.assert_allclose(model.coef, reference[-1].coef_, rtol=0.02, atol=0.02 * np.abs(model.coef).max())


def test_one_hot_weights_are_the_logreg_probe_on_that_layer():
    X, codes, groups = layers_with(one_layer_signal)
    frozen = weighted_sum_spec(weights=np.eye(4)[2])
    predictions = []
    for task in tasks(X, codes, groups)[:2]:  # two outer folds: scikit-learn's nested grid is the cost
        ours, logreg, sklearn = (frozen.run(task)[0], LOGREG.run(on_layer(task, 2))[0],
                                 LOGREG_REFERENCE.run(on_layer(task, 2))[0])
        assert ours.chosen == logreg.chosen == sklearn.chosen
        predictions.append((ours.predicted, logreg.predicted, sklearn.predicted))
    ours, logreg, sklearn = (np.concatenate(p) for p in zip(*predictions))
    assert np.mean(ours == logreg) >= 0.99 and np.mean(ours == sklearn) >= 0.99


def joint_objective(X: np.ndarray, codes: np.ndarray, rows: np.ndarray, C: float, n_classes: int):
    """The joint objective of (a, W, b) as one vector, and its analytic gradient, in float64."""
    Xt = np.stack([StandardScaler().fit_transform(X[rows, layer].astype(np.float64)) for layer in range(X.shape[1])])
    n_layers, n, dim = Xt.shape
    y, Y = codes[rows], np.eye(n_classes)[codes[rows]]

    def objective(theta):
        a, W, b = theta[:n_layers], theta[n_layers:-n_classes].reshape(dim, n_classes), theta[-n_classes:]
        w = softmax(a)
        Z = np.tensordot(w, Xt, axes=1)
        U = Z @ W + b
        norm = logsumexp(U, axis=1)
        R = C * (np.exp(U - norm[:, None]) - Y)
        by_layer = np.einsum("lnd,nd->l", Xt, R @ W.T)
        gradient = np.concatenate([w * (by_layer - w @ by_layer), (W + Z.T @ R).ravel(), R.sum(axis=0)])
        return 0.5 * np.sum(W * W) + C * np.sum(norm - U[np.arange(n), y]), gradient

    return objective


def direct_minimum(objective, start: np.ndarray, n_layers: int) -> tuple[np.ndarray, float]:
    """(softmax weights, value) where L-BFGS-B on every parameter at once goes from `start`."""
    found = minimize(objective, start, jac=True, method="L-BFGS-B",
                     options={"maxiter": 20_000, "gtol": 1e-9, "ftol": 1e-15, "maxcor": 30})
    return softmax(found.x[:n_layers]), found.fun


def parameters(model) -> np.ndarray:
    """A four-class model's (a, W, b) as joint_objective takes them (weight 0: a = -1000)."""
    with np.errstate(divide="ignore"):
        a = np.maximum(np.log(model.layer_weights), -1e3)
    return np.concatenate([a, model.coef.T.ravel(), model.intercept])


def test_the_joint_fit_reaches_a_direct_solvers_optimum():
    X, codes, _ = layers_with(split_signal, n=250)
    rows = np.arange(250)
    objective = joint_objective(X, codes, rows, 1.0, 4)
    # From uniform weights and a zero head at C = 1, both solvers land on the same optimum.
    model = fit_weighted_sum(X, codes, rows, C=1.0, n_classes=4, grid=(1.0,))
    weights, value = direct_minimum(objective, np.zeros(4 + 9 * 4), 4)
    assert objective(parameters(model))[0] <= value * (1 + 1e-4)
    np.testing.assert_allclose(model.layer_weights, weights, atol=0.01)
    assert 0.2 < model.layer_weights[1] < 0.8  # both halves of the signal are used
    # Down the default C path the fit at C = 1 is a local optimum too: the direct solver gains nothing there.
    model = fit_weighted_sum(X, codes, rows, C=1.0, n_classes=4)
    value = objective(parameters(model))[0]
    weights, polished = direct_minimum(objective, parameters(model), 4)
    assert polished >= value * (1 - 1e-4)
    np.testing.assert_allclose(model.layer_weights, weights, atol=0.01)


def test_a_signal_split_over_two_layers_beats_every_single_layer():
    X, codes, groups = layers_with(split_signal, n=400)
    fold_tasks = tasks(X, codes, groups)
    singles = [pooled_uar(LOGREG, [on_layer(task, layer) for task in fold_tasks], codes) for layer in range(4)]
    assert max(singles) < 0.6
    assert pooled_uar(WEIGHTED_SUM, fold_tasks, codes) > max(singles) + 0.1


def test_a_signal_in_one_layer_takes_most_of_the_weight_in_every_fold():
    X, codes, groups = layers_with(one_layer_signal)
    for task in tasks(X, codes, groups):
        weights = WEIGHTED_SUM.run(task)[0].layer_weights
        assert weights.sum() == pytest.approx(1.0) and weights[2] > 0.5, weights


def test_reruns_are_identical_and_the_test_rows_never_reach_a_fit():
    X, codes, groups = layers_with(split_signal, n=200, n_classes=4)
    task = tasks(X, codes, groups, keep_model=True)[0]
    first, again = WEIGHTED_SUM.run(task)[0], WEIGHTED_SUM.run(task)[0]
    changed = X.copy()
    changed[task.test_rows] = np.random.default_rng(5).normal(size=changed[task.test_rows].shape) * 100
    moved = WEIGHTED_SUM.run(FoldTask(changed, task.codes, task.n_classes, task.fit_rows, task.test_rows,
                                      task.selection, keep_model=True))[0]
    for field in ("mean", "scale", "layer_weights", "coef", "intercept"):
        assert np.array_equal(getattr(first.model, field), getattr(again.model, field))
        assert np.array_equal(getattr(first.model, field), getattr(moved.model, field))
    assert np.array_equal(first.scores, moved.scores) and first.chosen == moved.chosen
    assert np.array_equal(first.predicted, again.predicted) and np.array_equal(first.decision, again.decision)


def test_the_outcome_carries_probabilities_and_a_model_that_reproduces_them():
    X, codes, groups = layers_with(split_signal, n=200)
    task = tasks([X[:, layer] for layer in range(4)], codes, groups, keep_model=True)[0]
    outcome = WEIGHTED_SUM.run(task)[0]
    assert outcome.decision.shape == (len(task.test_rows), 4)  # the head's logits, as logreg's
    probabilities = weighted_sum.probabilities(outcome.decision)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(outcome.model.predict_proba(X, task.test_rows), probabilities, rtol=1e-6)
    assert np.array_equal(outcome.decision.argmax(axis=1), outcome.predicted)
    np.testing.assert_array_equal(outcome.layer_weights, outcome.model.layer_weights)


def test_a_large_refit_started_from_the_splits_lands_where_the_path_does(monkeypatch):
    X, codes, groups = layers_with(split_signal, n=300)
    task = tasks(X, codes, groups, keep_model=True)[1]
    path = WEIGHTED_SUM.run(task)[0]
    monkeypatch.setattr(weighted_sum, "LARGE_FIT", 100)
    started = WEIGHTED_SUM.run(task)[0]
    assert started.chosen == path.chosen
    np.testing.assert_allclose(started.layer_weights, path.layer_weights, atol=0.02)
    assert np.mean(started.predicted == path.predicted) >= 0.95


def test_features_without_a_layer_axis_are_refused():
    with pytest.raises(ValueError, match=r"\(n_clips, n_layers, dim\) features, got shape \(5, 3\)"):
        layer_list(np.zeros((5, 3)))
