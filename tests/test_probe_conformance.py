"""Every registered probe keeps the contract the evaluation relies on: a probe registered is a probe tested.

Identical reruns; no test row ever reaches fitting or selection; save and load give the same
predictions; a batch of label vectors gives what each gives alone. A probe that reads one layer is
given one matrix; one that reads every layer (weighted-sum) a LayerStack of three.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from layerprobe.probes.layer_stack import LayerStack
from layerprobe.probes.registry import probe_names, probe_spec
from layerprobe.probes.saved_probe import load_probe, save_probe
from test_probe_solvers import fold_tasks, planted

NAMES = probe_names()
ONE_LAYER = [name for name in NAMES if probe_spec(name).reads == "layer"]


@pytest.fixture(scope="module")
def tasks():
    """By what a probe reads, outer fold 1 of grouped CV on planted data (3 classes, 24 dims), the observed
    labels and permutations: the matrix itself (2 permutations), or a stack of three layers (noise, the
    matrix, and a weaker copy of it plus noise; 1 permutation)."""
    X, codes, groups = planted(n=180, dim=24, n_classes=3, strength=0.6, seed=4)
    task = fold_tasks(X, codes, groups, permutations=2, seed=1)[1]
    rng = np.random.default_rng(5)
    noise = rng.normal(size=X.shape).astype(np.float32)
    weaker = (0.5 * X + rng.normal(size=X.shape)).astype(np.float32)
    # One permutation, not two, for the stack: its fits cost several times one layer's.
    return {"layer": task, "all-layers": replace(task, X=LayerStack((0, 4, 8), (noise, X, weaker)), codes=task.codes[:2])}


@pytest.fixture(params=NAMES)
def probe(request, tasks):
    """(spec, its task) for every registered probe."""
    spec = probe_spec(request.param)
    return spec, tasks[spec.reads]


def poisoned(X, rows: np.ndarray):
    """X (a matrix, or a LayerStack) with `rows` of every matrix replaced by values of order 1e12."""
    rng = np.random.default_rng(0)

    def poison(matrix: np.ndarray) -> np.ndarray:
        out = matrix.copy()
        out[rows] = rng.normal(size=(len(rows), matrix.shape[1])) * 1e12
        return out

    return LayerStack(X.indices, tuple(poison(m) for m in X)) if isinstance(X, LayerStack) else poison(X)


def test_a_probe_reads_one_layer_or_all_of_them(tasks):
    assert {probe_spec(name).reads for name in NAMES} == set(tasks)


def same_outcome(a, b) -> None:
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.chosen == b.chosen
    np.testing.assert_array_equal(a.predicted, b.predicted)


def same_weights(a, b) -> None:
    """The same layer weights (None for a probe that reads one layer)."""
    assert (a.layer_weights is None) == (b.layer_weights is None)
    if a.layer_weights is not None:
        np.testing.assert_array_equal(a.layer_weights, b.layer_weights)


def test_the_registry_holds_the_linear_probes_the_mlp_and_the_weighted_sum():
    assert NAMES == ["logreg", "linear-svm", "ridge", "mlp", "weighted-sum"]
    assert all(probe_spec(name).name == name for name in NAMES)
    assert ONE_LAYER == ["logreg", "linear-svm", "ridge", "mlp"] and probe_spec("weighted-sum").reads == "all-layers"


def test_a_rerun_is_identical(probe):
    spec, task = probe
    first, again = spec.run(task), spec.run(task)
    for a, b in zip(first, again):
        same_outcome(a, b)
        same_weights(a, b)
    np.testing.assert_array_equal(first[0].decision, again[0].decision)
    for key, value in first[0].model.arrays().items():
        np.testing.assert_array_equal(value, again[0].model.arrays()[key])


def test_no_test_row_reaches_fitting_or_selection(probe):
    # Test rows replaced by huge values: any fit, scaling or selection that saw one would change.
    spec, task = probe
    clean, dirty = spec.run(task)[0], spec.run(replace(task, X=poisoned(task.X, task.test_rows)))[0]
    np.testing.assert_array_equal(clean.scores, dirty.scores)
    assert clean.chosen == dirty.chosen
    same_weights(clean, dirty)
    for key, value in clean.model.arrays().items():
        np.testing.assert_array_equal(value, dirty.model.arrays()[key])
    assert not np.array_equal(clean.decision, dirty.decision)  # the poison did reach the predictions


def test_save_and_load_give_the_same_predictions(probe, tmp_path):
    spec, task = probe
    outcome = spec.run(task)[0]
    classes = [f"class{k}" for k in range(task.n_classes)]
    meta = {"layer": 3, "classifier": spec.name, "model": "m"}
    if isinstance(task.X, LayerStack):
        meta.update(layer="all", layers=list(task.X.indices))
    loaded = load_probe(save_probe(outcome.model, classes, tmp_path / f"{spec.name}.npz", meta))
    assert type(loaded.model) is spec.model
    np.testing.assert_array_equal(loaded.decision_function(task.X), outcome.model.decision_function(task.X))
    np.testing.assert_array_equal(loaded.model.classes(loaded.model.decision_function(task.X, task.test_rows)),
                                  outcome.predicted)
    test_rows = [matrix[task.test_rows] for matrix in task.X] if isinstance(task.X, LayerStack) \
        else task.X[task.test_rows]
    np.testing.assert_array_equal(loaded.model.predict(test_rows), outcome.predicted)
    np.testing.assert_array_equal(loaded.predict(test_rows), np.array(classes)[outcome.predicted])


def test_a_batch_of_label_vectors_is_each_one_alone(probe):
    spec, task = probe
    together = spec.run(task)
    assert len(together) == len(task.codes)
    for row, batched in zip(task.codes, together):
        alone = spec.run(replace(task, codes=row[None], keep_model=False))[0]
        same_outcome(batched, alone)
        same_weights(batched, alone)
