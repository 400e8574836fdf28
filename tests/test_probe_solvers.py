"""The fast probes against the scikit-learn solvers, on planted data and the same nested folds."""
from __future__ import annotations

import numpy as np
import pytest

from layerprobe.probes import path_probe
from layerprobe.probes.classifiers import CLASSIFIERS, LINEAR_SVM_REFERENCE, LOGREG_REFERENCE, RIDGE_REFERENCE
from layerprobe.probes.fit_rows import class_weight_table, uar_many
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.ridge import RIDGE
from layerprobe.probes.significance import p_value, permuted_labels
from layerprobe.probes.spec import FoldTask, selection_score


def planted(n: int = 300, dim: int = 30, n_classes: int = 4, n_groups: int = 6, strength: float = 0.5,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X float32, codes, groups): class means plus speaker offsets plus noise, unequal class sizes."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(n_classes, n, p=np.linspace(2, 1, n_classes) / np.linspace(2, 1, n_classes).sum())
    groups = rng.integers(0, n_groups, n)
    X = rng.normal(size=(n, dim)) * rng.uniform(0.5, 3, dim) + rng.normal(size=dim) * 5
    X += strength * rng.normal(size=(n_classes, dim))[codes] + 0.3 * rng.normal(size=(n_groups, dim))[groups]
    return X.astype(np.float32), codes, groups


def fold_tasks(X: np.ndarray, codes: np.ndarray, groups: np.ndarray, class_weight: str = "none",
               permutations: int = 0, seed: int = 0) -> list[FoldTask]:
    """One FoldTask per outer fold of grouped 5-fold CV, codes stacked with `permutations` shuffles."""
    folds = outer_folds(codes, groups.astype(str), cv="group", folds=5, seed=seed)
    stacked = np.vstack([codes, permuted_labels(codes, groups, "within-groups", permutations, seed)])
    return [FoldTask(X, stacked, int(codes.max()) + 1, fold.fit, fold.test, fold.selection,
                     class_weight=class_weight, seed=seed, keep_model=True) for fold in folds.outer]


def test_uar_many_is_the_selection_score():
    rng = np.random.default_rng(1)
    truth, predicted = rng.integers(0, 5, (7, 40)), rng.integers(0, 5, (7, 40))
    truth[0] = np.where(truth[0] == 3, 0, truth[0])  # a class absent from one row
    assert uar_many(truth, predicted, 5).tolist() == [selection_score(t, p) for t, p in zip(truth, predicted)]


def test_class_weight_table_matches_the_spec_rule():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    balanced = class_weight_table("balanced", labels[None], 4)[0]
    np.testing.assert_allclose(balanced, [7 / 12, 7 / 6, 7 / 3, 1.0])
    np.testing.assert_allclose(class_weight_table("sqrt", labels[None], 3)[0], [1.0, np.sqrt(2), 2.0])


@pytest.mark.parametrize("class_weight", ["none", "balanced", "sqrt"])
def test_ridge_equals_a_direct_solve_per_strength(class_weight):
    X, codes, groups = planted()
    reference = RIDGE_REFERENCE
    for task in fold_tasks(X, codes, groups, class_weight, permutations=2)[:2]:
        for ours, theirs in zip(RIDGE.run(task), reference.run(task)):
            np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-12)
            assert ours.chosen == theirs.chosen
            np.testing.assert_array_equal(ours.predicted, theirs.predicted)
        ours, theirs = RIDGE.run(task)[0].model, reference.run(task)[0].model
        np.testing.assert_allclose(ours.coef * 2, theirs.coef, rtol=1e-4, atol=1e-6)  # sklearn scales float32 X in float32; its targets are ±1
        np.testing.assert_allclose(ours.intercept * 2 - 1, theirs.intercept, rtol=1e-4, atol=1e-6)


def test_ridge_two_classes_gives_sklearns_single_row():
    X, codes, groups = planted(n_classes=2)
    task = fold_tasks(X, codes, groups)[0]
    ours, theirs = RIDGE.run(task)[0], RIDGE_REFERENCE.run(task)[0]
    assert ours.model.coef.shape == (1, X.shape[1])
    np.testing.assert_allclose(ours.model.coef, theirs.model.coef, rtol=1e-4, atol=1e-6)  # (class 1 - class 0) = the ±1 fit
    np.testing.assert_allclose(ours.model.intercept, theirs.model.intercept, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(ours.model.predict(X), theirs.model.predict(X))


def permutation_p_value(spec, tasks, n_clips: int) -> float:
    """p-value of pooled out-of-fold UAR, observed (row 0) against the permuted label vectors."""
    outcomes = [spec.run(task) for task in tasks]
    codes = tasks[0].codes
    predicted = np.zeros(codes.shape, dtype=np.int64)
    for task, fold in zip(tasks, outcomes):
        for p, outcome in enumerate(fold):
            predicted[p, task.test_rows] = outcome.predicted
    uar = uar_many(codes, predicted, tasks[0].n_classes)
    return p_value(uar[0], list(uar[1:]))


def test_ridge_permutation_p_value_is_the_slow_paths():
    X, codes, groups = planted(strength=0.15, seed=3)
    tasks = fold_tasks(X, codes, groups, permutations=9, seed=5)
    fast = permutation_p_value(RIDGE, tasks, len(codes))
    assert fast == permutation_p_value(RIDGE_REFERENCE, tasks, len(codes))
    assert fast == permutation_p_value(RIDGE, tasks, len(codes))


def pooled(outcomes, tasks) -> np.ndarray:
    """Out-of-fold predictions of label vector 0, every clip predicted once."""
    predicted = np.zeros(len(tasks[0].codes[0]), dtype=np.int64)
    for task, outcome in zip(tasks, outcomes):
        predicted[task.test_rows] = outcome.predicted
    return predicted


@pytest.mark.parametrize("name", ["linear-svm", "logreg"])
def test_fast_probe_agrees_with_sklearn(name):
    # float64 features: scikit-learn fits float32 input in float32, and at C=1e-4 with balanced
    # weights lbfgs' float32 intercepts decide near-tied predictions (ours match its float64 fit).
    fast, reference = CLASSIFIERS[name], {"linear-svm": LINEAR_SVM_REFERENCE, "logreg": LOGREG_REFERENCE}[name]
    same_c = []
    for n_classes, class_weight in [(4, "none"), (4, "balanced"), (5, "sqrt"), (2, "balanced")]:
        X, codes, groups = planted(n_classes=n_classes, strength=0.4, seed=n_classes)
        tasks = fold_tasks(X.astype(np.float64), codes, groups, class_weight)
        ours, theirs = [fast.run(t)[0] for t in tasks], [reference.run(t)[0] for t in tasks]
        same_c += [a.chosen == b.chosen for a, b in zip(ours, theirs)]
        # Where the chosen C differs, it is a near-tie: the reference scores our choice within 0.01 of its best.
        assert all(b.scores[a.chosen] >= b.scores.max() - 0.01 for a, b in zip(ours, theirs))
        assert max(np.abs(a.scores - b.scores).max() for a, b in zip(ours, theirs)) <= 0.02
        ours_predicted, theirs_predicted = pooled(ours, tasks), pooled(theirs, tasks)
        assert abs(np.mean(ours_predicted == codes) - np.mean(theirs_predicted == codes)) <= 0.01
        assert abs(selection_score(codes, ours_predicted) - selection_score(codes, theirs_predicted)) <= 0.01
        assert ours[0].model.coef.shape == theirs[0].model.coef.shape
    assert np.mean(same_c) >= 0.8


@pytest.mark.parametrize("name", ["linear-svm", "logreg"])
def test_large_fits_keep_the_references_answers(name, monkeypatch):
    # Above LARGE_FIT fitting rows (Speech-Commands size) a sampled Gram matrix preconditions every fit
    # and the refit starts from the selection splits' solutions instead of following the path: 900
    # clips in 20 dims with LARGE_FIT 300 sample the Gram matrix as 84,000 clips in 768 dims do
    # (about 12 rows per dimension).
    monkeypatch.setattr(path_probe, "LARGE_FIT", 300)
    fast, reference = CLASSIFIERS[name], {"linear-svm": LINEAR_SVM_REFERENCE, "logreg": LOGREG_REFERENCE}[name]
    for n_classes, class_weight in [(4, "none"), (4, "balanced"), (5, "sqrt"), (2, "balanced")]:
        X, codes, groups = planted(n=900, dim=20, n_classes=n_classes, strength=0.4, seed=n_classes)
        tasks = fold_tasks(X.astype(np.float64), codes, groups, class_weight)
        assert all(len(task.fit_rows) > 2 * path_probe.LARGE_FIT for task in tasks)
        ours, theirs = [fast.run(t)[0] for t in tasks], [reference.run(t)[0] for t in tasks]
        assert max(np.abs(a.scores - b.scores).max() for a, b in zip(ours, theirs)) <= 0.02
        ours_predicted, theirs_predicted = pooled(ours, tasks), pooled(theirs, tasks)
        assert abs(np.mean(ours_predicted == codes) - np.mean(theirs_predicted == codes)) <= 0.01
        assert abs(selection_score(codes, ours_predicted) - selection_score(codes, theirs_predicted)) <= 0.01


def test_fast_probes_are_deterministic_and_batch_invariant():
    X, codes, groups = planted(strength=0.2, seed=7)
    task = fold_tasks(X, codes, groups, permutations=3, seed=2)[1]
    for spec in CLASSIFIERS.values():
        together = spec.run(task)
        assert [o.chosen for o in together] == [o.chosen for o in spec.run(task)]
        alone = [spec.run(FoldTask(task.X, row[None], task.n_classes, task.fit_rows, task.test_rows, task.selection))[0]
                 for row in task.codes]
        for a, b in zip(together, alone):
            np.testing.assert_array_equal(a.predicted, b.predicted)
            assert a.chosen == b.chosen
