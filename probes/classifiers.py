"""The probes: a StandardScaler + linear classifier Pipeline whose C is chosen by inner CV.

A `ProbeSpec` says how to build the tuned estimator for one outer fold; baselines build their own
specs (e.g. an RBF SVM over a C x gamma grid) with `grid_search_spec` and reuse everything else.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.errors import UserError
from layerprobe.probes.protocols import Split

# Inverse regularisation strengths tried by the inner CV. On standardized embeddings (hundreds of
# dimensions, thousands of clips) the chosen C sits at 1e-3..1e-1; larger C only fits the
# training speakers harder. LinearSVC's dual solver needs ~10x more epochs per decade of C
# (0.3 s at C=1e-3, 1.5 s at C=0.1, 3 s at C=1 for 1,700 x 768 x 10 classes), so its grid stops at
# 0.1 where logistic regression's, cheap along a warm-started path, goes on to 1.
C_GRID = tuple(float(c) for c in np.logspace(-4, 0, 5))
SVM_C_GRID = C_GRID[:-1]
CLASS_WEIGHTS = ("none", "balanced", "sqrt")
# Selecting C by unweighted average recall keeps a rare class from being traded away for accuracy.
SELECTION_SCORING = "balanced_accuracy"
SQRT_WEIGHT_CAP = 3.0

ClassWeight = dict | str | None


@dataclass(frozen=True)
class ProbeSpec:
    """How to build one tuned classifier.

    name: what records call it ("logreg"). build(class_weight, inner): an unfitted estimator whose
    fit(X, y) chooses hyperparameters on the `inner` (train, validation) splits of X and refits on
    all of X; it predicts like a classifier. chosen(fitted): the hyperparameters it chose, e.g. {"C": 0.01}.
    """

    name: str
    build: Callable[[ClassWeight, list[Split]], BaseEstimator]
    chosen: Callable[[BaseEstimator], dict[str, float]]


def grid_search_spec(name: str, pipeline: Callable[[ClassWeight], Pipeline], param_grid: dict) -> ProbeSpec:
    """A spec that tunes `pipeline(class_weight)` with GridSearchCV over `param_grid` on the inner splits.

    param_grid uses Pipeline names, e.g. {"clf__C": [...]}; chosen() strips the step prefix.
    """

    def build(class_weight: ClassWeight, inner: list[Split]) -> BaseEstimator:
        return GridSearchCV(pipeline(class_weight), param_grid, cv=inner, scoring=SELECTION_SCORING, n_jobs=1)

    def chosen(fitted: BaseEstimator) -> dict[str, float]:
        return {key.split("__")[-1]: value for key, value in fitted.best_params_.items()}

    return ProbeSpec(name, build, chosen)


def _logreg_build(class_weight: ClassWeight, inner: list[Split]) -> Pipeline:
    # LogisticRegressionCV warm-starts along the C path in each inner fold: one path per fold
    # instead of one cold fit per (fold, C) as GridSearchCV would do. The scaler is fitted on the
    # whole outer training part, so inner validation folds see its mean and scale: unsupervised,
    # and the outer test fold never does.
    return Pipeline([
        ("scale", StandardScaler()),
        ("clf", LogisticRegressionCV(Cs=list(C_GRID), l1_ratios=(0.0,), cv=inner, scoring=SELECTION_SCORING,
                                     class_weight=class_weight, max_iter=2000, tol=1e-3,
                                     use_legacy_attributes=False)),
    ])


def _linear_svm_pipeline(class_weight: ClassWeight) -> Pipeline:
    # dual=True: measured on 768-dim embeddings (bench/README.md), liblinear's primal solver needs
    # minutes at C >= 1 where the dual needs seconds, although n_samples > n_features.
    return Pipeline([
        ("scale", StandardScaler()),
        # tol 1e-2 instead of 1e-4: a third fewer epochs, validation accuracy equal to the third decimal.
        ("clf", LinearSVC(class_weight=class_weight, dual=True, max_iter=10000, tol=1e-2)),
    ])


LOGREG = ProbeSpec("logreg", _logreg_build, lambda fitted: {"C": float(fitted[-1].C_)})
LINEAR_SVM = grid_search_spec("linear-svm", _linear_svm_pipeline, {"clf__C": list(SVM_C_GRID)})
CLASSIFIERS = {spec.name: spec for spec in (LOGREG, LINEAR_SVM)}


def classifier_specs(choice: str) -> list[ProbeSpec]:
    """The specs for --classifier: "logreg", "linear-svm" or "all" (default)."""
    if choice == "all":
        return list(CLASSIFIERS.values())
    if choice not in CLASSIFIERS:
        raise UserError(f"unknown classifier {choice!r}; choose from {', '.join(CLASSIFIERS)}, all")
    return [CLASSIFIERS[choice]]


def class_weights(mode: str, labels: np.ndarray) -> ClassWeight:
    """The class_weight argument for one training part.

    mode: "none" (every clip counts once), "balanced" (sklearn's n / (k * count_c)), or "sqrt":
    weight_c = min(sqrt(max_count / count_c), 3), which lifts rare classes without letting a
    handful of clips dominate. labels: the training labels the weights are computed from.
    """
    if mode == "none":
        return None
    if mode == "balanced":
        return "balanced"
    if mode == "sqrt":
        classes, counts = np.unique(labels, return_counts=True)
        weights = np.minimum(np.sqrt(counts.max() / counts), SQRT_WEIGHT_CAP)
        return {c: float(w) for c, w in zip(classes.tolist(), weights)}
    raise UserError(f"unknown class weighting {mode!r}; choose from {', '.join(CLASS_WEIGHTS)}")


def fitted_pipeline(fitted: BaseEstimator) -> Pipeline:
    """The refitted Pipeline(scaler, classifier) inside a tuned estimator (GridSearchCV or Pipeline)."""
    return getattr(fitted, "best_estimator_", fitted)
