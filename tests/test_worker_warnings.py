"""Warnings raised inside joblib worker processes (a ConvergenceWarning of a fit run with n_jobs=2) are
caught by the job and land in the record's warnings; nothing reaches stderr from a worker, so a
one-line error is the only line a failing command prints."""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from conftest import planted_data
from sklearn.exceptions import ConvergenceWarning

from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.probes.classifiers import CLASSIFIERS
from layerprobe.probes.evaluate import Plan, evaluate_candidates
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.records import record

MESSAGE = "lbfgs failed to converge after 3 iteration(s) (status=1):\nSTOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"


def _warning_probe():
    """ridge, warning ConvergenceWarning in every job as a library's fit would (defined here, so
    that the worker processes receive it by value)."""
    ridge = CLASSIFIERS["ridge"]

    def run(task):
        warnings.warn(MESSAGE, ConvergenceWarning, stacklevel=2)
        return ridge.run(task)
    return replace(ridge, run=run)


def _evaluate(n_jobs: int):
    labels, groups, layers = planted_data(n_groups=4, per_cell=3, dim=8)
    classes, codes = np.unique(labels, return_inverse=True)
    folds = outer_folds(labels, groups, folds=4, seed=0)
    plan = Plan(codes[None, :], len(classes), folds, "none", 0)
    [candidate] = evaluate_candidates([(1, lambda: layers[1])], [_warning_probe()], plan, n_jobs, False)
    return record(candidate, codes, classes, folds, "none")


def test_a_workers_convergence_warning_lands_in_the_record_and_not_on_stderr(capfd):
    for n_jobs in (2, 1):
        found = _evaluate(n_jobs)
        assert found.warnings == ["layer 1 ridge: its fits warned: ConvergenceWarning: lbfgs failed to converge "
                                  "after 3 iteration(s) (status=1):"]
    assert capfd.readouterr().err == ""


def test_nothing_from_the_workers_prints_before_a_one_line_error(capfd):
    def command(args):
        _evaluate(2)
        raise UserError("the cache changed while it was probed")
    assert run_cli(command, ArgumentParser(prog="probe"), []) == 2
    assert capfd.readouterr().err == "error: the cache changed while it was probed\n"
