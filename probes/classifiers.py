"""The probes by name: logistic regression and a linear SVM, each after a StandardScaler, C chosen
on the selection splits, and ridge (its strength chosen the same way). The probes run on batched
Newton-CG and eigendecomposition solvers; the scikit-learn versions here are the reference those are
tested against (same folds, same grid: same scores and the same chosen C).
"""
from __future__ import annotations

from collections.abc import Sequence

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.errors import UserError
from layerprobe.probes.grids import LINEAR_SVM_C_GRID, LOGREG_C_GRID
from layerprobe.probes.linear_svm import LINEAR_SVM
from layerprobe.probes.logreg import LOGREG
from layerprobe.probes.ridge import RIDGE
from layerprobe.probes.spec import CLASS_WEIGHTS, ClassWeight, ProbeSpec, sklearn_spec

__all__ = ["CLASS_WEIGHTS", "CLASSIFIERS", "LINEAR_SVM_C_GRID", "LINEAR_SVM_REFERENCE", "LOGREG_C_GRID",
           "LOGREG_REFERENCE", "classifier_specs"]


def _logreg(class_weight: ClassWeight, seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(class_weight=class_weight, max_iter=2000, tol=1e-4))])


def _linear_svm(class_weight: ClassWeight, seed: int) -> Pipeline:
    # random_state: liblinear's dual coordinate descent visits the samples in a seeded random order.
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LinearSVC(class_weight=class_weight, dual=True, max_iter=20000, random_state=seed))])


LOGREG_REFERENCE = sklearn_spec("logreg", _logreg, [{"C": c} for c in LOGREG_C_GRID], score_kind=LOGREG.score_kind)
LINEAR_SVM_REFERENCE = sklearn_spec("linear-svm", _linear_svm, [{"C": c} for c in LINEAR_SVM_C_GRID],
                                    score_kind=LINEAR_SVM.score_kind)
CLASSIFIERS: dict[str, ProbeSpec] = {"logreg": LOGREG, "linear-svm": LINEAR_SVM, "ridge": RIDGE}


def classifier_specs(choice: str | Sequence[str]) -> list[ProbeSpec]:
    """The specs for --classifier: "all" (default), a name of CLASSIFIERS, or a sequence of names."""
    if choice == "all":
        return list(CLASSIFIERS.values())
    chosen = [choice] if isinstance(choice, str) else list(choice)
    for name in chosen:
        if name not in CLASSIFIERS:
            raise UserError(f"unknown classifier {name!r}; choose from {', '.join(CLASSIFIERS)}, all")
    return [CLASSIFIERS[name] for name in chosen]
