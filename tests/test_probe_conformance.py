"""Every registered probe keeps the contract the evaluation relies on: a probe registered is a probe tested.

Identical reruns; no test row ever reaches fitting or selection; save and load give the same
predictions; a batch of label vectors gives what each gives alone.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from layerprobe.probes.registry import probe_names, probe_spec
from layerprobe.probes.saved_probe import load_probe, save_probe
from test_probe_solvers import fold_tasks, planted

NAMES = probe_names()
# The probes that read one layer's matrix; weighted-sum reads every layer (tests/test_weighted_sum_probe.py).
ONE_LAYER = [name for name in NAMES if probe_spec(name).reads == "layer"]


@pytest.fixture(scope="module")
def task():
    """Outer fold 1 of grouped CV on planted data (3 classes, 24 dims), the observed labels and 2 permutations."""
    X, codes, groups = planted(n=180, dim=24, n_classes=3, strength=0.6, seed=4)
    return fold_tasks(X, codes, groups, permutations=2, seed=1)[1]


def same_outcome(a, b) -> None:
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.chosen == b.chosen
    np.testing.assert_array_equal(a.predicted, b.predicted)


def test_the_registry_holds_the_linear_probes_the_mlp_and_the_weighted_sum():
    assert NAMES == ["logreg", "linear-svm", "ridge", "mlp", "weighted-sum"]
    assert all(probe_spec(name).name == name for name in NAMES)
    assert ONE_LAYER == ["logreg", "linear-svm", "ridge", "mlp"] and probe_spec("weighted-sum").reads == "all-layers"


@pytest.mark.parametrize("name", ONE_LAYER)
def test_a_rerun_is_identical(name, task):
    spec = probe_spec(name)
    first, again = spec.run(task), spec.run(task)
    for a, b in zip(first, again):
        same_outcome(a, b)
    np.testing.assert_array_equal(first[0].decision, again[0].decision)
    for key, value in first[0].model.arrays().items():
        np.testing.assert_array_equal(value, again[0].model.arrays()[key])


@pytest.mark.parametrize("name", ONE_LAYER)
def test_no_test_row_reaches_fitting_or_selection(name, task):
    # Test rows replaced by huge values: any fit, scaling or selection that saw one would change.
    poisoned = task.X.copy()
    poisoned[task.test_rows] = np.random.default_rng(0).normal(size=(len(task.test_rows), task.X.shape[1])) * 1e12
    spec = probe_spec(name)
    clean, dirty = spec.run(task)[0], spec.run(replace(task, X=poisoned))[0]
    np.testing.assert_array_equal(clean.scores, dirty.scores)
    assert clean.chosen == dirty.chosen
    for key, value in clean.model.arrays().items():
        np.testing.assert_array_equal(value, dirty.model.arrays()[key])
    assert not np.array_equal(clean.decision, dirty.decision)  # the poison did reach the predictions


@pytest.mark.parametrize("name", ONE_LAYER)
def test_save_and_load_give_the_same_predictions(name, task, tmp_path):
    spec = probe_spec(name)
    outcome = spec.run(task)[0]
    classes = [f"class{k}" for k in range(task.n_classes)]
    path = save_probe(outcome.model, classes, tmp_path / f"{name}.npz", {"layer": 3, "classifier": name, "model": "m"})
    loaded = load_probe(path)
    assert type(loaded.model) is spec.model
    np.testing.assert_array_equal(loaded.decision_function(task.X), outcome.model.decision_function(task.X))
    np.testing.assert_array_equal(loaded.model.predict(task.X[task.test_rows]), outcome.predicted)
    np.testing.assert_array_equal(loaded.predict(task.X[task.test_rows]), np.array(classes)[outcome.predicted])


@pytest.mark.parametrize("name", ONE_LAYER)
def test_a_batch_of_label_vectors_is_each_one_alone(name, task):
    spec = probe_spec(name)
    together = spec.run(task)
    assert len(together) == len(task.codes)
    for row, batched in zip(task.codes, together):
        same_outcome(batched, spec.run(replace(task, codes=row[None], keep_model=False))[0])
