"""What the report's figures draw: the picked layers of the classifier shown, the precision a curve never reaches."""
from pathlib import Path

import pytest
from conftest import bare_record

from layerprobe.report import plots
from layerprobe.results import (DetectionMetric, DetectionNote, FoldPredictions, PerClass, Pick, RecallAtPrecision,
                                Source)


@pytest.fixture
def drawn(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: figures.append(figure) or Path(path))
    return figures


def test_per_class_recall_marks_only_the_layers_picked_for_its_classifier(drawn, tmp_path):
    records = [bare_record(layer, classifier, classes=["a", "b"], per_class=PerClass([], [0.5, 0.6], [], []))
               for layer in (1, 2, 3) for classifier in ("logreg", "ridge")]
    selected = bare_record("selected", "selected", picked=[
        Pick(Source.of(1), "logreg"), Pick(Source.of(2), "ridge"), Pick(Source.of(3), "logreg")])
    plots.per_class_recall(records, selected, tmp_path / "recall.png")
    ax = drawn[0].axes[0]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["1 (picked)", "2", "3 (picked)"]
    assert ax.get_title() == "per-class recall by layer (logreg)"


@pytest.mark.parametrize("threshold, expected", [(None, "precision 0.9: reached at no threshold"),
                                                 (0.7, "recall 0.500 at precision 0.9")])
def test_the_precision_recall_figure_marks_a_reached_precision_only(drawn, tmp_path, threshold, expected):
    def summary(value):
        return DetectionMetric(value=value, ci=None, ci_method=None, folds=[value], std=None)

    record = bare_record(4, "logreg", detection=DetectionNote("owl", "", ""),
                         predictions=[FoldPredictions([0, 1, 2, 3], [], score=[0.9, 0.2, 0.8, 0.1])],
                         average_precision=summary(0.8), roc_auc=summary(0.75),
                         recall_at_precision=RecallAtPrecision(value=0.5 if threshold else 0.0, ci=None, ci_method=None,
                                                               folds=[], std=None, precision=0.9, threshold=threshold))
    plots.precision_recall(record, ["owl", "bird", "bird", "owl"], tmp_path / "pr.png")
    labels = drawn[0].axes[0].get_legend_handles_labels()[1]
    assert expected in labels
    assert not any(label.startswith("recall 0.000") for label in labels)
