"""Learning curves: subsamples of the outer training parts only, stratified or of whole groups, seeded;
the power-law forecast against a known law; the options' errors; the JSON round trip; probe and
baselines alike."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import planted_data, run_baseline_sweep, run_sweep, write_probe_cache

import layerprobe
from layerprobe.errors import UserError
from layerprobe.probes.cli import main
from layerprobe.probes.forecast import forecast
from layerprobe.probes.learning_curve import curve_folds
from layerprobe.probes.protocols import outer_folds
from layerprobe.results import CurvePoint, Document, Metric, Record

CURVE_KEYS = ("learning_curve", "forecast", "forecast_note")


@pytest.fixture
def planted():
    labels, groups, layers = planted_data(n_groups=8, per_cell=6)
    return labels, groups, layers


@pytest.mark.parametrize("unit", ["clips", "groups"])
def test_subsamples_hold_only_fitting_rows_and_never_a_test_row(planted, unit):
    labels, groups, _ = planted
    folds = outer_folds(labels, groups, folds=4)
    for fraction in (0.25, 0.5):
        made = curve_folds(folds, labels, fraction, unit, repeat=0)
        for original, fold in zip(folds.outer, made.outer):
            assert np.isin(fold.fit, original.fit).all() and not np.isin(fold.fit, original.test).any()
            assert np.array_equal(fold.test, original.test)  # scored on the full outer test part
            assert 0 < len(fold.fit) < len(original.fit)
            for train, validation in fold.selection:  # tuned inside the subsample
                assert np.isin(train, fold.fit).all() and np.isin(validation, fold.fit).all()
                assert not set(groups[train]) & set(groups[validation])


def test_clip_subsamples_keep_each_class_share(planted):
    labels = np.repeat(["a", "b", "c"], [60, 30, 12])
    folds = outer_folds(labels, folds=3)
    codes = np.unique(labels, return_inverse=True)[1]
    made = curve_folds(folds, labels, 0.5, "clips", repeat=1)
    for original, fold in zip(folds.outer, made.outer):
        full = np.bincount(codes[original.fit], minlength=3)
        assert np.array_equal(np.bincount(codes[fold.fit], minlength=3), np.round(0.5 * full))


def test_group_subsamples_keep_whole_groups(planted):
    labels, groups, _ = planted
    folds = outer_folds(labels, groups, folds=4)
    made = curve_folds(folds, labels, 0.5, "groups", repeat=0)
    for original, fold in zip(folds.outer, made.outer):
        kept = set(groups[fold.fit])
        assert len(kept) == round(0.5 * len(set(groups[original.fit])))
        for group in kept:  # every fitting clip of a kept group, and none of another
            assert np.array_equal(np.sort(original.fit[groups[original.fit] == group]),
                                  np.sort(fold.fit[groups[fold.fit] == group]))


def test_draws_are_seeded(planted):
    labels, groups, _ = planted
    folds = outer_folds(labels, groups, folds=4, seed=3)
    first, again, other = (curve_folds(folds, labels, 0.5, "clips", repeat) for repeat in (0, 0, 1))
    assert all(np.array_equal(a.fit, b.fit) for a, b in zip(first.outer, again.outer))
    assert any(not np.array_equal(a.fit, b.fit) for a, b in zip(first.outer, other.outer))
    reseeded = curve_folds(outer_folds(labels, groups, folds=4, seed=4), labels, 0.5, "clips", 0)
    assert any(not np.array_equal(a.fit, b.fit) for a, b in zip(first.outer, reseeded.outer))


def _metric(value, folds):
    return Metric(value=value, ci=None, ci_method=None, folds=list(folds), std=None)


def _planted_points(a, b, c, sizes, n_folds, noise, seed=0):
    """Points of a curve that follows a - b * n^-c, each fold's value off by seeded noise."""
    rng = np.random.default_rng(seed)
    points = []
    for fraction, n in sizes:
        folds = a - b * n ** -c + rng.normal(0, noise, n_folds)
        metric = _metric(float(folds.mean()), folds)
        points.append(CurvePoint(fraction, 0, 3 * n, {"x": n, "y": n, "z": n}, metric, metric, metric))
    return points


def test_the_forecast_recovers_a_planted_power_law():
    a, b, c = 0.95, 2.0, 0.5
    sizes = [(f, 400 * f) for f in (0.05, 0.1, 0.25, 0.5, 1.0)]
    x = [n for _, n in sizes]
    expected = b * 400 ** -c * (1 - 2 ** -c)  # +0.0293
    exact, note = forecast(_planted_points(a, b, c, sizes, 5, noise=0.0), x, "x", 5, 0)
    assert note is None and not exact.flat
    assert exact.doubling_gain == pytest.approx(expected, rel=5e-3)
    assert (exact.a, exact.b, exact.c) == pytest.approx((a, b, c), rel=1e-2)
    # With fold noise: near the law on average, and its interval holding it for most curves.
    found = [forecast(_planted_points(a, b, c, sizes, 5, noise=0.004, seed=seed), x, "x", 5, seed)[0]
             for seed in range(30)]
    assert np.mean([f.doubling_gain for f in found]) == pytest.approx(expected, abs=0.002)
    assert np.mean([f.ci[0] <= expected <= f.ci[1] for f in found]) >= 0.7
    assert all(f.ci[1] - f.ci[0] < 0.05 for f in found)


def test_a_level_curve_is_flat_and_two_sizes_fit_no_law():
    sizes = [(f, 100 * f) for f in (0.1, 0.5, 1.0)]
    found, _ = forecast(_planted_points(0.7, 0.0, 1.0, sizes, 5, noise=0.002), [n for _, n in sizes], "x", 5, 0)
    assert found.flat and found.doubling_gain < 0.01
    none, note = forecast(_planted_points(0.7, 0.1, 1.0, sizes[1:], 5, 0.0), [50, 100], "x", 5, 0)
    assert none is None and note.startswith("a power law needs at least 3 training sizes, the curve has 2")


def test_one_split_with_one_draw_per_fraction_has_no_interval():
    sizes = [(f, 100 * f) for f in (0.1, 0.5, 1.0)]
    found, _ = forecast(_planted_points(0.9, 0.5, 0.5, sizes, 1, 0.0), [n for _, n in sizes], "x", 1, 0)
    assert found.ci is None and found.ci_note.startswith("a single split with one draw per fraction")


@pytest.fixture
def planted_cache(tmp_path, planted):
    labels, groups, layers = planted
    return write_probe_cache(tmp_path / "c.h5", {1: layers[1], 2: layers[2]}, labels, groups)


def test_every_record_gets_its_curve_and_the_records_themselves_are_unchanged(planted_cache):
    plain = run_sweep(planted_cache, classifiers="ridge", n_jobs=1)
    curved = run_sweep(planted_cache, classifiers="ridge", n_jobs=1, learning_curve="0.25,0.5,1", curve_repeats=2)
    assert len(plain.records) == len(curved.records) == 3  # layers 1, 2 and the selected record
    for before, after in zip(plain.records, curved.records):
        assert "learning_curve" not in json.dumps(before.to_dict())
        written = after.to_dict()
        assert {key: value for key, value in written.items() if key not in CURVE_KEYS} == before.to_dict()
        points = after.learning_curve.points
        assert [(p.fraction, p.repeat) for p in points] == [(0.25, 0), (0.25, 1), (0.5, 0), (0.5, 1), (1.0, 0)]
        full = points[-1]
        assert full.balanced_accuracy == before.balanced_accuracy  # the whole part is the record itself
        assert full.n_train == np.mean([len(fold.fit) for fold in plain.folds.outer])
        assert sum(full.n_train_per_class.values()) == pytest.approx(full.n_train)
        assert points[0].n_train < points[2].n_train < full.n_train
        assert after.learning_curve.forecast.x == "training clips per class (mean over the classes)"
        assert Record.from_dict(json.loads(json.dumps(written))) == after
    again = run_sweep(planted_cache, classifiers="ridge", n_jobs=1, learning_curve="0.25,0.5,1", curve_repeats=2)
    assert [r.learning_curve for r in again.records] == [r.learning_curve for r in curved.records]  # seeded


def test_two_classes_forecast_against_the_positive_class(tmp_path):
    labels, groups, layers = planted_data(n_groups=6, n_classes=2, per_cell=6)
    cache = write_probe_cache(tmp_path / "two.h5", {1: layers[1]}, labels, groups)
    found = run_sweep(cache, classifiers="ridge", n_jobs=1, learning_curve="0.3,0.6,1", curve_repeats=1,
                      positive_class="class0")
    curve = found.records[0].learning_curve
    assert curve.forecast.x == "training clips of the positive class 'class0'"
    assert curve.forecast.n == max(p.n_train_per_class["class0"] for p in curve.points)


def test_the_document_round_trips_and_names_its_curve_options(planted_cache):
    doc = layerprobe.probe(planted_cache, layers=1, classifiers="ridge", n_jobs=1, learning_curve=[1, 0.5, 0.25],
                           curve_unit="groups", curve_repeats=1, progress=False)
    written = doc.to_dict()
    assert (written["learning_curve"], written["curve_unit"], written["curve_repeats"]) == ((0.25, 0.5, 1.0),
                                                                                           "groups", 1)
    assert Document.from_dict(json.loads(json.dumps(written))).results == doc.results
    plain = layerprobe.probe(planted_cache, layers=1, classifiers="ridge", n_jobs=1, progress=False).to_dict()
    assert not {"learning_curve", "curve_unit", "curve_repeats"} & set(plain)


@pytest.mark.parametrize("flags, message", [
    (["--learning-curve", "0.5,1.5"], "error: probe: argument --learning-curve: 1.5 is not a fraction in (0, 1]"),
    (["--learning-curve", "0,1"], "error: probe: argument --learning-curve: 0 is not a fraction in (0, 1]"),
    (["--learning-curve", "0.01,1"], "error: --learning-curve 0.01, fold 1: 1 of the fitting part's 108 clips are "
                                     "fewer than its 3 classes; use larger fractions"),
    (["--learning-curve", "0.1,1", "--curve-unit", "groups"],
     "error: --learning-curve 0.1, fold 1: the subsample keeps 1 group; choosing hyperparameters by grouped inner CV "
     "needs at least 2; use larger fractions"),
    (["--learning-curve", "0.05,1", "--cv", "stratified"], "error: --learning-curve 0.05, fold 1: the subsample "
     "keeps 2 clip(s) of class 'class0'; choosing hyperparameters by 3-fold inner CV needs at least 3; use larger "
     "fractions"),
    (["--learning-curve", "1", "--curve-repeats", "0"], "error: probe: argument --curve-repeats: 0 is less than 1"),
])
def test_bad_curves_are_one_line_and_exit_2(planted_cache, capsys, flags, message):
    assert main([str(planted_cache), "--layers", "1", "--classifier", "ridge", "--quiet", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err == message + "\n" and captured.out == ""


def test_a_subsample_too_small_is_refused_before_the_first_fit(planted_cache, monkeypatch):
    from layerprobe.probes import sweep

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit ran before the curve was checked")

    monkeypatch.setattr(sweep, "study", no_fit)
    with pytest.raises(UserError, match=r"^--learning-curve 0.01, fold 1: 1 of the fitting part's 108 clips"):
        layerprobe.probe(planted_cache, layers=1, classifiers="ridge", learning_curve="0.01,1", progress=False)


def test_the_api_refuses_a_bad_fraction_as_the_command_does(planted_cache):
    with pytest.raises(UserError, match=r"^--learning-curve: 2.0 is not a fraction in \(0, 1\]$"):
        layerprobe.probe(planted_cache, learning_curve=(0.5, 2.0))
    with pytest.raises(UserError, match="^--curve-unit groups subsamples whole groups, and these folds have none"):
        layerprobe.probe(planted_cache, layers=1, classifiers="ridge", cv="stratified", learning_curve="0.5,1",
                         curve_unit="groups", progress=False)


def test_baselines_get_the_same_curve(tmp_path):
    from test_baseline_compute import write_dataset

    from layerprobe.baselines.features_only import features_only_cache

    cache = features_only_cache(write_dataset(tmp_path / "data"), tmp_path / "cache.h5")
    found = run_baseline_sweep(cache, classifiers="ridge", cv="loso", n_jobs=1, learning_curve="0.5,0.75,1",
                               curve_repeats=2)
    curved = {(str(r.layer), r.classifier): r.learning_curve for r in found.records}
    assert curved[("mfcc", "ridge")] is not None and curved[("selected", "selected")] is not None
    assert curved[("chance", "majority")] is None  # chance learns nothing
    assert [p.fraction for p in curved[("mfcc", "ridge")].points] == [0.5, 0.5, 0.75, 0.75, 1.0]


def test_the_report_draws_the_curve_and_says_the_forecast(tmp_path, planted_cache):
    from layerprobe.report.build import write_report

    out = tmp_path / "run"
    doc = layerprobe.probe(planted_cache, classifiers="ridge,weighted-sum", folds=3, n_jobs=1,
                           learning_curve="0.5,0.75,1", curve_repeats=1, out=out, progress=False)
    files = write_report(out)
    assert files["learning_curve.png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    markdown = files["report.md"].read_text()
    selected = next(r for r in doc.results if (str(r.layer), r.classifier) == ("selected", "selected"))
    head = next(r for r in doc.results if str(r.layer) == "all")
    for record in (selected, head):
        found = record.learning_curve.forecast
        said = "the curve is flat: doubling the training data is expected to add only" if found.flat else \
            "doubling the training data is expected to add"
        assert (f"{said} +{found.doubling_gain:.3f} UAR (95% interval [{found.ci[0]:.3f}, {found.ci[1]:.3f}])"
                in markdown)
    assert "## Learning curve" in markdown and "](learning_curve.png)" in markdown
    plain = tmp_path / "plain"
    layerprobe.probe(planted_cache, layers=1, classifiers="ridge", n_jobs=1, out=plain, progress=False)
    assert "learning_curve.png" not in write_report(plain) and "Learning curve" not in (plain / "report.md").read_text()


def test_layerprobe_run_takes_the_curve_for_probes_and_baselines(tmp_path, group_norm_model):
    from layerprobe import cli
    from layerprobe.data.demo_dataset import write_demo_dataset
    from layerprobe.probes.output import headline_record

    manifest = write_demo_dataset(tmp_path / "data", speakers=4, clips_per_vowel=4)
    out = tmp_path / "out"
    assert cli.main(["run", str(manifest), "--out", str(out), "--model", group_norm_model, "--device", "cpu",
                     "--layers", "0,4", "--classifier", "ridge", "--baseline-classifier", "ridge", "--n-jobs", "1",
                     "--learning-curve", "0.5,0.75,1", "--curve-repeats", "1", "--quiet"]) == 0
    for name in ("probe_results.json", "baseline_results.json"):
        doc = Document.from_dict(json.loads((out / name).read_text()))
        assert doc.options["learning_curve"] == [0.5, 0.75, 1.0]
        selected = headline_record(doc.results)
        assert [p.fraction for p in selected.learning_curve.points] == [0.5, 0.75, 1.0]
    assert (out / "learning_curve.png").exists()
    report = (out / "report.md").read_text()
    assert "Selected layer (ridge): " in report and "Baseline selected feature and classifier: " in report
    assert "doubling the training data is expected to add" in report
