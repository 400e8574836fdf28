"""The numbers a reviewer must be able to trust (issue 7): protocols the data calls for, selection on
validation, predefined folds, permutation tests with power for speaker-level labels, no optimism
from choosing the layer, identical reruns."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import planted_data, run_sweep, write_fold_manifest, write_probe_cache
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from layerprobe.probes.classifiers import LOGREG_C_GRID
from layerprobe.probes.cli import main


def test_a_leaky_split_is_not_the_default_and_the_terminal_says_why(tmp_path, capsys):
    labels, groups, layers = planted_data()
    split = np.where(np.arange(len(labels)) % 5 == 0, "test", "train")  # every speaker on both sides
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, labels, groups, split=split)
    assert main([str(cache), "--classifier", "logreg", "--n-jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert ("protocol: stratified-group-kfold (5 folds, seed 0, hyperparameters chosen by inner-cv): grouped CV over "
            "all ok clips, because the dataset's train/test split shares 8 of 8 groups") in out
    assert main([str(cache), "--classifier", "logreg", "--n-jobs", "1", "--cv", "split"]) == 0
    assert "LEAK: the dataset's train/test split shares 8 group(s)" in capsys.readouterr().out


def _fit_score(X, y, train, test, C):
    scaler = StandardScaler().fit(X[train])
    model = LogisticRegression(C=C, max_iter=2000).fit(scaler.transform(X[train]), y[train])
    return balanced_accuracy_score(y[test], model.predict(scaler.transform(X[test])))


def test_the_chosen_c_follows_the_validation_split_not_cv_inside_train(tmp_path):
    for seed in range(30):  # a dataset where the two ways of choosing disagree
        rng = np.random.default_rng(seed)
        y = np.array(["a", "b"] * 45)
        X = rng.normal(size=(90, 12)) + 0.5 * (y == "b")[:, None] * rng.normal(size=12)
        split = np.array(["train"] * 50 + ["validation"] * 20 + ["test"] * 20)
        train, validation = np.arange(50), np.arange(50, 70)
        on_validation = int(np.argmax([_fit_score(X, y, train, validation, C) for C in LOGREG_C_GRID]))
        inner = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X[train], y[train]))
        inside = int(np.argmax([np.mean([_fit_score(X, y, a, b, C) for a, b in inner]) for C in LOGREG_C_GRID]))
        if on_validation != inside:
            break
    else:
        pytest.fail("no planted dataset where validation and inner CV choose differently")
    cache = write_probe_cache(tmp_path / "c.h5", {0: X}, y, split=split)
    result = run_sweep(cache, classifiers="logreg", n_jobs=1)
    record = result.records[0].to_dict()
    assert record["selection"] == "validation" and record["C"] == [LOGREG_C_GRID[on_validation]]
    assert result.folds.split_counts == {"test": 20, "train": 50, "validation": 20}
    assert record["n_clips"] == 90 and record["n_tested"] == 20


def test_a_fold_column_in_the_cache_or_the_manifest_gives_exactly_its_folds(tmp_path):
    labels, groups, layers = planted_data(n_groups=6)
    fold_of_group = {f"spk{g}": f"fold{g // 2}" for g in range(6)}
    folds = np.array([fold_of_group[g] for g in groups])
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, labels, groups)
    manifest = write_fold_manifest(tmp_path / "manifest.csv", labels, groups, folds)
    with h5py.File(cache, "a") as f:
        f.attrs["data"] = str(manifest)
        f.attrs["columns"] = "{}"
    from_manifest = run_sweep(cache, classifiers="logreg", fold_column="actor_fold", n_jobs=1).records[0].to_dict()
    with h5py.File(cache, "a") as f:
        f.create_dataset("clips/fold", data=folds.astype(object), dtype=h5py.string_dtype())
    result = run_sweep(cache, classifiers="logreg", fold_column="fold", n_jobs=1)
    from_cache = result.records[0].to_dict()
    assert result.folds.reason == "the 3 predefined folds of --fold-column fold"
    assert result.folds.split_counts == {}  # the split column plays no part: no counts of it on the protocol line
    expected = [np.flatnonzero(folds == name).tolist() for name in ("fold0", "fold1", "fold2")]
    for record in (from_manifest, from_cache):
        assert record["protocol"] == "predefined-folds"
        assert [fold["index"] for fold in record["predictions"]] == expected


def speaker_level_data(signal: float, seed: int):
    """16 speakers, one binary label each (an accent): 8 clips a speaker, a speaker offset, and a
    label shift of `signal` on a few dimensions."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"spk{g:02d}" for g in range(16)], 8)
    accent = np.repeat(np.tile([0, 1], 8), 8)
    X = rng.normal(size=(128, 8)) + np.repeat(rng.normal(size=(16, 8)), 8, axis=0)
    X[:, :3] += signal * accent[:, None]
    return X, np.where(accent == 1, "uk", "us"), groups


@pytest.mark.parametrize("signal, significant", [(2.5, True), (0.0, False)])
def test_speaker_level_labels_get_a_between_groups_test_with_power(tmp_path, signal, significant):
    X, labels, groups = speaker_level_data(signal, seed=4)
    cache = write_probe_cache(tmp_path / "c.h5", {0: X}, labels, groups)
    record = run_sweep(cache, classifiers="ridge", permutations=99, n_jobs=2, folds=4).records[0].to_dict()
    assert record["permutation"] == "between-groups" and record["permutations"] == 99
    assert (record["p_value"] <= 0.05) is significant
    assert (record["p_value_fwer"] <= 0.05) is significant


def test_selecting_among_thirteen_noise_layers_stays_at_chance_while_their_maximum_does_not(tmp_path):
    selected, maxima = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        labels = np.tile(["a", "b", "c"], 40)
        groups = np.repeat([f"spk{g}" for g in range(8)], 15)
        layers = {i: rng.normal(size=(120, 12)) for i in range(13)}
        cache = write_probe_cache(tmp_path / f"noise{seed}.h5", layers, labels, groups)
        records = [r.to_dict() for r in run_sweep(cache, classifiers="ridge", n_jobs=2, seed=seed).records]
        per_layer = [r["balanced_accuracy"]["value"] for r in records if r["layer"] != "selected"]
        maxima.append(max(per_layer))
        selected.append(next(r for r in records if r["layer"] == "selected")["balanced_accuracy"]["value"])
    assert abs(np.mean(selected) - 1 / 3) < 0.03
    assert np.mean(maxima) > 1 / 3 + 0.05


def test_two_identical_runs_write_identical_results(tmp_path, planted_probe_cache, capsys):
    for run in ("a", "b"):
        assert main([str(planted_probe_cache), "--layer", "1-2", "--permutations", "3",
                     "--out", str(tmp_path / run), "--n-jobs", "2", "--format", "json"]) == 0
    capsys.readouterr()
    first, second = ((tmp_path / run / "probe_results.json").read_bytes() for run in ("a", "b"))
    assert first == second


@pytest.mark.parametrize("classifier", ["logreg", "linear-svm", "ridge"])
def test_permutations_that_leave_one_class_in_a_training_part_do_not_stop_the_test(tmp_path, classifier):
    # 4 speakers, one label each: leave-one-speaker-out, and many between-groups permutations give a
    # training part a single class. Such a part can only predict that class.
    X, labels, groups = speaker_level_data(3.0, seed=0)
    keep = np.isin(groups, ["spk00", "spk01", "spk02", "spk03", "spk04", "spk05"])
    cache = write_probe_cache(tmp_path / "c.h5", {0: X[keep]}, labels[keep], groups[keep])
    record = run_sweep(cache, classifiers=classifier, permutations=9, cv="loso", n_jobs=1).records[0].to_dict()
    assert record["permutation"] == "between-groups" and 0 < record["p_value"] <= 1


def test_a_costly_permutation_run_is_announced_before_it_starts():
    from layerprobe.probes.classifiers import CLASSIFIERS
    from layerprobe.probes.study import permutation_cost

    specs = list(CLASSIFIERS.values())  # logreg, linear-svm refit per permutation; ridge does not
    seconds = {"logreg": 2.0, "linear-svm": 2.0, "ridge": 2.0}  # each probe's share of the observed fit time
    line = permutation_cost(6.0, seconds, specs, 999)
    assert "999 re-runs of every logreg, linear-svm fit, about 67 min expected" in line  # 6 s x 2/3 x 999
    assert permutation_cost(6.0, seconds, specs, 9) is None


def test_the_permutation_estimate_weighs_each_probe_by_its_share_of_the_fit_time():
    from layerprobe.probes.registry import probe_spec
    from layerprobe.probes.study import permutation_cost

    specs = [probe_spec(name) for name in ("logreg", "ridge", "weighted-sum")]
    # The weighted sum fits every layer at once: 89% of the observed fit time, not a third of it.
    seconds = {"logreg": 1.0, "ridge": 0.1, "weighted-sum": 8.9}
    line = permutation_cost(6.0, seconds, specs, 999)
    assert "999 re-runs of every logreg, weighted-sum fit, about 99 min expected" in line  # 6 s x 0.99 x 999
    # Where ridge takes most of the time, the refitting probes' share is small.
    assert permutation_cost(6.0, {"logreg": 1.0, "ridge": 8.9, "weighted-sum": 0.1}, specs, 999).count("about 11 min")


def test_a_test_part_missing_a_class_gives_one_line_and_no_library_warnings(tmp_path):
    import warnings

    labels, groups, layers = planted_data(n_groups=4)
    split = np.where(groups == "spk3", "test", "train")
    labels = labels.copy()
    labels[(groups == "spk3") & (labels == "class2")] = "class0"  # the test speaker never says class2
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, labels, groups, split=split)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_sweep(cache, classifiers="all", n_jobs=1)
    assert not [w for w in caught if "sklearn" in w.filename or "numpy" in w.filename], [str(w.message) for w in caught]
    gaps = [line for line in result.folds.warnings if "lack" in line]
    assert gaps == ["test parts missing classes (per-fold scores average over the classes present; pooled scores use "
                    "all): fold 1 lacks class2"]


def test_two_stray_clips_in_a_speaker_level_label_say_what_the_within_groups_scheme_costs(tmp_path):
    X, labels, groups = speaker_level_data(2.5, seed=4)
    labels = labels.copy()
    labels[[0, 9]] = np.where(labels[[0, 9]] == "uk", "us", "uk")  # one stray clip in each of two speakers
    cache = write_probe_cache(tmp_path / "c.h5", {0: X}, labels, groups)
    result = run_sweep(cache, classifiers="ridge", permutations=19, n_jobs=1, folds=4)
    assert result.records[0].significance.permutation == "within-groups"
    assert ("labels are nearly constant within groups (98.4% of clips agree with their group's majority; 2 clip(s) "
            "in 2 group(s) differ): the within-groups permutation scheme moves only the labels of those groups"
            ) in " ".join(result.notes)
    clean = run_sweep(write_probe_cache(tmp_path / "d.h5", {0: X}, speaker_level_data(2.5, seed=4)[1], groups),
                  classifiers="ridge", permutations=19, n_jobs=1, folds=4)
    assert not any("nearly constant" in note for note in clean.notes)
