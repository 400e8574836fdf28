import numpy as np
import pytest
from conftest import evaluate_record, fold_task, planted_data
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.probes.classifiers import LINEAR_SVM_C_GRID, LINEAR_SVM_REFERENCE
from layerprobe.probes.linear_svm import LINEAR_SVM
from layerprobe.probes.logreg import LOGREG
from layerprobe.probes.ridge import RIDGE
from layerprobe.probes.protocols import outer_folds
from layerprobe.probes.spec import sklearn_spec


@pytest.fixture(scope="module")
def planted():
    labels, groups, layers = planted_data()
    return labels, groups, layers, outer_folds(labels, groups, seed=0)


def test_separable_layers_score_high_and_noise_sits_at_chance(planted):
    labels, _, layers, folds = planted
    assert folds.protocol == "stratified-group-kfold"
    noise = evaluate_record(layers[0], labels, folds, LOGREG, 0, permutations=9)
    signal = evaluate_record(layers[2], labels, folds, LOGREG, 2, permutations=9)
    assert signal["balanced_accuracy"]["value"] > 0.95
    assert abs(noise["balanced_accuracy"]["value"] - 1 / 3) < 0.15
    assert signal["permutation"] == "within-groups"
    assert signal["p_value"] == pytest.approx(0.1)  # no shuffle reaches it: the smallest p 9 shuffles allow
    assert noise["p_value"] > 0.2


def test_grouped_protocol_exposes_the_group_confound_that_stratified_cv_hides(planted):
    labels, groups, layers, grouped = planted
    stratified = outer_folds(labels, groups, cv="stratified", seed=0)
    leaky = evaluate_record(layers[3], labels, stratified, LINEAR_SVM, 3)
    honest = evaluate_record(layers[3], labels, grouped, LINEAR_SVM, 3)
    assert leaky["balanced_accuracy"]["value"] > 0.9
    assert honest["balanced_accuracy"]["value"] < 0.55


def test_record_numbers_agree_with_sklearn_on_its_own_predictions(planted):
    labels, _, layers, folds = planted
    record = evaluate_record(layers[1], labels, folds, LINEAR_SVM, 1)
    for k, (_, test) in enumerate(folds.splits):
        predicted = np.array(record["predictions"][k]["predicted"])
        assert record["predictions"][k]["index"] == test.tolist()
        assert record["accuracy"]["folds"][k] == pytest.approx(accuracy_score(labels[test], predicted))
        assert record["macro_f1"]["folds"][k] == pytest.approx(f1_score(labels[test], predicted, average="macro"))
    pooled_true = np.concatenate([labels[test] for _, test in folds.splits])
    pooled_pred = np.concatenate([p["predicted"] for p in record["predictions"]])
    assert record["confusion_matrix"] == confusion_matrix(pooled_true, pooled_pred, labels=record["classes"]).tolist()
    # The headline figures are the pooled out-of-fold ones, not fold means.
    assert record["accuracy"]["value"] == pytest.approx(accuracy_score(pooled_true, pooled_pred))
    assert record["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(pooled_true, pooled_pred))
    assert record["macro_f1"]["value"] == pytest.approx(f1_score(pooled_true, pooled_pred, average="macro"))
    assert record["protocol"] == "stratified-group-kfold" and record["n_clips"] == len(labels)
    assert len(record["C"]) == len(folds.splits) and set(record["C"]) <= set(LINEAR_SVM_C_GRID)


def test_the_sklearn_reference_spec_matches_a_hand_built_grid_search(planted):
    labels, _, layers, folds = planted
    fold = folds.outer[0]
    [outcome] = LINEAR_SVM_REFERENCE.run(fold_task(layers[1], labels, fold))
    inner = [(np.searchsorted(fold.fit, a), np.searchsorted(fold.fit, b)) for a, b in fold.selection]
    reference = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("clf", LinearSVC(dual=True, max_iter=20000, random_state=0))]),
        {"clf__C": list(LINEAR_SVM_C_GRID)}, cv=inner, scoring="balanced_accuracy").fit(layers[1][fold.fit], labels[fold.fit])
    assert LINEAR_SVM_C_GRID[outcome.chosen] == reference.best_params_["clf__C"]
    classes = np.unique(labels)
    np.testing.assert_array_equal(classes[outcome.predicted], reference.predict(layers[1][fold.test]))


@pytest.mark.parametrize("spec", [LOGREG, LINEAR_SVM, RIDGE], ids=lambda s: s.name)
def test_nested_selection_ignores_the_test_fold(planted, spec):
    labels, _, layers, folds = planted
    fold = folds.outer[1]
    test = fold.test
    X = layers[1]
    [base] = spec.run(fold_task(X, labels, fold))
    scrambled_labels = labels.copy()
    scrambled_labels[test] = np.roll(labels[test], 7)
    scrambled_X = X.copy()
    scrambled_X[test] = np.random.default_rng(0).normal(size=(len(test), X.shape[1])) * 100
    [with_labels] = spec.run(fold_task(X, scrambled_labels, fold))
    [with_X] = spec.run(fold_task(scrambled_X, labels, fold))
    assert with_labels.chosen == base.chosen == with_X.chosen
    np.testing.assert_array_equal(with_labels.scores, base.scores)
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
    spy = sklearn_spec("spy", lambda class_weight, seed: Pipeline([("clf", _RowSpy())]), [{"C": 0.1}, {"C": 1.0}])
    for fold in folds.outer:
        _RowSpy.seen.clear()
        spy.run(fold_task(X, labels, fold))
        assert len(_RowSpy.seen) == 2 * len(fold.selection) + 1  # each C on each inner fold, then the refit
        assert not set(np.concatenate(_RowSpy.seen)) & set(fold.test.tolist())


def test_class_weighting_raises_the_rare_class_recall():
    rng = np.random.default_rng(1)
    labels = np.array(["common"] * 270 + ["rare"] * 30)
    X = rng.normal(size=(300, 8))
    X[labels == "rare", 0] += 1.2  # overlapping classes: the unweighted probe sacrifices the rare one
    folds = outer_folds(labels, None, seed=0)
    recall = {}
    for mode in ("none", "sqrt", "balanced"):
        record = evaluate_record(X, labels, folds, LOGREG, 0, class_weight=mode)
        recall[mode] = record["per_class"]["recall"][record["classes"].index("rare")]
    assert recall["none"] < 0.3
    assert recall["sqrt"] > recall["none"] + 0.1
    assert recall["balanced"] > recall["sqrt"] + 0.1
