import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import planted_data, write_probe_cache
from scipy.stats import ttest_rel
from sklearn.dummy import DummyClassifier

from layerprobe.errors import UserError
from layerprobe.probes.classifiers import ProbeSpec, classifier_specs
from layerprobe.probes.evaluate import evaluate
from layerprobe.probes.output import document, mean_std, write_results
from layerprobe.probes.sweep import sweep
from layerprobe.report import plots
from layerprobe.report.build import write_report
from layerprobe.report.cli import main
from layerprobe.report.selection import best

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The name the pipeline's paired test gives itself: long, with parentheses of its own.
TEST_NAME = "corrected resampled t-test (Nadeau & Bengio 2003), two-sided, k-1 degrees of freedom"
MAJORITY = ProbeSpec("majority", lambda class_weight, inner: DummyClassifier(strategy="most_frequent"),
                     lambda fitted: {})
FIGURES = ("layer_curve.png", "confusion_best_layer.png", "per_class_recall.png")


def rare_class_data():
    """planted_data's layers 0-2 (noise, weak and strong signal; 4 speakers x 3 classes x 6 clips)
    with one class1 clip per speaker relabelled "rare": drawn like class1 and outnumbered 5 to 1,
    it is never predicted."""
    labels, groups, layers = planted_data(n_groups=4, per_cell=6)
    del layers[3]
    first_of_class1 = np.flatnonzero((labels == "class1") & (np.arange(len(labels)) % 6 == 0))
    labels = labels.copy()
    labels[first_of_class1] = "rare"
    return labels, groups, layers


@pytest.fixture(scope="module")
def run_inputs(tmp_path_factory):
    """Real probe and baseline records from the engine on one set of folds, with hand-made
    comparison.json and run.json in the pipeline's contract shape; returns (folder, documents)."""
    folder = tmp_path_factory.mktemp("inputs")
    labels, groups, layers = rare_class_data()
    cache = write_probe_cache(folder / "cache.h5", layers, labels, groups)
    result = sweep(cache, layers="all", classifier="all", folds=3, n_jobs=1)
    probe_doc = document(result, cache, {"classifier": "all"})
    write_results(probe_doc, folder)

    mfcc = layers[1][:, :4] + np.random.default_rng(2).normal(size=(len(labels), 4))
    mfcc_records = [evaluate(mfcc, labels, result.folds, spec, layer="mfcc") for spec in classifier_specs("all")]
    chance = evaluate(np.zeros((len(labels), 1)), labels, result.folds, MAJORITY, layer="chance")
    records = [*mfcc_records, chance]
    baselines_doc = {"protocol": result.folds.protocol, "results": records,
                     "warnings": [w for record in records for w in record["warnings"]]}
    (folder / "baseline_results.json").write_text(json.dumps(baselines_doc))

    top, base = best(result.records), best(mfcc_records)
    differences = np.subtract(top["balanced_accuracy"]["folds"], base["balanced_accuracy"]["folds"])
    test = ttest_rel(top["balanced_accuracy"]["folds"], base["balanced_accuracy"]["folds"])
    comparison = {
        "metric": "balanced_accuracy",
        "best_layer": {"layer": top["layer"], "classifier": top["classifier"], "mean": top["balanced_accuracy"]["mean"]},
        "best_baseline": {"layer": "mfcc", "classifier": base["classifier"], "mean": base["balanced_accuracy"]["mean"]},
        "differences": differences.tolist(), "mean_difference": float(differences.mean()),
        "test": TEST_NAME, "statistic": float(test.statistic), "p_value": float(test.pvalue),
        "wilcoxon_p_value": None, "n_folds": 3,
    }
    (folder / "comparison.json").write_text(json.dumps(comparison))
    run = {"data": "/corpora/vowels/manifest.csv", "n_clips": len(labels), "n_failed": 2,
           "classes": {str(c): int(n) for c, n in zip(*np.unique(labels, return_counts=True))},
           "groups": 4, "group_column": "speaker", "protocol": result.folds.protocol, "model": "synthetic/encoder",
           "model_revision": "abc1234", "layers": sorted(layers),
           "stage_seconds": {"extract": 12.5, "baselines": 3.25, "probe": 4.0}, "command": "layerprobe run ...",
           "random_init_note": "random-init control: the encoder's weights were not trained"}
    (folder / "run.json").write_text(json.dumps(run))
    return folder, {"probe": probe_doc, "baselines": baselines_doc, "comparison": comparison, "run": run}


@pytest.fixture
def run_dir(run_inputs, tmp_path):
    """A fresh copy of the full run folder for each test."""
    return shutil.copytree(run_inputs[0], tmp_path / "run")


def test_every_file_is_written_and_results_keep_every_record(run_dir, run_inputs):
    docs = run_inputs[1]
    paths = write_report(run_dir)
    assert set(paths) == {"report.md", "report.html", "results.json", *FIGURES}
    assert all(path.is_file() and path.parent == run_dir for path in paths.values())
    results = json.loads(paths["results.json"].read_text())
    # Through JSON once, as the records were written to the run folder.
    expected = json.loads(json.dumps(docs["probe"]["results"] + docs["baselines"]["results"]))
    assert results["results"] == expected
    assert {r["layer"] for r in results["results"]} == {0, 1, 2, "mfcc", "chance"}
    assert results["comparison"] == docs["comparison"] and results["run"] == docs["run"]
    assert results["probe"]["clip_ids"] == docs["probe"]["clip_ids"]


def test_markdown_states_the_best_layer_the_baselines_and_the_test(run_dir, run_inputs):
    docs = run_inputs[1]
    markdown = write_report(run_dir)["report.md"].read_text()
    top = best(docs["probe"]["results"])
    assert top["layer"] in (1, 2)  # where the signal is planted
    uar, accuracy = mean_std(top["balanced_accuracy"]), mean_std(top["accuracy"])
    headline = markdown.split("\n\n")[1]
    assert f"layer {top['layer']} with {top['classifier']}: UAR {uar} and accuracy {accuracy}" in headline
    assert f"{TEST_NAME}: p = {docs['comparison']['p_value']:.3g}" in headline
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {top['layer']} (best) |"))
    assert [cell.strip() for cell in row.strip("|").split("|")][1:5] == [top["classifier"], accuracy, uar, mean_std(top["macro_f1"])]
    assert markdown.count("(best) |") == 2  # one layer, one baseline
    for fact in ("/corpora/vowels/manifest.csv", "2 failed", "rare (4)", "4 (column speaker)", "abc1234",
                 "random-init control", "| extract | 12.5 |", "| total | 19.8 |", "| chance | majority |"):
        assert fact in markdown
    first_fold = [top["balanced_accuracy"]["folds"][0], docs["comparison"]["differences"][0]]
    assert f"| 1 | {first_fold[0]:.3f} | " in markdown and f" | {first_fold[1]:+.3f} |" in markdown
    for name in FIGURES:
        assert f"]({name})" in markdown


def test_never_predicted_rare_class_is_listed_under_warnings(run_dir, run_inputs):
    records = run_inputs[1]["probe"]["results"]
    blind = [r for r in records if "rare" in r["never_predicted"]]
    assert blind, "the planted rare class should be missed by some probe"
    markdown = write_report(run_dir)["report.md"].read_text()
    warnings = markdown.split("## Warnings")[1].split("## ")[0]
    for record in blind:
        assert f"layer {record['layer']} {record['classifier']} never predicts class(es) rare" in warnings
    # The chance baseline never predicts three of the four classes by design: not a warning.
    assert "chance majority never predicts" in json.dumps(run_inputs[1]["baselines"])
    assert "chance" not in warnings


def test_html_is_self_contained_with_every_figure_embedded(run_dir):
    paths = write_report(run_dir)
    page = paths["report.html"].read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r'(href|src)="(?!data:)', page) and "<link" not in page and "<script" not in page
    assert page.count("<table>") == 4  # layers, baselines, comparison, timings


def test_figures_are_png_images_of_plausible_size(run_dir):
    import matplotlib.image

    paths = write_report(run_dir)
    for name in FIGURES:
        assert paths[name].read_bytes()[:8] == PNG_SIGNATURE
        height, width = matplotlib.image.imread(paths[name]).shape[:2]
        assert 300 <= height <= 2000 and 400 <= width <= 2500


def test_missing_optional_files_are_reported_not_fatal(run_dir):
    for name in ("baseline_results.json", "comparison.json", "run.json"):
        (run_dir / name).unlink()
    paths = write_report(run_dir)
    markdown = paths["report.md"].read_text()
    assert "> baseline_results.json is missing: no baselines were run." in markdown
    assert "> comparison.json is missing: no paired test was run." in markdown
    assert "> run.json is missing" in markdown
    assert "no baseline was run" in markdown.split("\n\n")[1]
    results = json.loads(paths["results.json"].read_text())
    assert results["comparison"] is None and results["run"] is None
    assert {r["layer"] for r in results["results"]} == {0, 1, 2}
    assert all(paths[name].is_file() for name in FIGURES)


def test_missing_run_dir_or_probe_results_is_one_line_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "does not exist" in err
    assert main([str(tmp_path)]) == 2
    assert "probe_results.json is missing" in capsys.readouterr().err
    with pytest.raises(UserError, match="does not exist"):
        write_report(tmp_path / "nowhere")


def test_cli_writes_the_report_and_warns_of_missing_inputs(run_dir, capsys):
    (run_dir / "comparison.json").unlink()
    assert main([str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert "warning: comparison.json is missing" in err and "wrote " in err
    assert (run_dir / "report.html").is_file()


def test_layerprobe_report_is_the_same_command(run_dir, tmp_path, capsys):
    from layerprobe.cli import main as layerprobe_main

    assert layerprobe_main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").is_file()
    assert layerprobe_main(["report", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.endswith("does not exist\n")


def test_report_does_not_import_torch():
    code = "import sys, layerprobe.report.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_single_split_has_no_std_and_a_comparison_note_instead_of_a_p_value(tmp_path):
    labels, groups, layers = planted_data(n_groups=4, per_cell=5)
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, labels, groups,
                              split=np.where(groups == "spk3", "test", "train"))
    result = sweep(cache, classifier="linear-svm", n_jobs=1)
    run_dir = tmp_path / "run"
    write_results(document(result, cache, {}), run_dir)
    record = result.records[0]
    note = "one train/test split: McNemar's test needs the clip labels, none were given; no test done"
    comparison = {"metric": "balanced_accuracy", "best_layer": {"layer": 2, "classifier": "linear-svm", "mean": 1.0},
                  "best_baseline": {"layer": "mfcc", "classifier": "svm-rbf", "mean": 0.5}, "differences": [0.5],
                  "mean_difference": 0.5, "test": "McNemar's exact test", "statistic": None, "p_value": None,
                  "wilcoxon_p_value": None, "n_folds": 1, "note": note}
    (run_dir / "comparison.json").write_text(json.dumps(comparison))
    headline = write_report(run_dir)["report.md"].read_text().split("\n\n")[1]
    assert record["accuracy"]["std"] is None
    assert f"UAR {record['balanced_accuracy']['mean']:.3f} and accuracy {record['accuracy']['mean']:.3f} on the " \
           "dataset's train/test split" in headline
    assert f"No paired test ({note})." in headline and "p =" not in headline
    comparison.update(p_value=6.25e-28, statistic=3.0, note=None)
    (run_dir / "comparison.json").write_text(json.dumps(comparison))
    headline = write_report(run_dir)["report.md"].read_text().split("\n\n")[1]
    assert "Paired test on the test clips each side gets right, McNemar's exact test: p = 6.25e-28." in headline


def test_labels_are_drawn_literally_not_as_mathtext(tmp_path):
    record = {"classes": ["$\\frac{1}{$", "$5"], "confusion_matrix": [[2, 1], [0, 3]], "layer": 3,
              "classifier": "logreg"}
    path = plots.confusion_matrix(record, tmp_path / "confusion.png")
    assert path.read_bytes().startswith(b"\x89PNG") and [p.name for p in tmp_path.iterdir()] == ["confusion.png"]
