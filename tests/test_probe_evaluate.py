import numpy as np
import pytest
from conftest import planted_data
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.probes.classifiers import C_GRID, LINEAR_SVM, LOGREG, grid_search_spec
from layerprobe.probes.evaluate import evaluate, fit_fold
from layerprobe.probes.protocols import outer_folds


@pytest.fixture(scope="module")
def planted():
    labels, groups, layers = planted_data()
    return labels, groups, layers, outer_folds(labels, groups, seed=0)


def test_separable_layers_score_high_and_noise_sits_at_chance(planted):
    labels, _, layers, folds = planted
    assert folds.protocol == "stratified-group-kfold"
    noise = evaluate(layers[0], labels, folds, LOGREG, layer=0, permutations=9)
    signal = evaluate(layers[2], labels, folds, LOGREG, layer=2, permutations=9)
    assert signal["balanced_accuracy"]["mean"] > 0.95
    assert abs(noise["balanced_accuracy"]["mean"] - 1 / 3) < 0.15
    assert signal["p_value"] == pytest.approx(0.1)  # no shuffle reaches it: the smallest p 9 shuffles allow
    assert noise["p_value"] > 0.2


def test_grouped_protocol_exposes_the_group_confound_that_stratified_cv_hides(planted):
    labels, groups, layers, grouped = planted
    stratified = outer_folds(labels, groups, cv="stratified", seed=0)
    leaky = evaluate(layers[3], labels, stratified, LINEAR_SVM, layer=3)
    honest = evaluate(layers[3], labels, grouped, LINEAR_SVM, layer=3)
    assert leaky["balanced_accuracy"]["mean"] > 0.9
    assert honest["balanced_accuracy"]["mean"] < 0.55


def test_record_numbers_agree_with_sklearn_on_its_own_predictions(planted):
    labels, _, layers, folds = planted
    record = evaluate(layers[1], labels, folds, LINEAR_SVM, layer=1)
    for k, (_, test) in enumerate(folds.splits):
        predicted = np.array(record["predictions"][k]["predicted"])
        assert record["predictions"][k]["index"] == test.tolist()
        assert record["accuracy"]["folds"][k] == pytest.approx(accuracy_score(labels[test], predicted))
    pooled_true = np.concatenate([labels[test] for _, test in folds.splits])
    pooled_pred = np.concatenate([p["predicted"] for p in record["predictions"]])
    assert record["confusion_matrix"] == confusion_matrix(pooled_true, pooled_pred, labels=record["classes"]).tolist()
    assert record["protocol"] == "stratified-group-kfold" and record["n_clips"] == len(labels)
    assert len(record["C"]) == len(folds.splits) and set(record["C"]) <= set(C_GRID)


def test_linear_svm_fold_matches_a_hand_built_grid_search(planted):
    labels, _, layers, folds = planted
    train, test = folds.splits[0]
    fit = fit_fold(layers[1], labels, train, test, LINEAR_SVM, "none", folds.inner[0])
    reference = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("clf", LinearSVC(dual=True, max_iter=10000, tol=1e-3))]),
        {"clf__C": list(C_GRID)}, cv=folds.inner[0], scoring="balanced_accuracy").fit(layers[1][train], labels[train])
    assert fit.params["C"] == reference.best_params_["clf__C"]
    np.testing.assert_array_equal(fit.predicted, reference.predict(layers[1][test]))


@pytest.mark.parametrize("spec", [LOGREG, LINEAR_SVM], ids=lambda s: s.name)
def test_nested_selection_ignores_the_test_fold(planted, spec):
    labels, _, layers, folds = planted
    train, test = folds.splits[1]
    X = layers[1]
    base = fit_fold(X, labels, train, test, spec, "none", folds.inner[1])
    scrambled_labels = labels.copy()
    scrambled_labels[test] = np.roll(labels[test], 7)
    scrambled_X = X.copy()
    scrambled_X[test] = np.random.default_rng(0).normal(size=(len(test), X.shape[1])) * 100
    with_labels = fit_fold(X, scrambled_labels, train, test, spec, "none", folds.inner[1])
    with_X = fit_fold(scrambled_X, labels, train, test, spec, "none", folds.inner[1])
    assert with_labels.params == base.params == with_X.params
    np.testing.assert_array_equal(with_labels.predicted, base.predicted)


class _RowSpy(ClassifierMixin, BaseEstimator):
    """Remembers the row ids (column 0) of everything it is fitted on; predicts the majority class."""

    seen: list = []

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y):
        _RowSpy.seen.append(X[:, 0].astype(int).copy())
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[counts.argmax()]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def test_no_fit_inside_nested_selection_sees_a_test_row(planted):
    labels, _, _, folds = planted
    X = np.column_stack([np.arange(len(labels)), np.zeros(len(labels))])
    spy = grid_search_spec("spy", lambda class_weight: Pipeline([("clf", _RowSpy())]), {"clf__C": [0.1, 1.0]})
    for k, (train, test) in enumerate(folds.splits):
        _RowSpy.seen.clear()
        fit_fold(X, labels, train, test, spy, "none", folds.inner[k])
        assert len(_RowSpy.seen) == 2 * len(folds.inner[k]) + 1  # each C on each inner fold, then the refit
        assert not set(np.concatenate(_RowSpy.seen)) & set(test.tolist())


def test_class_weighting_raises_the_rare_class_recall():
    rng = np.random.default_rng(1)
    labels = np.array(["common"] * 270 + ["rare"] * 30)
    X = rng.normal(size=(300, 8))
    X[labels == "rare", 0] += 1.2  # overlapping classes: the unweighted probe sacrifices the rare one
    folds = outer_folds(labels, None, seed=0)
    recall = {}
    for mode in ("none", "sqrt", "balanced"):
        record = evaluate(X, labels, folds, LOGREG, layer=0, class_weight=mode)
        recall[mode] = record["per_class"]["recall"][record["classes"].index("rare")]
    assert recall["none"] < 0.3
    assert recall["sqrt"] > recall["none"] + 0.1
    assert recall["balanced"] > recall["sqrt"] + 0.1
