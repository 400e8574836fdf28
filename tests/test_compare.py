"""layerprobe compare on planted caches: the join by clip id, one set of folds for every encoder, the
paired tests and their Holm correction against a direct computation, compare.json, and the bad inputs."""
from __future__ import annotations

import json
import shutil
from itertools import combinations

import h5py
import numpy as np
import pytest
from scipy import stats

import layerprobe
from conftest import planted_data, validated, write_probe_cache
from layerprobe import cli
from layerprobe.baselines.paired import holm
from layerprobe.compare_results import CompareDocument
from layerprobe.errors import ProbeWarning, UserError
from layerprobe.options import CompareOptions, FitOptions, ProtocolOptions
from layerprobe.probes.compare import compare_encoders, join_clips
from layerprobe.probes.output import headline_record

LABELS, GROUPS, LAYERS = planted_data(n_groups=6, per_cell=4, dim=8)
N = len(LABELS)


def subset_cache(path, keep, layers, *, seed: int = 0, fingerprint: str | None = None):
    """A cache of the clips `keep` (positions among the planted clips, ids kept), rows shuffled."""
    order = np.random.default_rng(seed).permutation(np.asarray(keep))
    write_probe_cache(path, {k: v[order] for k, v in layers.items()}, LABELS[order], GROUPS[order])
    with h5py.File(path, "r+") as f:
        del f["clips/id"]
        f["clips"].create_dataset("id", data=np.array([f"clip{i:04d}.wav" for i in order], dtype=object),
                                  dtype=h5py.string_dtype())
        if fingerprint:
            f.attrs["model_fingerprint"] = fingerprint
    return path


def projected(seed: int, depth: int) -> dict:
    """Another encoder's layers 0..depth: random projections of the planted layers plus noise."""
    rng = np.random.default_rng(seed)
    return {i: LAYERS[min(i, 3)] @ rng.normal(size=(8, 6)) + 0.3 * rng.normal(size=(N, 6)) for i in range(depth + 1)}


def run(inputs, tmp_path, **options):
    groups = [validated(CompareOptions, **{"classifiers": ("logreg",), **options}),
              validated(ProtocolOptions, folds=3), validated(FitOptions, n_jobs=1)]
    return compare_encoders(inputs, *groups)


@pytest.fixture
def caches(tmp_path):
    a = subset_cache(tmp_path / "a.h5", np.arange(N), LAYERS, seed=0)
    b = subset_cache(tmp_path / "b.h5", np.arange(5, N), projected(1, 5), seed=1)  # lacks clips 0-4
    return a, b


def test_join_counts_the_clips_left_out_and_does_not_depend_on_order():
    ids_a = np.array([f"c{i}" for i in range(10)], dtype=object)
    ids_b = np.array([f"c{i}" for i in [12, 3, 9, 4, 11, 5, 6, 10, 7, 8]], dtype=object)
    labels_a = np.array([f"y{i % 2}" for i in range(10)])
    labels_b = np.array([f"y{int(name[1:]) % 2}" for name in ids_b])
    joined = join_clips([ids_a, ids_b], [labels_a, labels_b], ["A", "B"])
    assert joined.ids.tolist() == sorted(f"c{i}" for i in range(3, 10))
    assert joined.left_out == [3, 3]
    for ids, where in zip([ids_a, ids_b], joined.positions):
        assert ids[where].tolist() == joined.ids.tolist()
    assert joined.note(["A", "B"]) == ("clips missing from another cache are left out: 3 of A's 10, 3 of B's 10; "
                                       "the 7 clips every cache holds are compared")
    swapped = join_clips([ids_b[::-1], ids_a], [labels_b[::-1], labels_a], ["B", "A"])
    assert swapped.ids.tolist() == joined.ids.tolist() and swapped.labels.tolist() == joined.labels.tolist()
    assert join_clips([ids_a, ids_a], [labels_a, labels_a], ["A", "B"]).note(["A", "B"]) is None


def test_a_shared_clip_labelled_differently_is_refused():
    ids = np.array(["c0", "c1", "c2"], dtype=object)
    with pytest.raises(UserError, match=r"^clip 'c1' is labelled 'x' in A but 'y' in B \(1 clip\(s\) differ\)"):
        join_clips([ids, ids], [np.array(["x", "x", "y"]), np.array(["x", "y", "y"])], ["A", "B"])


def test_every_encoder_is_probed_on_the_same_folds_of_the_common_clips(caches, tmp_path):
    doc = run(caches, tmp_path)
    assert doc.n_clips == N - 5 and doc.left_out == {"encoder (a.h5)": 5, "encoder (b.h5)": 0}
    assert sum("clips missing from another cache are left out: 5 of" in line for line in doc.warnings) == 1
    assert doc.clip_ids == sorted(f"clip{i:04d}.wav" for i in range(5, N))
    folds = None
    for encoder in doc.encoders:
        for record in encoder.results:
            these = [fold.index for fold in record.predictions]
            folds = folds or these
            assert these == folds
            # every prediction is of the clip it names: the labels seen are the common clips' own
            truth = np.asarray(doc.clip_labels)[np.concatenate(these)]
            assert record.n_clips == N - 5 and len(truth) == N - 5
    assert [e.layers for e in doc.encoders] == [[0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    assert [e.depth for e in doc.encoders] == [3, 5] and doc.encoders[1].relative_depth(4) == pytest.approx(0.8)


def test_the_caches_row_order_and_the_inputs_order_change_no_score(caches, tmp_path):
    a, b = caches
    again = subset_cache(tmp_path / "b2.h5", np.arange(5, N), projected(1, 5), seed=7)  # same clips, other order
    first, second = run([a, b], tmp_path), run([again, a], tmp_path)
    for one, other in [(first.encoders[0], second.encoders[1]), (first.encoders[1], second.encoders[0])]:
        assert [r.balanced_accuracy.folds for r in one.results] == [r.balanced_accuracy.folds for r in other.results]
        assert [[f.predicted for f in r.predictions] for r in one.results] == \
            [[f.predicted for f in r.predictions] for r in other.results]


def test_paired_tests_and_holm_match_a_direct_computation(caches, tmp_path):
    c = subset_cache(tmp_path / "c.h5", np.arange(N), projected(2, 2), seed=2)
    doc = run([*caches, c], tmp_path)
    assert [(t.a, t.b) for t in doc.paired] == [(x.name, y.name) for x, y in combinations(doc.encoders, 2)]
    direct = []
    for test, (x, y) in zip(doc.paired, combinations(doc.encoders, 2)):
        top_x, top_y = headline_record(x.results), headline_record(y.results)
        differences = np.subtract(top_x.balanced_accuracy.folds, top_y.balanced_accuracy.folds)
        sizes = np.array([len(fold.index) for fold in top_x.predictions])
        ratio = np.mean(sizes / (doc.n_clips - sizes))
        k = len(differences)
        t = differences.mean() / np.sqrt((1 / k + ratio) * differences.var(ddof=1))
        p = 2 * stats.t.sf(abs(t), k - 1)
        assert test.comparison.differences == pytest.approx(differences.tolist())
        assert test.comparison.statistic == pytest.approx(t) and test.comparison.p_value == pytest.approx(p)
        direct.append(p)
    order = np.argsort(direct)
    adjusted = np.maximum.accumulate([(len(direct) - rank) * direct[i] for rank, i in enumerate(order)])
    expected = np.empty(len(direct))
    expected[order] = np.minimum(adjusted, 1)
    assert [t.p_value_fwer for t in doc.paired] == pytest.approx(expected.tolist())


def test_holm_steps_down_and_leaves_untested_pairs_out():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, None, 0.01]) == [pytest.approx(0.5), None, pytest.approx(0.02)]
    assert holm([0.6, 0.7]) == [1.0, 1.0]


def test_compare_json_round_trips_and_the_report_holds_the_figures(caches, tmp_path):
    out = tmp_path / "out"
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    shutil.copy(caches[1], run_folder / "cache.h5")  # a run folder is read through its cache
    with pytest.warns(ProbeWarning, match="clips missing from another cache are left out"):
        doc = layerprobe.compare([caches[0], run_folder], out, classifiers="logreg,weighted-sum", folds=3, n_jobs=1,
                                 progress=False)
    written = json.loads((out / "compare.json").read_text())
    assert written == json.loads(json.dumps(doc.to_dict())) and CompareDocument.from_dict(written).to_dict() == written
    assert {p["a"] for p in written["paired"]} == {doc.encoders[0].name}
    assert {"a_record", "b_record", "test", "statistic", "p_value", "p_value_fwer"} <= set(written["paired"][0])
    mixed = [r for r in doc.encoders[1].results if r.layer.kind == "all-layers"]
    assert len(mixed) == 1 and len(mixed[0].layer_weights.folds) == 3 and mixed[0].balanced_accuracy.ci
    cka = np.array(doc.cka.values)
    assert cka.shape == (10, 10) and np.allclose(np.diag(cka), 1, atol=1e-5)
    report = (out / "report.md").read_text()
    assert "(cka.png)" in report and "(depth_curves.png)" in report and "p (Holm)" in report
    assert (out / "cka.png").stat().st_size > 0 and (out / "report.html").read_text().count("data:image/png") == 2


def one_line_error(capsys, *argv) -> str:
    assert cli.main(["compare", *map(str, argv)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err.removeprefix("error: ").strip()


def test_bad_inputs_are_one_line_and_exit_2(caches, tmp_path, capsys):
    a, b = caches
    out = tmp_path / "out"
    assert one_line_error(capsys, a, "--out", out) == "compare needs at least two caches or run folders, got 1"
    assert one_line_error(capsys, a, tmp_path / "nope.h5", "--out", out) == f"{tmp_path / 'nope.h5'} does not exist"
    assert one_line_error(capsys, a, tmp_path, "--out", out) == (
        f"{tmp_path} holds no cache.h5: give a run folder of `layerprobe run` or a cache .h5")
    assert one_line_error(capsys, a, a, "--out", out) == f"{a} is given twice: compare takes each encoder's cache once"
    assert "the following arguments are required" in one_line_error(capsys, "--out", out)
    other = subset_cache(tmp_path / "other.h5", np.arange(N), LAYERS)
    with h5py.File(other, "r+") as f:
        ids = f["clips/id"].asstr()[()]
        del f["clips/id"]
        f["clips"].create_dataset("id", data=np.array([f"x{name}" for name in ids], dtype=object),
                                  dtype=h5py.string_dtype())
    assert one_line_error(capsys, a, other, "--out", out).startswith(
        "the caches share no clip id (encoder (a.h5) holds 'clip")
    one = subset_cache(tmp_path / "one.h5", np.arange(N), LAYERS, fingerprint="f" * 40)
    copy = shutil.copy(one, tmp_path / "copy.h5")
    assert one_line_error(capsys, one, copy, "--out", out) == (
        f"{one} and {copy} hold the same encoder (model fingerprint ffffffffffff) on the same clips: one cache given "
        "twice")
    assert one_line_error(capsys, a, b, "--layers", "5", "--out", out) == (
        f"{a}: layer(s) 5 not in the cache; stored layers: 0, 1, 2, 3")
    assert not (out / "compare.json").exists()  # refused before anything was written


def test_a_single_split_pairs_the_test_clips_by_mcnemar_and_names_its_counts_by_side(tmp_path):
    split = np.where(np.isin(GROUPS, ["spk0", "spk1"]), "test", "train")
    paths = []
    for name, layers in [("a", LAYERS), ("b", {0: LAYERS[0], 1: LAYERS[1]})]:  # b: the weaker layers only
        path = write_probe_cache(tmp_path / f"{name}.h5", layers, LABELS, GROUPS, split)
        paths.append(path)
    doc = run(paths, tmp_path)
    assert doc.protocol == "split" and doc.n_folds == 1
    [test] = doc.paired
    truth = np.asarray(doc.clip_labels)
    right = []
    for encoder in doc.encoders:
        fold = headline_record(encoder.results).predictions[0]
        right.append(np.asarray(fold.predicted) == truth[fold.index])
    only_a, only_b = int((right[0] & ~right[1]).sum()), int((~right[0] & right[1]).sum())
    assert only_a + only_b > 0  # the sides disagree on some clips: the counts are tested, not zeros
    written = test.to_dict()
    assert written["discordant"] == {"a_only_correct": only_a, "b_only_correct": only_b}
    assert written["statistic"] == only_a and written["p_value_fwer"] == written["p_value"]
    assert written["p_value"] == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
                                               if only_a + only_b else 1.0)
    assert type(test).from_dict(written).to_dict() == written
