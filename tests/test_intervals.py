"""Intervals that are what they say: none for a split with too few test groups (and every consumer
says why instead of printing one), a bootstrap from 10 test groups on, and the centre named."""
import json

import numpy as np
import pytest
from conftest import planted_data, report_headline, run_sweep, write_probe_cache

from layerprobe.baselines.cli import describe_comparison
from layerprobe.baselines.paired import compare
from layerprobe.pipeline import print_headline
from layerprobe.probes.intervals import CORRECTED_T, bootstrap_method, too_few_units
from layerprobe.probes.metrics import METRICS
from layerprobe.probes.output import document, headline_record, table, write_results
from layerprobe.probes.records import DETECTION_RESAMPLES
from layerprobe.probes.sweep import records_frame
from layerprobe.report.build import write_report

TWO_GROUPS = "2 test groups are too few for a group bootstrap, which needs 10; use --cv group for grouped k-fold"


def _split_sweep(tmp_path, n_groups, n_test):
    """linear-svm on planted layer 0 (noise: scores near chance, so intervals have width) over the
    dataset's own split, the last `n_test` speakers tested."""
    labels, groups, layers = planted_data(n_groups=n_groups, per_cell=2)
    tested = [f"spk{g}" for g in range(n_groups - n_test, n_groups)]
    cache = write_probe_cache(tmp_path / "c.h5", {0: layers[0]}, labels, groups,
                              split=np.where(np.isin(groups, tested), "test", "train"))
    return cache, labels, run_sweep(cache, classifiers="linear-svm", n_jobs=1)


def test_the_reason_names_the_count_and_the_grouped_cv_instead():
    assert too_few_units("groups", 2) == TWO_GROUPS
    assert too_few_units("groups", 1).startswith("1 test group is too few for a group bootstrap")
    assert too_few_units("clips", 9) == ("9 test clips are too few for a clip bootstrap, which needs 10; "
                                         "use --cv stratified for k-fold")
    assert too_few_units("groups", 10) is None


def test_a_split_with_two_test_speakers_has_no_interval_and_every_consumer_says_why(tmp_path, capsys):
    cache, labels, result = _split_sweep(tmp_path, n_groups=4, n_test=2)
    record = headline_record(result.records).to_dict()
    assert record["protocol"] == "split"
    for metric in METRICS:
        assert record[metric]["ci"] is None and record[metric]["ci_method"] is None
        assert record[metric]["ci_note"] == TWO_GROUPS
    doc = document(result, cache, {})
    terminal = table(doc)
    value = record["balanced_accuracy"]["value"]
    row = next(line for line in terminal.splitlines() if line.lstrip().startswith("selected"))
    assert row.split()[2:] == [word for m in METRICS for word in (f"{record[m]['value']:.3f}", "(no", "interval)")]
    assert f"pooled out-of-fold value [no 95% interval: {TWO_GROUPS}]" in terminal

    frame = records_frame(result.records)
    assert frame["balanced_accuracy_ci_low"].isna().all() and frame["balanced_accuracy"].notna().all()

    run_dir = tmp_path / "run"
    write_results(doc, run_dir)
    # The selected record against itself as the baseline: the comparison carries the missing interval too.
    comparison = compare(result.records, result.records, labels=list(labels))
    assert comparison.best_baseline.ci is None and comparison.best_baseline.ci_note == TWO_GROUPS
    assert f"UAR {value:.3f} (no interval) vs selected baseline UAR {value:.3f} (no interval)" in \
        describe_comparison(comparison)
    (run_dir / "comparison.json").write_text(json.dumps(comparison.to_dict()))
    headline = report_headline(write_report(run_dir)["report.md"].read_text())
    assert f"reaches UAR {value:.3f} (no interval) and accuracy {record['accuracy']['value']:.3f} (no interval); " \
           f"no 95% interval: {TWO_GROUPS}." in headline
    assert "95% intervals" not in headline
    print_headline(run_dir)
    assert f"no 95% interval: {TWO_GROUPS}" in capsys.readouterr().out


def test_twelve_test_speakers_still_get_a_group_bootstrap_of_the_pooled_value(tmp_path):
    _, _, result = _split_sweep(tmp_path, n_groups=16, n_test=12)
    summary = headline_record(result.records).to_dict()["balanced_accuracy"]
    assert summary["ci_method"] == bootstrap_method("groups", 12) and "ci_note" not in summary
    assert summary["ci_method"] == ("percentile bootstrap over test groups, 2000 resamples of the 12 groups, 95%: "
                                    "percentiles of the pooled value recomputed on each resample")
    low, high = summary["ci"]
    assert low < high and low <= summary["value"] <= high
    auc = headline_record(result.records).to_dict()["roc_auc"]
    assert auc["ci"] is not None and auc["ci_method"] == bootstrap_method("groups", 12, DETECTION_RESAMPLES)


def test_the_corrected_t_interval_is_centred_on_the_pooled_value_and_says_so(planted_probe_cache):
    records = run_sweep(planted_probe_cache, layers=0, classifiers="ridge", n_jobs=1).records
    summary = records[0].to_dict()["macro_f1"]
    assert summary["ci_method"] == CORRECTED_T == ("corrected resampled t interval (Nadeau & Bengio 2003), 95%: "
                                                   "centred on the pooled value, its width from the variance of "
                                                   "the fold values")
    low, high = summary["ci"]
    assert 0 < low and high < 1  # unclipped, so the centre shows
    assert (low + high) / 2 == pytest.approx(summary["value"], abs=1e-12)
    assert summary["value"] != pytest.approx(np.mean(summary["folds"]), abs=1e-6)  # the pooled value, not the mean
