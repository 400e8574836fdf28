"""The baseline classifiers as probe specs, so they run through the probe engine unchanged:
an RBF SVM tuned over C x gamma, the probe's own logreg and linear SVM, and two chance levels."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from layerprobe.errors import UserError
from layerprobe.probes.classifiers import CLASSIFIERS, ClassWeight, ProbeSpec, grid_search_spec

# On standardised features gamma = 1/F is the usual centre ("scale"): 0.004 for 240 MFCC
# statistics, 0.011 for 88 eGeMAPS functionals; this grid spans it for F from 10 to 10,000.
SVM_C_GRID = (0.1, 1.0, 10.0, 100.0)
SVM_GAMMA_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
CHANCE_LAYER = "chance"


def _svm_rbf_pipeline(class_weight: ClassWeight) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", SVC(kernel="rbf", class_weight=class_weight))])


SVM_RBF = grid_search_spec("svm-rbf", _svm_rbf_pipeline, {"clf__C": list(SVM_C_GRID), "clf__gamma": list(SVM_GAMMA_GRID)})
BASELINE_CLASSIFIERS = {"svm-rbf": SVM_RBF, **CLASSIFIERS}


def baseline_specs(names: Sequence[str]) -> list[ProbeSpec]:
    """The specs for classifier names from BASELINE_CLASSIFIERS ("svm-rbf", "logreg", "linear-svm")."""
    unknown = [name for name in names if name not in BASELINE_CLASSIFIERS]
    if unknown:
        raise UserError(f"unknown classifier {unknown[0]!r}; choose from {', '.join(BASELINE_CLASSIFIERS)}")
    return [BASELINE_CLASSIFIERS[name] for name in names]


def chance_specs(seed: int) -> list[ProbeSpec]:
    """Classifiers that ignore X: "majority" (the training part's most frequent class) and
    "stratified-random" (guesses drawn with the training part's class frequencies, seeded by `seed`).
    Class weights do not apply to them."""

    def dummy(name: str, strategy: str) -> ProbeSpec:
        def build(class_weight: ClassWeight, inner: list) -> DummyClassifier:
            return DummyClassifier(strategy=strategy, random_state=seed)

        return ProbeSpec(name, build, lambda fitted: {})

    return [dummy("majority", "most_frequent"), dummy("stratified-random", "stratified")]


def chance_input(n_clips: int) -> np.ndarray:
    """The X a chance classifier is given: one constant column (it is never looked at)."""
    return np.zeros((n_clips, 1), dtype=np.float32)
