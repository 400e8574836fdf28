"""The probes by name: logistic regression and a linear SVM, each after a StandardScaler, C chosen
on the selection splits. The scikit-learn versions here are the reference every faster solver is
tested against (same folds, same grid: same scores and the same chosen C).
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.errors import UserError
from layerprobe.probes.spec import CLASS_WEIGHTS, ClassWeight, ProbeSpec, sklearn_spec

__all__ = ["CLASS_WEIGHTS", "CLASSIFIERS", "C_GRID", "LINEAR_SVM_REFERENCE", "LOGREG_REFERENCE", "classifier_specs"]

# Inverse regularisation strengths tried on the selection splits. On standardized embeddings
# (hundreds of dimensions, thousands of clips) the chosen C sits at 1e-3..1e-1; larger C only fits
# the training speakers harder.
C_GRID = tuple(float(c) for c in np.logspace(-4, 0, 5))


def _logreg(class_weight: ClassWeight, seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(class_weight=class_weight, max_iter=2000, tol=1e-4))])


def _linear_svm(class_weight: ClassWeight, seed: int) -> Pipeline:
    # random_state: liblinear's dual coordinate descent visits the samples in a seeded random order.
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LinearSVC(class_weight=class_weight, dual=True, max_iter=20000, random_state=seed))])


LOGREG_REFERENCE = sklearn_spec("logreg", _logreg, [{"C": c} for c in C_GRID])
LINEAR_SVM_REFERENCE = sklearn_spec("linear-svm", _linear_svm, [{"C": c} for c in C_GRID])
CLASSIFIERS: dict[str, ProbeSpec] = {spec.name: spec for spec in (LOGREG_REFERENCE, LINEAR_SVM_REFERENCE)}


def classifier_specs(choice: str) -> list[ProbeSpec]:
    """The specs for --classifier: a name of CLASSIFIERS or "all" (default)."""
    if choice == "all":
        return list(CLASSIFIERS.values())
    if choice not in CLASSIFIERS:
        raise UserError(f"unknown classifier {choice!r}; choose from {', '.join(CLASSIFIERS)}, all")
    return [CLASSIFIERS[choice]]
