"""Solvers say when they did not converge, and --solver reference reruns a probe with scikit-learn."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import run_sweep, write_probe_cache
from layerprobe.probes import linear_svm, logreg, mlp, newton, path_probe
from layerprobe.probes.cli import main
from layerprobe.probes.newton import MAX_HALVINGS, Problem, solve_path
from test_probe_solvers import fold_tasks, planted


def test_a_failed_line_search_leaves_the_fit_where_it_was_and_says_so():
    X, codes, groups = planted(n=120, dim=8, n_classes=3)
    task = fold_tasks(X, codes, groups)[0]
    design = path_probe.design(task, task.fit_rows)
    labels = codes[task.fit_rows]
    honest = logreg._loss(labels, np.ones(len(labels)))

    def rigged(scores, columns):  # every move away from zero looks worse than staying
        at = honest(scores, columns)
        return replace(at, value=at.value + 1e6 * np.abs(scores).sum())

    penalized = np.ones((design.features.shape[1], 1))
    start = np.zeros((design.features.shape[1], 3))
    solved = solve_path(Problem(design, rigged, penalized, separable=False), start, [1.0], tol=1e-4, forcing=0.1)
    assert solved.unconverged == [(0, f"the line search found no decrease in {MAX_HALVINGS} halvings; "
                                      "stopped at the last accepted point")]
    assert not solved.solutions[0].any()  # the failed step was not taken


@pytest.mark.parametrize("classifier, solver, module, cap, message", [
    ("logreg", "fast", newton, "MAX_NEWTON", "Newton-CG stopped after 1 steps at"),
    ("linear-svm", "fast", newton, "MAX_NEWTON", "Newton-CG stopped after 1 steps at"),
    ("logreg", "reference", logreg, "REFERENCE_MAX_ITER", "lbfgs failed to converge"),
    ("linear-svm", "reference", linear_svm, "REFERENCE_MAX_ITER", "Liblinear failed to converge"),
    ("mlp", "fast", mlp, "MAX_ITER", "Maximum iterations (1) reached"),
])
def test_a_fit_that_did_not_converge_is_named_in_its_record_and_on_the_terminal(
        planted_probe_cache, capsys, monkeypatch, classifier, solver, module, cap, message):
    monkeypatch.setattr(module, cap, 1)
    assert main([str(planted_probe_cache), "--layer", "2", "--classifier", classifier, "--solver", solver,
                 "--n-jobs", "1", "--format", "json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out)["results"][0]
    named = [line for line in record["warnings"] if "did not converge" in line]
    assert len(named) == 1 and named[0].startswith(f"layer 2 {classifier}: the solver did not converge in 5 of 5 folds")
    assert message in named[0] and "\n" not in named[0]
    assert f"warning: {named[0]}" in err


def test_converged_fits_say_nothing(planted_probe_cache):
    records = run_sweep(planted_probe_cache, layers=2, n_jobs=1).records
    assert not [line for record in records for line in record.warnings if "converge" in line]


def test_the_reference_solver_chooses_and_predicts_as_the_fast_one(tmp_path):
    # The tolerance of test_probe_solvers: the same C in most folds, pooled accuracy and UAR within 0.01, on
    # data whose probes choose C inside the grid (3-fold CV: lbfgs takes ~0.1 s a fit even here).
    X, codes, groups = planted(n=240, dim=20, n_classes=3, strength=0.4, seed=3)
    cache = write_probe_cache(tmp_path / "c.h5", {0: X}, np.array([f"c{k}" for k in codes]),
                              np.array([f"g{g}" for g in groups]))
    fast, reference = (run_sweep(cache, layers=0, classifiers=["logreg", "linear-svm", "ridge"], cv="group", folds=3,
                                 n_jobs=1, solver=solver).records for solver in ("fast", "reference"))
    same_params = []
    for ours, theirs in zip(fast, reference):
        assert (ours.layer, ours.classifier) == (theirs.layer, theirs.classifier)
        same_params += [a == b for a, b in zip(ours.params, theirs.params)]
        for metric in ("accuracy", "balanced_accuracy"):
            assert abs(getattr(ours, metric).value - getattr(theirs, metric).value) <= 0.01
    assert np.mean(same_params) >= 0.8 and len({str(p) for r in fast for p in r.params}) > 2  # not one edge C
