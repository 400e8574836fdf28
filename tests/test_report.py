import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from conftest import owl_cache, planted_data, report_headline, run_sweep, write_probe_cache

from layerprobe.baselines.classifiers import CHANCE_SPECS
from layerprobe.baselines.paired import compare
from layerprobe.errors import UserError
from layerprobe.probes.classifiers import classifier_specs
from layerprobe.probes.output import document, headline_record, table, with_interval, write_results
from layerprobe.probes.significance import resolution_note
from layerprobe.options import FitOptions
from layerprobe.probes.study import study
from layerprobe.report import plots
from layerprobe.report.build import write_report
from layerprobe.report.cli import main
from layerprobe.report.selection import chance_level
from layerprobe.report.summary import verdict
from layerprobe.results import FORMAT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The name the pipeline's paired test gives itself: long, with parentheses of its own.
TEST_NAME = "corrected resampled t-test (Nadeau & Bengio 2003), two-sided, k-1 degrees of freedom"
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
    result = run_sweep(cache, layers="all", classifiers="all", folds=3, n_jobs=1)
    probe_doc = document(result, cache, {"classifier": "all"})
    write_results(probe_doc, folder)

    mfcc = layers[1][:, :4] + np.random.default_rng(2).normal(size=(len(labels), 4))
    specs = classifier_specs("all")
    mfcc_records = study([("mfcc", lambda: mfcc)], specs, labels, result.folds, FitOptions(n_jobs=1),
                         selections=[("selected", [spec.name for spec in specs])]).records
    chance = study([("chance", lambda: np.zeros((len(labels), 1)))], CHANCE_SPECS, labels, result.folds).records
    records = [*mfcc_records, *chance]
    baselines_doc = replace(probe_doc, results=records, options={},
                            warnings=[w for record in records for w in record.warnings])
    write_results(baselines_doc, folder, "baseline_results.json")
    comparison = compare(result.records, records)
    write_results(comparison, folder, "comparison.json")
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
    # The records as written to the run folder, their scores' references into its side files included.
    expected = [record for name in ("probe_results.json", "baseline_results.json")
                for record in json.loads((run_dir / name).read_text())["results"]]
    assert results["results"] == expected
    assert [r.classifier for r in docs["probe"].results + docs["baselines"].results] == [
        r["classifier"] for r in expected]
    assert {r["layer"] for r in results["results"]} == {0, 1, 2, "mfcc", "chance", "selected"}
    assert results["comparison"] == json.loads(json.dumps(docs["comparison"].to_dict()))
    assert results["run"] == docs["run"]
    assert results["probe"]["clip_ids"] == docs["probe"].clip_ids and results["probe"]["format"] == FORMAT


def test_markdown_states_the_selected_layer_the_baselines_and_the_test(run_dir, run_inputs):
    docs = run_inputs[1]
    markdown = write_report(run_dir)["report.md"].read_text()
    top = headline_record(docs["probe"].results)
    assert {pick.layer.index for pick in top.picked} <= {1, 2}  # where the signal is planted
    uar, accuracy = with_interval(top.balanced_accuracy), with_interval(top.accuracy)
    headline = report_headline(markdown)
    assert "Protocol: stratified-group-kfold, speaker-independent 3-fold CV over 4 groups" in headline
    assert f"reaches UAR {uar} and accuracy {accuracy} (95% intervals)" in headline
    baseline = headline_record(docs["baselines"].results)
    assert f"reaches UAR {with_interval(baseline.balanced_accuracy)}" in headline
    assert f"{TEST_NAME}: p = {docs['comparison'].p_value:.3g}" in headline
    assert "No permutation test was run" in headline
    row = next(line for line in markdown.splitlines() if line.startswith("| selected (headline) |"))
    assert [cell.strip() for cell in row.strip("|").split("|")][1:5] == [
        "selected", accuracy, uar, with_interval(top.macro_f1)]
    assert markdown.count("(headline) |") == 2  # one layer, one baseline
    for fact in ("/corpora/vowels/manifest.csv", "2 failed", "rare (4)", "4 (column speaker)", "abc1234",
                 "random-init control", "| extract | 12.5 |", "| total | 19.8 |", "| chance | majority |"):
        assert fact in markdown
    first_fold = [top.balanced_accuracy.folds[0], docs["comparison"].differences[0]]
    assert f"| 1 | {first_fold[0]:.3f} | " in markdown and f" | {first_fold[1]:+.3f} |" in markdown
    # The selected baseline is a feature and classifier, never "the selected layer".
    comparison = markdown.split("## Comparison")[1].split("## ")[0]
    assert (f"UAR of the selected layer and classifier ({top.balanced_accuracy.value:.3f}) against the selected "
            "feature and classifier (") in comparison
    assert ("| fold | selected layer and classifier | selected feature and classifier | UAR difference (layer - "
            "baseline) |") in comparison
    for name in FIGURES:
        assert f"]({name})" in markdown


def test_the_report_opens_with_a_one_glance_table_then_the_headline_in_short_bullets(run_dir, run_inputs):
    docs = run_inputs[1]
    markdown = write_report(run_dir)["report.md"].read_text()
    top, baseline = headline_record(docs["probe"].results), headline_record(docs["baselines"].results)
    found = docs["comparison"]
    lines = markdown.split("\n\n")[1].splitlines()  # right below the title
    assert lines[0] == "|  | UAR (95% interval) | accuracy (95% interval) | paired test against the baseline |"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[0].split(":")[0].split(" (")[0] for row in rows] == ["selected", "baseline selected", "chance"]
    words = "better" if found.p_value <= 0.05 and found.value_difference > 0 else \
        "worse" if found.p_value <= 0.05 else "no clear difference"
    assert rows[0][1:] == [with_interval(top.balanced_accuracy), with_interval(top.accuracy),
                           f"{words} at 0.05 (UAR {found.value_difference:+.3f}, p = {found.p_value:.3g})"]
    assert rows[1][1:] == [with_interval(baseline.balanced_accuracy), with_interval(baseline.accuracy), ""]
    # Chance as the headline states it, with the interval of the chance baseline that draws it on the same folds.
    level, kind = chance_level(top, "balanced_accuracy")
    drawn = next(r for r in docs["baselines"].results
                 if r.layer.kind == "chance" and r.classifier == {"majority": "majority"}.get(kind, "stratified-random"))
    assert rows[2][0] == f"chance ({kind}, {drawn.classifier} baseline)"
    assert rows[2][1:3] == [with_interval(drawn.balanced_accuracy), with_interval(drawn.accuracy)]
    # The headline below it: one short point a bullet, no longer a 190-word paragraph.
    bullets = report_headline(markdown).splitlines()
    assert len(bullets) >= 5 and max(len(bullet.split()) for bullet in bullets) <= 50
    assert bullets[0].startswith("- Protocol: ") and bullets[1].startswith("- The layer chosen inside each training part")
    assert sum(f"chance ({kind}) is UAR {level:.3f}." in bullet for bullet in bullets) == 1


def test_the_verdict_says_better_worse_or_no_clear_difference_at_the_level(run_inputs):
    found = run_inputs[1]["comparison"]
    assert verdict(replace(found, p_value=0.01, value_difference=0.125)) == "better at 0.05 (UAR +0.125, p = 0.01)"
    assert verdict(replace(found, p_value=0.01, value_difference=-0.125)) == "worse at 0.05 (UAR -0.125, p = 0.01)"
    assert verdict(replace(found, p_value=0.2, value_difference=0.125)) == \
        "no clear difference at 0.05 (UAR +0.125, p = 0.2)"
    assert verdict(replace(found, p_value=None, note="one fold")) == "no test (one fold)"
    assert verdict(None) == "not run"


def test_never_predicted_rare_class_is_listed_under_warnings(run_dir, run_inputs):
    records = run_inputs[1]["probe"].results
    blind = [r for r in records if "rare" in r.never_predicted]
    assert blind, "the planted rare class should be missed by some probe"
    markdown = write_report(run_dir)["report.md"].read_text()
    warnings = markdown.split("## Warnings")[1].split("## ")[0]
    assert headline_record(records).never_predicted == ["rare"]
    assert "It never predicts class(es) rare (--class-weight balanced weighs every class equally)." in markdown
    for record in blind:
        assert f"- {record.describe()} never predicts class(es) rare; --class-weight balanced weighs every class " \
               "equally\n" in warnings
    # The chance baseline never predicts three of the four classes by design: not a warning.
    assert "chance majority never predicts" in json.dumps(run_inputs[1]["baselines"].to_dict())
    assert "chance" not in warnings


def test_html_is_self_contained_with_every_figure_embedded(run_dir):
    paths = write_report(run_dir)
    page = paths["report.html"].read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r'(href|src)="(?!data:)', page) and "<link" not in page and "<script" not in page
    assert page.count("<table>") == 6  # at a glance, layers, per class, baselines, comparison, timings


def test_figures_are_png_images_of_plausible_size(run_dir):
    import matplotlib.image

    paths = write_report(run_dir)
    for name in FIGURES:
        assert paths[name].read_bytes()[:8] == PNG_SIGNATURE
        height, width = matplotlib.image.imread(paths[name]).shape[:2]
        assert 300 <= height <= 2000 and 400 <= width <= 2500


def test_missing_optional_files_are_reported_not_fatal(run_dir):
    for name in ("baseline_results.json", "comparison.json", "run.json", "cache.h5"):
        (run_dir / name).unlink()
    probe = json.loads((run_dir / "probe_results.json").read_text())
    (run_dir / "probe_results.json").write_text(json.dumps({**probe, "cache": str(run_dir / "moved.h5")}))
    paths = write_report(run_dir)
    markdown = paths["report.md"].read_text()
    assert "> baseline_results.json is missing: no baselines were run." in markdown
    assert "> comparison.json is missing: no paired test was run." in markdown
    assert "> run.json is missing" in markdown
    assert "no baseline was run" in report_headline(markdown)
    results = json.loads(paths["results.json"].read_text())
    assert results["comparison"] is None and results["run"] is None
    assert {r["layer"] for r in results["results"]} == {0, 1, 2, "selected"}
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


def test_single_split_reads_as_such_with_no_interval_from_one_test_speaker_and_mcnemar_of_accuracy(tmp_path):
    labels, groups, layers = planted_data(n_groups=4, per_cell=5)
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, labels, groups,
                              split=np.where(groups == "spk3", "test", "train"))
    result = run_sweep(cache, classifiers="linear-svm", n_jobs=1)
    run_dir = tmp_path / "run"
    write_results(document(result, cache, {}), run_dir)
    record = headline_record(result.records)
    assert record.accuracy.std is None and record.accuracy.ci is None
    assert record.accuracy.ci_note == ("1 test group is too few for a group bootstrap, which needs 10; "
                                       "use --cv group for grouped k-fold")
    fold = record.predictions[0]
    baseline = replace(record, predictions=[replace(fold, predicted=["class0"] * len(fold.index))])
    comparison = compare(result.records, [baseline])
    assert comparison.p_value is None and "needs the clip labels" in comparison.note
    write_results(comparison, run_dir, "comparison.json")
    headline = report_headline(write_report(run_dir)["report.md"].read_text())
    assert "the dataset's own train/test split (its train and test share no group)" in headline
    assert f"reaches UAR {record.balanced_accuracy.value:.3f} (no interval) and accuracy " in headline
    assert f"; no 95% interval: {record.accuracy.ci_note}." in headline and "95% intervals" not in headline
    assert f"No paired test ({comparison.note})." in headline and "p =" not in headline
    comparison = compare(result.records, [baseline], labels=list(labels))
    write_results(comparison, run_dir, "comparison.json")
    headline = report_headline(write_report(run_dir)["report.md"].read_text())
    assert "Paired test on the test clips each side gets right, McNemar's exact test of accuracy" in headline


def test_labels_are_drawn_literally_not_as_mathtext(run_inputs, tmp_path):
    plain = next(r for r in run_inputs[1]["probe"].results if r.layer.index == 2)
    record = replace(plain, classes=["$\\frac{1}{$", "$5"], confusion_matrix=[[2, 1], [0, 3]], never_predicted=[])
    path = plots.confusion_matrix(record, tmp_path / "confusion.png")
    assert path.read_bytes().startswith(b"\x89PNG") and [p.name for p in tmp_path.iterdir()] == ["confusion.png"]


def test_a_permutation_test_asked_for_and_impossible_says_so_in_the_headline(tmp_path):
    # Four speakers, two per class, one label each: 6 ways to assign the labels to speakers.
    groups = np.repeat(["spk0", "spk1", "spk2", "spk3"], 6)
    labels = np.repeat(["north", "north", "south", "south"], 6)
    X = np.random.default_rng(0).normal(size=(len(labels), 4))
    cache = write_probe_cache(tmp_path / "c.h5", {0: X}, labels, groups)
    result = run_sweep(cache, classifiers="ridge", permutations=99, n_jobs=1)
    assert not any(record.significance for record in result.records)
    codes = np.unique(labels, return_inverse=True)[1]
    why = resolution_note(codes, groups, "between-groups", 99)
    assert why in result.notes
    write_results(document(result, cache, {"permutations": 99}), tmp_path / "run")
    headline = report_headline(write_report(tmp_path / "run")["report.md"].read_text())
    assert headline.endswith(f"No permutation test although --permutations 99 asked for one: {why}.")
    assert "--permutations N runs one" not in headline


def test_a_between_speakers_test_says_it_ran_on_label_free_folds_and_its_observed_uar(tmp_path):
    groups = np.repeat([f"spk{g}" for g in range(10)], 4)
    labels = np.repeat(np.tile(["north", "south"], 5), 4)
    X = np.random.default_rng(1).normal(size=(len(labels), 4))
    cache = write_probe_cache(tmp_path / "c.h5", {0: X}, labels, groups)
    result = run_sweep(cache, classifiers="ridge", permutations=19, n_jobs=1)
    top = headline_record(result.records).significance
    assert top.permutation == "between-groups" and top.permutation_folds.startswith("folds that read no labels")
    write_results(document(result, cache, {"permutations": 19}), tmp_path / "run")
    headline = report_headline(write_report(tmp_path / "run")["report.md"].read_text())
    assert (f"Permutation test (19 between-groups permutations, run on folds that read no labels, where the observed "
            f"UAR is {top.permutation_observed:.3f}): p = {top.p_value:.3g}") in headline


def _rare_owl_cache(tmp_path):
    """One clip in 12 an owl (8.3%)."""
    return owl_cache(tmp_path / "owl.h5", every=12, shift=1.5)


def test_two_classes_lead_with_average_precision_and_recall_at_precision_and_a_rare_class_gets_the_hint(tmp_path):
    cache = _rare_owl_cache(tmp_path)
    result = run_sweep(cache, layers=0, classifiers="ridge", positive_class="owl", at_precision=0.5, n_jobs=1)
    doc = document(result, cache, {})
    top = headline_record(result.records)
    ap, at, uar = top.average_precision, top.recall_at_precision, top.balanced_accuracy
    assert at.threshold is not None
    lead = (f"average precision of 'owl' pooled {with_interval(ap)}, fold mean {np.mean(ap.folds):.3f}, against "
            "0.083 for random scores (its prevalence), "
            f"recall {with_interval(at)} at precision 0.5 (decision score >= {at.threshold:.4g} on the pooled "
            f"out-of-fold scores); UAR {with_interval(uar)}")
    terminal = table(doc).splitlines()
    assert terminal[2] == f"selected layer (ridge): {lead}"  # after the protocol and chance lines
    hint = ("the positive class 'owl' is 8.3% of the test clips (16 of 192) and the classes are not weighted, so "
            "the probes may seldom predict it: try --class-weight balanced")
    assert doc.warnings.count(hint) == 1
    write_results(doc, tmp_path / "run")
    markdown = write_report(tmp_path / "run")["report.md"].read_text()
    assert f"reaches {lead} and accuracy {with_interval(top.accuracy)} (95% intervals)." in report_headline(markdown)
    assert f"- {hint}" in markdown.split("## Warnings")[1]

    weighted = run_sweep(cache, layers=0, classifiers="ridge", positive_class="owl", class_weight="balanced", n_jobs=1)
    assert not any("class-weight" in line for line in document(weighted, cache, {}).warnings)
