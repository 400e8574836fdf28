"""The baselines' default classifiers (the probes' linear ones; svm-rbf on request), their own progress
bar, and jobs submitted fold by fold so that the bar's rate holds for the rest of the run."""
from __future__ import annotations

import json

import numpy as np
from conftest import planted_data
from test_baseline_compute import write_dataset

from layerprobe.baselines.classifiers import SVM_RBF
from layerprobe.baselines.cli import main
from layerprobe.probes import evaluate
from layerprobe.probes.classifiers import CLASSIFIERS
from layerprobe.probes.evaluate import Plan, evaluate_candidates
from layerprobe.probes.protocols import outer_folds


def test_the_default_is_the_linear_probes_and_its_bar_says_baseline_fits(tmp_path, capsys):
    data = write_dataset(tmp_path / "data", per_cell=3)
    assert main([str(data), "--out", str(tmp_path / "run"), "--n-jobs", "1", "--format", "json"]) == 0
    captured = capsys.readouterr()
    pairs = [(r["layer"], r["classifier"]) for r in json.loads(captured.out)["results"]]
    assert pairs == [("mfcc", "logreg"), ("mfcc", "linear-svm"), ("mfcc", "ridge"), ("selected", "selected"),
                     ("chance", "majority"), ("chance", "stratified-random")]
    assert "baseline fits" in captured.err and "probe fits" not in captured.err


def test_jobs_are_submitted_fold_by_fold_over_the_probes(monkeypatch):
    labels, groups, layers = planted_data(n_groups=4, per_cell=2)
    folds = outer_folds(labels, groups, folds=3, seed=0)
    classes, codes = np.unique(labels, return_inverse=True)
    submitted = []

    def record_order(jobs, *args, **kwargs):
        submitted.extend(job.key for job in jobs)
        return {}

    monkeypatch.setattr(evaluate, "run_jobs", record_order)
    monkeypatch.setattr(evaluate, "candidate", lambda *args: None)
    plan = Plan(codes[None, :], len(classes), folds, "none", 0)
    specs = [SVM_RBF, CLASSIFIERS["ridge"]]
    evaluate_candidates([(0, lambda: layers[0]), (1, lambda: layers[1])], specs, plan, 1, False)
    expected = [((layer, spec.name), fold, 0) for layer in (0, 1) for fold in [0, 1, 2] for spec in specs]
    assert submitted == expected
