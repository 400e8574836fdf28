"""--mdl: the online code of Voita & Titov 2020 against a direct implementation, its blocks of whole
groups, its behaviour on planted signal and noise, its seeded orders, flags and JSON."""
from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import write_probe_cache
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import layerprobe
from layerprobe.probes import mdl
from layerprobe.probes.cli import main
from layerprobe.probes.grids import LOGREG_C_GRID
from layerprobe.results import Document, Mdl, Record

PERCENTS = ("0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.25", "12.5", "25", "50", "100")


def direct_code(X, labels, sent, ends) -> float:
    """The online code written out from its definition, with scikit-learn's LogisticRegression fitted
    to a tight tolerance: blocks at PERCENTS of the clips (rounded up, moved to the next unit end), the
    first in log2 K bits a clip, each later one by the fit on the clips before it at the C that coded
    the block before best (the smallest C first; the smallest of those within 0.05 bits of the best),
    each probability smoothed as (t p + 1) / (t + K)."""
    classes = sorted(set(labels))
    K, n = len(classes), len(labels)
    y = np.array([classes.index(label) for label in labels])
    cuts = []
    for percent in PERCENTS:
        wanted = math.ceil(Fraction(percent) * n / 100)
        cut = min(int(end) for end in ends if end >= wanted)
        if cut not in cuts:
            cuts.append(cut)
    bits, chosen = cuts[0] * math.log2(K), 0
    for start, end in zip(cuts, cuts[1:]):
        fit, coded = sent[:start], sent[start:end]
        t, present = len(fit), sorted(set(y[fit]))
        per_c = []
        for C in LOGREG_C_GRID:
            if len(present) == 1:
                p = [1.0 if y[i] == present[0] else 0.0 for i in coded]
            else:
                model = make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=1e-12, max_iter=100_000))
                probabilities = model.fit(X[fit], y[fit]).predict_proba(X[coded])
                p = [probabilities[row, present.index(y[i])] if y[i] in present else 0.0
                     for row, i in enumerate(coded)]
            per_c.append(sum(-math.log2((t * q + 1) / (t + K)) for q in p))
        bits += per_c[chosen]
        chosen = min(k for k, value in enumerate(per_c) if value <= min(per_c) + 0.05)
    return bits


# Two classes: logreg's binomial problem, as one multinomial at C/2. Clips of 18 speakers of 5: the
# first block is a speaker's 5 clips, so the first probe-coded block's C (the smallest) matters.
@pytest.mark.parametrize("n_classes, speakers", [(2, False), (4, False), (4, True)])
def test_the_online_code_matches_a_direct_implementation(n_classes, speakers):
    rng = np.random.default_rng(3)
    labels = np.array(["a", "b", "c", "d"][:n_classes])[rng.integers(0, n_classes, 90)]
    codes = np.unique(labels, return_inverse=True)[1]
    X = (rng.normal(size=(90, 5)) + 1.2 * np.eye(n_classes, 5)[codes]).astype(np.float32)
    groups = np.repeat([f"spk{g}" for g in range(18)], 5) if speakers else np.full(90, "")
    for order in range(2):
        sent, ends = mdl.transmission_order(groups, 7, order)
        ours = mdl.online_code(X, codes, n_classes, groups, 7, order).bits
        # The same bits to the tolerance of the probe's solver (probes/logreg.py's TOL): its fits and
        # scikit-learn's differ by 0.01-0.03 bits a block at the largest C, by sign at random.
        assert ours == pytest.approx(direct_code(X, labels, sent, ends), rel=5e-4)
    # Ninety clips: blocks end at 1, 2, 3, 6, 12, 23, 45 and 90 clips (the first fits see one class
    # only), or at the speakers' ends from 5 on.
    cuts = [5, 10, 15, 25, 45, 90] if speakers else [1, 2, 3, 6, 12, 23, 45, 90]
    assert mdl.block_cuts(ends).tolist() == cuts


def test_blocks_are_whole_groups_and_no_group_spans_a_fit_and_its_block(monkeypatch):
    rng = np.random.default_rng(0)
    groups = np.array([f"spk{g}" for g in rng.integers(0, 30, 400)])
    groups[:5] = ""  # clips without a group are units of their own
    labels = rng.integers(0, 3, 400)
    seen = []
    original = mdl.block_bits

    def recording(X, codes, n_classes, fit_rows, coded, *rest):
        seen.append((fit_rows.copy(), coded.copy()))
        return original(X, codes, n_classes, fit_rows, coded, *rest)

    monkeypatch.setattr(mdl, "block_bits", recording)
    mdl.online_code(rng.normal(size=(400, 4)).astype(np.float32), labels, 3, groups, 0, 0)
    assert len(seen) >= 5
    covered = np.concatenate([seen[0][0]] + [coded for _, coded in seen])
    assert np.array_equal(np.sort(covered), np.arange(400))  # every clip sent once
    for fit_rows, coded in seen:
        fitted, sent = set(groups[fit_rows]) - {""}, set(groups[coded]) - {""}
        assert fitted.isdisjoint(sent)


def planted_cache(path, strengths, seed=0):
    """8 speakers x 3 classes x 8 clips, 16 dims: layer k holds strengths[k] times the class means plus noise."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"spk{g}" for g in range(8)], 24)
    y = np.tile(np.repeat(np.arange(3), 8), 8)
    means = rng.normal(size=(3, 16))
    layers = {k: rng.normal(size=(len(y), 16)) + s * means[y] for k, s in enumerate(strengths)}
    return write_probe_cache(path, layers, np.array(["x", "y", "z"])[y], groups)


def mdl_of(doc: Document) -> dict[int, Mdl]:
    return {r.layer.index: r.mdl for r in doc.results if r.mdl is not None}


def test_compression_rises_with_the_signal_and_noise_stays_near_one(tmp_path):
    cache = planted_cache(tmp_path / "c.h5", [0.0, 0.0, 0.0, 0.3, 0.6, 1.2])
    doc = layerprobe.probe(cache, classifiers="logreg", mdl=True, mdl_orders=2, n_jobs=1, progress=False)
    found = mdl_of(doc)
    assert sorted(found) == [0, 1, 2, 3, 4, 5]
    compression = [found[k].compression for k in range(6)]
    assert compression[2] < compression[3] < compression[4] < compression[5]
    assert compression[5] > 2
    for noise in compression[:3]:
        assert abs(noise - 1) < 0.05
    n_bits = 192 * math.log2(3)
    assert all(m.uniform_bits == pytest.approx(n_bits) and m.orders == 2 and len(m.order_bits) == 2 for m in
               found.values())
    assert all(m.codelength_bits == pytest.approx(np.mean(m.order_bits)) for m in found.values())
    assert all(m.compression == pytest.approx(m.uniform_bits / m.codelength_bits) for m in found.values())
    # Eight speakers: the first block is a speaker's 24 clips, sent with the uniform code.
    assert ("MDL: the first block, whole groups sent with the uniform code, holds up to 24 of the 192 clips, so no "
            "layer's compression can exceed 8.0 (more groups make finer blocks)") in doc.warnings
    assert max(compression) < 8


def test_orders_are_seeded(tmp_path):
    cache = planted_cache(tmp_path / "c.h5", [0.6])
    run = lambda seed: mdl_of(layerprobe.probe(cache, classifiers="logreg", mdl=True, seed=seed, n_jobs=1,  # noqa: E731
                                               progress=False))[0]
    first = run(0)
    assert run(0) == first
    assert len(set(first.order_bits)) == 3  # three orderings, three codes
    assert run(1).order_bits != first.order_bits


def test_a_first_block_of_few_clips_says_nothing():
    assert mdl.first_block_note(np.full(400, ""), 0, 3) is None  # clips as units: the first block is 1 clip
    assert mdl.first_block_note(np.repeat(np.arange(40).astype(str), 10), 0, 3) is None  # 10 of 400 clips


def test_without_mdl_the_sweep_is_unchanged(tmp_path):
    cache = planted_cache(tmp_path / "c.h5", [0.0, 0.8])
    plain = layerprobe.probe(cache, classifiers="logreg,ridge", n_jobs=1, progress=False).to_dict()
    assert not {"mdl", "mdl_orders"} & set(plain) and not any("mdl" in r for r in plain["results"])
    coded = layerprobe.probe(cache, classifiers="logreg,ridge", mdl=True, mdl_orders=1, n_jobs=1,
                             progress=False).to_dict()
    assert [r["layer"] for r in coded["results"] if "mdl" in r] == [0, 1]
    assert all(r["classifier"] == "logreg" for r in coded["results"] if "mdl" in r)
    for record in coded["results"]:
        record.pop("mdl", None)
        record["warnings"] = [line for line in record["warnings"] if "MDL" not in line]
    coded["warnings"] = [line for line in coded["warnings"] if "MDL" not in line]
    assert {**coded, "mdl": None, "mdl_orders": None} == {**plain, "mdl": None, "mdl_orders": None}
    assert (coded["mdl"], coded["mdl_orders"]) == (True, 1)


def test_the_record_round_trips_through_json_and_old_records_load(tmp_path):
    cache = planted_cache(tmp_path / "c.h5", [0.8])
    doc = layerprobe.probe(cache, classifiers="logreg", mdl=True, mdl_orders=1, n_jobs=1, progress=False)
    written = json.loads(json.dumps(doc.to_dict()))
    record = written["results"][0]
    assert set(record["mdl"]) >= {"codelength_bits", "uniform_bits", "compression", "orders"}
    assert Document.from_dict(written).results == doc.results
    assert Document.from_dict(written).to_dict() == written
    older = {key: value for key, value in record.items() if key != "mdl"}
    assert Record.from_dict(older).mdl is None and "mdl" not in Record.from_dict(older).to_dict()


@pytest.mark.parametrize("flags, message", [
    (["--mdl-orders", "0", "--mdl"], "error: probe: argument --mdl-orders: 0 is less than 1\n"),
    (["--mdl-orders", "two", "--mdl"], "error: probe: argument --mdl-orders: invalid integer value: 'two'\n"),
    (["--mdl-orders", "5"], "error: --mdl-orders 5 needs --mdl\n"),
    (["--mdl", "--classifier", "ridge"], "error: --mdl codes the labels with the logreg probe and writes onto its "
                                         "records: add logreg to --classifier (given: ridge)\n"),
])
def test_bad_mdl_flags_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    cache = planted_cache(tmp_path / "c.h5", [0.8])
    assert main([str(cache), *flags]) == 2
    assert capsys.readouterr().err == message


def test_the_api_refuses_what_the_command_refuses(tmp_path):
    with pytest.raises(layerprobe.errors.UserError, match="^--mdl-orders 2 needs --mdl$"):
        layerprobe.probe(tmp_path / "c.h5", mdl_orders=2)
    with pytest.raises(layerprobe.errors.UserError, match="^--mdl-orders: 0 is less than 1$"):
        layerprobe.probe(tmp_path / "c.h5", mdl=True, mdl_orders=0)


def test_the_report_draws_compression_beside_uar_and_names_the_layer_that_compresses_most(tmp_path):
    from layerprobe.probes.output import write_results
    from layerprobe.report.build import write_report

    cache = planted_cache(tmp_path / "c.h5", [0.0, 1.2, 0.4])
    doc = layerprobe.probe(cache, classifiers="logreg", mdl=True, mdl_orders=2, n_jobs=1, progress=False)
    write_results(doc, tmp_path / "run")
    paths = write_report(tmp_path / "run")
    figure = paths["compression_curve.png"]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    found = mdl_of(doc)
    assert max(found, key=lambda k: found[k].compression) == 1
    markdown = paths["report.md"].read_text()
    assert (f"layer 1 compresses the labels most, to {found[1].compression:.2f} times fewer bits than the uniform code "
            f"({found[1].codelength_bits:.0f} against {found[1].uniform_bits:.0f})") in markdown
    assert "compression_curve.png" in markdown


def test_layerprobe_run_takes_mdl_and_refuses_it_without_logreg_before_extracting(tmp_path, group_norm_model,
                                                                                 capsys):
    from layerprobe.cli import main as layerprobe_main
    from layerprobe.data.demo_dataset import write_demo_dataset

    manifest = write_demo_dataset(tmp_path / "data", speakers=4, clips_per_vowel=3)
    common = ["run", str(manifest), "--model", str(group_norm_model), "--device", "cpu", "--n-jobs", "1",
              "--baseline-classifier", "logreg", "--quiet"]
    assert layerprobe_main([*common, "--out", str(tmp_path / "ridge"), "--mdl", "--classifier", "ridge"]) == 2
    assert "error: --mdl codes the labels with the logreg probe" in capsys.readouterr().err
    assert not (tmp_path / "ridge" / "cache.h5").exists()
    out = tmp_path / "out"
    assert layerprobe_main([*common, "--out", str(out), "--mdl", "--mdl-orders", "1", "--classifier", "logreg"]) == 0
    doc = Document.from_dict(json.loads((out / "probe_results.json").read_text()))
    found = mdl_of(doc)
    assert sorted(found) == sorted(json.loads((out / "run.json").read_text())["layers"])
    assert all(m.orders == 1 and m.uniform_bits == pytest.approx(36 * math.log2(3)) for m in found.values())
    baselines = Document.from_dict(json.loads((out / "baseline_results.json").read_text()))
    [mfcc] = [r for r in baselines.results if r.mdl is not None]
    assert (str(mfcc.layer), mfcc.classifier, mfcc.mdl.orders) == ("mfcc", "logreg", 1)
    assert (out / "compression_curve.png").is_file()
    report = (out / "report.md").read_text()
    assert "compresses the labels most" in report
    assert f"; mfcc, the hand-made feature that compresses them most, {mfcc.mdl.compression:.2f} times." in report


def test_baselines_take_mdl_and_refuse_it_without_logreg(tmp_path, capsys):
    from layerprobe.baselines.cli import main as baselines_main

    cache = planted_cache(tmp_path / "c.h5", [0.8])
    assert baselines_main([str(cache), "--mdl", "--classifier", "ridge,linear-svm"]) == 2
    assert capsys.readouterr().err == ("error: --mdl codes the labels with the logreg probe and writes onto its "
                                       "records: add logreg to --classifier (given: ridge,linear-svm)\n")
    with pytest.raises(layerprobe.errors.UserError, match="^--mdl-orders 4 needs --mdl$"):
        layerprobe.run_baselines(cache, mdl_orders=4)


def test_the_terminal_table_lists_each_layers_codelength_and_compression(tmp_path, capsys):
    cache = planted_cache(tmp_path / "c.h5", [0.0, 1.2])
    assert main([str(cache), "--mdl", "--mdl-orders", "1", "--classifier", "logreg", "--n-jobs", "1", "--quiet",
                 "--out", str(tmp_path / "out")]) == 0
    table = capsys.readouterr().out
    found = mdl_of(Document.from_dict(json.loads((tmp_path / "out" / "probe_results.json").read_text())))
    assert (f"minimum description length (online code, logreg probe, 1 ordering; the uniform code: "
            f"{found[0].uniform_bits:.1f} bits)") in table
    for layer, m in found.items():
        assert f"{layer:>8}  {m.codelength_bits:>15.1f}  {m.compression:>11.3f}\n" in table
    assert table.endswith("layer 1 compresses the labels most\n")
