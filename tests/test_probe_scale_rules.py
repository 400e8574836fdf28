"""The rules that keep Speech-Commands-size probing within memory and time: selection training parts
subsampled by whole groups above SELECTION_ROWS, and standardization a block of rows at a time."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from layerprobe.probes import path_probe, protocols, ridge, standardize
from layerprobe.probes.classifiers import CLASSIFIERS
from layerprobe.probes.protocols import final_fold, outer_folds
from tests.test_probe_solvers import fold_tasks, planted


def test_selection_parts_below_the_cap_are_untouched():
    X, codes, groups = planted()
    folds = outer_folds(codes, groups.astype(str), cv="group", folds=5, seed=0)
    for fold in folds.outer:
        inner = protocols.inner_splits(codes[fold.fit], groups.astype(str)[fold.fit], 0)
        for (train, validation), (inner_train, inner_validation) in zip(fold.selection, inner):
            np.testing.assert_array_equal(train, fold.fit[inner_train])
            np.testing.assert_array_equal(validation, fold.fit[inner_validation])
    assert "subsample" not in folds.reason


def test_large_selection_parts_keep_whole_groups_up_to_the_cap(monkeypatch):
    monkeypatch.setattr(protocols, "SELECTION_ROWS", 120)
    _, codes, groups = planted(n=600, n_groups=40)
    names = groups.astype(str)
    folds = outer_folds(codes, names, cv="group", folds=5, seed=0)
    assert folds.reason.endswith("hyperparameters chosen on 120-clip subsamples of whole groups of each "
                                 "selection training part")
    for fold in folds.outer:
        inner = protocols.inner_splits(codes[fold.fit], names[fold.fit], 0)
        for (train, validation), (inner_train, inner_validation) in zip(fold.selection, inner):
            full = fold.fit[inner_train]
            assert 100 <= len(train) <= 120 < len(full)
            assert np.isin(train, full).all() and (np.diff(train) > 0).all()
            kept = np.unique(names[train])
            np.testing.assert_array_equal(np.sort(full[np.isin(names[full], kept)]), train)  # whole groups
            np.testing.assert_array_equal(validation, fold.fit[inner_validation])
    again = outer_folds(codes, names, cv="group", folds=5, seed=0)
    for a, b in zip(folds.outer, again.outer):
        for (train_a, _), (train_b, _) in zip(a.selection, b.selection):
            np.testing.assert_array_equal(train_a, train_b)
    saved = final_fold(codes, folds)
    assert all(len(train) <= 120 for train, _ in saved.selection)


def test_scaling_in_blocks_is_standard_scalers(monkeypatch):
    monkeypatch.setattr(standardize, "BLOCK_ROWS", 7)
    X, _, _ = planted(n=100)
    rows = np.arange(3, 97, 2)
    mean, scale = standardize.scaling(X, rows)
    reference = StandardScaler().fit(X[rows].astype(np.float64))
    np.testing.assert_allclose(mean, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(scale, reference.scale_, rtol=1e-10)
    blocks = list(standardize.standardized_blocks(X, rows, mean, scale))
    assert len(blocks) == 7
    np.testing.assert_allclose(np.vstack([block for _, block in blocks]), reference.transform(X[rows].astype(np.float64)), atol=1e-10)


def test_float32_blocks_keep_the_spread_beside_a_large_mean():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(300, 4)) + np.array([0.0, 1e4, -3e3, 50.0])).astype(np.float32)
    rows = np.arange(0, 300, 3)
    mean, scale = standardize.scaling(X, rows)
    exact = np.vstack([block for _, block in standardize.standardized_blocks(X, rows, mean, scale)])
    single = np.vstack([block for _, block in standardize.standardized_blocks(X, rows, mean, scale, dtype=np.float32)])
    assert single.dtype == np.float32
    # The mean rounded to float32 alone would shift the second feature by up to 5e-4 of its spread.
    np.testing.assert_allclose(single, exact, atol=2e-6)


@pytest.mark.parametrize("name", ["ridge", "logreg", "linear-svm"])
def test_probes_answer_the_same_whatever_the_block_size(monkeypatch, name):
    X, codes, groups = planted(strength=0.3, seed=4)
    task = fold_tasks(X, codes, groups, "balanced")[2]
    whole = CLASSIFIERS[name].run(task)[0]
    monkeypatch.setattr(standardize, "BLOCK_ROWS", 16)
    blocked = CLASSIFIERS[name].run(task)[0]
    assert blocked.chosen == whole.chosen
    np.testing.assert_allclose(blocked.scores, whole.scores)
    np.testing.assert_array_equal(blocked.predicted, whole.predicted)
    np.testing.assert_allclose(blocked.model.coef, whole.model.coef, rtol=1e-4, atol=1e-6)


def test_ridge_scores_a_wide_permutation_batch_in_slabs(monkeypatch):
    X, codes, groups = planted(strength=0.3, seed=4)
    task = fold_tasks(X, codes, groups, permutations=30)[1]  # 31 label vectors x 4 classes: wider than X
    monkeypatch.setattr(standardize, "BLOCK_ROWS", 16)
    whole = CLASSIFIERS["ridge"].run(task)
    monkeypatch.setattr(ridge, "SLAB_ENTRIES", 5 * 31 * 4 + 3)  # 5 rows at a time within each block
    sliced = CLASSIFIERS["ridge"].run(task)
    for a, b in zip(whole, sliced):
        assert a.chosen == b.chosen
        np.testing.assert_allclose(a.scores, b.scores)
        np.testing.assert_array_equal(a.predicted, b.predicted)


def test_restandardized_weights_give_the_same_scores():
    X, codes, groups = planted(n=200)
    task = fold_tasks(X, codes, groups)[0]
    source = path_probe.design(task, task.fit_rows[::2])
    target = path_probe.design(task, task.fit_rows, like=source)
    W = np.random.default_rng(0).normal(size=(X.shape[1] + 1, 4))
    moved = path_probe.restandardized(W, source, target)
    scores = lambda design, weights: ((X - design.mean) / design.scale) @ weights[:-1] + weights[-1]
    np.testing.assert_allclose(scores(target, moved), scores(source, W), rtol=1e-9, atol=1e-9)
