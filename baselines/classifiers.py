"""The baseline classifiers as probe specs, so they run through the probe engine unchanged:
an RBF SVM tuned over C x gamma, the probe's own linear classifiers, and two chance levels."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from layerprobe.errors import UserError
from layerprobe.probes.classifiers import CLASSIFIERS
from layerprobe.probes.detection import ScoreKind
from layerprobe.probes.spec import ClassWeight, ProbeSpec, sklearn_spec

# On standardised features gamma = 1/F is the usual centre ("scale"): 0.004 for 240 MFCC
# statistics, 0.011 for 88 eGeMAPS functionals. The grid spans it for F from 10 to 100,000, and C
# reaches 1e4: a narrower grid left C at its top in 8 of 10 EMO-DB folds.
SVM_C_GRID = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4)
SVM_GAMMA_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
CHANCE_LAYER = "chance"


def _svm_rbf(class_weight: ClassWeight, seed: int) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", SVC(kernel="rbf", class_weight=class_weight,
                                                              random_state=seed))])


# SVC trains one-vs-one; its decision_function (shape "ovr") gives each class its pairwise wins plus
# a bounded (|x| < 1/3) sum of their confidences: a per-class score, monotone in that class's wins.
SVM_RBF_SCORE_KIND = ScoreKind("one-vs-one votes per class plus a bounded sum of their confidences (SVC's "
                                "decision_function, shape 'ovr')", "the margin of the RBF SVM for the positive class")
SVM_RBF = sklearn_spec("svm-rbf", _svm_rbf, [{"C": c, "gamma": g} for c in SVM_C_GRID for g in SVM_GAMMA_GRID],
                       score_kind=SVM_RBF_SCORE_KIND)
BASELINE_CLASSIFIERS = {"svm-rbf": SVM_RBF, **CLASSIFIERS}


def baseline_specs(names: Sequence[str]) -> list[ProbeSpec]:
    """The specs for classifier names from BASELINE_CLASSIFIERS ("svm-rbf", "logreg", "linear-svm", ...)."""
    unknown = [name for name in names if name not in BASELINE_CLASSIFIERS]
    if unknown:
        raise UserError(f"unknown classifier {unknown[0]!r}; choose from {', '.join(BASELINE_CLASSIFIERS)}")
    return [BASELINE_CLASSIFIERS[name] for name in names]


def _dummy(strategy: str):
    def pipeline(class_weight: ClassWeight, seed: int) -> Pipeline:
        return Pipeline([("clf", DummyClassifier(strategy=strategy, random_state=seed))])

    return pipeline


# Classifiers that ignore X: the fitting part's most frequent class, and guesses drawn with its
# class frequencies (seeded). Class weights do not apply to them.
CHANCE_SPECS = [sklearn_spec("majority", _dummy("most_frequent"), [{}]),
                sklearn_spec("stratified-random", _dummy("stratified"), [{}])]


def chance_input(n_clips: int) -> np.ndarray:
    """The X a chance classifier is given: one constant column (it is never looked at)."""
    return np.zeros((n_clips, 1), dtype=np.float32)
