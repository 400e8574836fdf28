"""The report's per-class table (with ROC-AUC and AP) and the two-class precision-recall curve; `run --labels`."""
import csv
import json
from collections import Counter

import numpy as np
from conftest import owl_cache

import layerprobe
from layerprobe.data.demo_dataset import write_demo_dataset
from layerprobe.probes.cli import main
from layerprobe.report.build import PR_CURVE_FILE, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _two_class_cache(tmp_path):
    return owl_cache(tmp_path / "owl.h5", every=6, shift=0.9, second_layer=True)


def _probe_run(tmp_path, cache, *arguments):
    run_dir = tmp_path / "run"
    assert main([str(cache), "--n-jobs", "1", "--quiet", "--out", str(run_dir), *arguments]) == 0
    return run_dir, json.loads((run_dir / "probe_results.json").read_text())


def test_two_classes_get_a_per_class_table_with_auc_and_ap_and_a_precision_recall_curve(tmp_path, capsys):
    run_dir, doc = _probe_run(tmp_path, _two_class_cache(tmp_path), "--positive-class", "owl", "--at-precision", "0.6")
    out = capsys.readouterr().out
    files = write_report(run_dir)
    top = next(r for r in doc["results"] if r["layer"] == r["classifier"] == "selected")
    assert files[PR_CURVE_FILE].read_bytes().startswith(PNG)
    text = files["report.md"].read_text()
    scores = top["per_class"]
    assert "| class | support | precision | recall | F1 | ROC-AUC | AP |" in text
    assert (f"| owl | 32 | {scores['precision'][1]:.3f} | {scores['recall'][1]:.3f} | {scores['f1'][1]:.3f} | "
            f"{scores['roc_auc'][1]:.3f} | {scores['average_precision'][1]:.3f} |") in text
    at = top["recall_at_precision"]
    assert f"recall of 'owl' at precision 0.6: {at['value']:.3f} [{at['ci'][0]:.3f}, {at['ci'][1]:.3f}]" in text
    auc, ap = top["roc_auc"], top["average_precision"]
    assert (f"selected layer and classifier: ROC-AUC pooled {auc['value']:.3f} [{auc['ci'][0]:.3f}, "
            f"{auc['ci'][1]:.3f}], fold mean {np.mean(auc['folds']):.3f}; average precision pooled "
            f"{ap['value']:.3f} [") in out
    assert f"Overall: ROC-AUC pooled {auc['value']:.3f} [" in text
    assert f", fold mean {np.mean(ap['folds']):.3f} (" in text
    assert f"rank each class against the rest by its score: {top['detection']['scores']}." in text
    assert doc["clip_labels"][:7] == ["owl", "bird", "bird", "bird", "bird", "bird", "owl"]


def test_more_classes_get_the_per_class_table_and_no_precision_recall_curve(tmp_path, planted_probe_cache):
    run_dir, doc = _probe_run(tmp_path, planted_probe_cache, "--layers", "1", "--classifier", "ridge")
    files = write_report(run_dir)
    assert PR_CURVE_FILE not in files and not (run_dir / PR_CURVE_FILE).exists()
    text = files["report.md"].read_text()
    assert "| class | support | precision | recall | F1 | ROC-AUC | AP |" in text
    assert "(macro mean of one-vs-rest values over the classes present in the test clips)" in text


def test_run_with_a_label_table_probes_and_compares_the_table_labels(tmp_path, group_norm_model):
    manifest = write_demo_dataset(tmp_path / "data", speakers=4, clips_per_vowel=3)
    with open(manifest, newline="") as file:
        rows = list(csv.DictReader(file))
    table = tmp_path / "open.csv"  # is the vowel open (a) or closed (i, u)? one clip left unlabelled
    table.write_text("path,openness\n" + "".join(f"{row['path']},{'open' if row['label'] == 'a' else 'closed'}\n"
                                                 for row in rows[1:]))
    files = layerprobe.run(manifest, tmp_path / "out", model=group_norm_model, device="cpu", n_jobs=1, progress=False,
                           labels=table, label_column="openness", positive_class="open", at_precision=0.5,
                           layers=[0, 2])
    probes = json.loads((tmp_path / "out" / "probe_results.json").read_text())
    facts = json.loads((tmp_path / "out" / "run.json").read_text())
    assert probes["classes"] == ["closed", "open"] and len(probes["clip_ids"]) == len(rows) - 1
    openness = Counter("open" if row["label"] == "a" else "closed" for row in rows[1:])
    assert facts["classes"] == dict(sorted(openness.items()))
    assert "labels from open.csv: 1 ok clip(s) have no 'openness' label (1 not in the table) and are left out; " \
           f"{len(rows) - 1} are probed" in probes["warnings"]
    assert PR_CURVE_FILE in files
    comparison = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert comparison["best_layer"]["layer"] == "selected" and comparison["p_value"] is not None


def test_run_command_passes_the_label_flags_through(tmp_path, monkeypatch):
    from layerprobe import pipeline
    from layerprobe.cli import main as layerprobe_main

    called = {}
    monkeypatch.setattr(pipeline, "run", lambda data, out, **options: called.update(options) or
                        {"report.html": tmp_path / "report.html"})
    monkeypatch.setattr(pipeline, "print_headline", lambda run_dir: None)
    assert layerprobe_main(["run", "data.csv", "--out", str(tmp_path), "--labels", "t.csv", "--label-column", "owl",
                            "--id-column", "clip", "--positive-class", "yes", "--at-precision", "0.9"]) == 0
    columns, labels, detection = called["columns"], called["labels"], called["detection"]
    # run's one --label-column names the table's column once a table is given (options.one_label_column)
    assert (columns.label_column, labels.labels, labels.id_column) == ("owl", "t.csv", "clip")
    assert (detection.positive_class, detection.at_precision) == ("yes", 0.9)
