import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import planted_data, run_sweep, write_probe_cache

from layerprobe.probes.cli import main
from layerprobe.probes.saved_probe import load_probe
from layerprobe.probes.sweep import records_frame


def test_table_says_the_protocol_and_the_selected_layer_and_warns_without_groups(tmp_path, capsys):
    labels, _, layers = planted_data()
    cache = write_probe_cache(tmp_path / "c.h5", {0: layers[0], 2: layers[2]}, labels)
    assert main([str(cache), "--layer", "all", "--classifier", "logreg", "--n-jobs", "1"]) == 0
    out, err = capsys.readouterr()
    assert "protocol: stratified-kfold (5 folds, seed 0, hyperparameters chosen by inner-cv): stratified CV: the " \
           "cache has no groups" in out
    rows = [line.split() for line in out.splitlines() if "logreg" in line]
    assert [row[0] for row in rows[:3]] == ["0", "2", "selected"]
    assert "selected layer (logreg): chosen inside each training part, per fold: 2, 2, 2, 2, 2" in out
    assert "warning: no groups: stratified CV may put clips of one speaker" in err


def test_json_is_the_only_thing_on_stdout_and_out_writes_it(tmp_path, capsys, planted_probe_cache):
    code = main([str(planted_probe_cache), "--layer", "1-2", "--format", "json", "--out", str(tmp_path / "run"),
                 "--n-jobs", "2", "--seed", "3"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads((tmp_path / "run" / "probe_results.json").read_text())
    assert doc["protocol"] == "stratified-group-kfold" and doc["seed"] == 3 and doc["n_folds"] == 5
    assert [(r["layer"], r["classifier"]) for r in doc["results"]] == [
        (1, "logreg"), (1, "linear-svm"), (1, "ridge"), (2, "logreg"), (2, "linear-svm"), (2, "ridge"),
        ("selected", "logreg"), ("selected", "linear-svm"), ("selected", "ridge"), ("selected", "selected")]
    record = doc["results"][0]
    assert record["selection"] == "inner-cv" and len(record["C"]) == 5
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert set(record[metric]) == {"value", "ci", "ci_method", "std", "folds"} and len(record[metric]["folds"]) == 5
    assert record["chance"]["majority"]["accuracy"] == pytest.approx(1 / 3, abs=0.05)
    assert "p_value" not in record


def test_api_frame_has_one_row_per_layer_and_classifier(planted_probe_cache):
    records = run_sweep(planted_probe_cache, layers=[0, 2], classifiers="logreg", n_jobs=1, permutations=2).records
    frame = records_frame(records)
    assert frame[["layer", "classifier"]].values.tolist() == [[0, "logreg"], [2, "logreg"], ["selected", "logreg"]]
    assert frame.loc[1, "balanced_accuracy"] == pytest.approx(records[1].balanced_accuracy.value)
    assert "p_value" in frame and "p_value_fwer" in frame


def test_saved_probe_predicts_like_the_fitted_pipeline(tmp_path, capsys, planted_probe_cache):
    out = tmp_path / "run"
    assert main([str(planted_probe_cache), "--layer", "2", "--out", str(out), "--save-model", "--n-jobs", "1"]) == 0
    capsys.readouterr()
    result = run_sweep(planted_probe_cache, layers=2, n_jobs=1, save_model=True)
    X = planted_data()[2][2].astype(np.float32)
    for fit in result.fits:
        saved = load_probe(out / "models" / f"layer02_{fit.classifier}.npz")
        assert saved.meta["layer"] == 2 and saved.meta["model"] == "synthetic/encoder"
        expected = np.array(result.classes)[fit.model.predict(X)]
        np.testing.assert_array_equal(saved.predict(X), expected)
    assert main([str(planted_probe_cache), "--predict", str(out / "models" / "layer02_logreg.npz"),
                 "--out", str(tmp_path / "pred")]) == 0
    printed = capsys.readouterr().out
    assert "accuracy on the 144 labelled clips: 1.000" in printed
    assert (tmp_path / "pred" / "predictions.csv").read_text().startswith("id,label,predicted,probability_class0")


def test_saved_binary_probe_predicts_like_sklearn(tmp_path, planted_probe_cache):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from layerprobe.probes.saved_probe import save_probe
    from layerprobe.probes.spec import linear_model
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), np.array(["no", "yes"] * 30)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=100)).fit(X, y)
    saved = load_probe(save_probe(linear_model(pipeline), ["no", "yes"], tmp_path / "b.npz", {"layer": 0, "model": "m"}))
    np.testing.assert_array_equal(saved.predict(X), pipeline.predict(X))


@pytest.mark.parametrize("argv, message", [
    (["{cache}", "--layer", "14"], "layer(s) 14 not in the cache; stored layers: 0, 1, 2, 3"),
    (["{cache}", "--layer", "two"], "layers 'two': use all"),
    (["{tmp}/nope.h5"], "cache not found"),
    (["{cache}", "--classifier", "logreg,svm-rbf"],
     "unknown classifier 'svm-rbf'; choose from logreg, linear-svm, ridge, mlp, weighted-sum, all"),
    (["{cache}", "--cv", "stratified", "--folds", "50"], "at least 50 clips per class; too few: 'class0' (48)"),
    (["{cache}", "--cv", "group", "--folds", "9"], "9-fold grouped CV needs at least 9 groups, the cache has 8"),
    (["{cache}", "--save-model"], "--save-model needs --out DIR"),
    (["{cache}", "--predict", "{tmp}/nope.npz", "--out", "{tmp}/pred"], "saved probe not found"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, planted_probe_cache, argv, message):
    argv = [a.format(cache=planted_probe_cache, tmp=tmp_path) for a in argv]
    assert main(argv + ["--n-jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_predict_refuses_a_cache_from_another_encoder(tmp_path, capsys, planted_probe_cache):
    assert main([str(planted_probe_cache), "--layer", "0", "--classifier", "logreg", "--out", str(tmp_path),
                 "--save-model", "--n-jobs", "1"]) == 0
    other = write_probe_cache(tmp_path / "other.h5", {0: np.zeros((4, 32))}, ["a", "b", "a", "b"])
    with __import__("h5py").File(other, "a") as f:
        f.attrs["model"] = "another/encoder"
    assert main([str(other), "--predict", str(tmp_path / "models" / "layer00_logreg.npz"),
                 "--out", str(tmp_path / "pred")]) == 2
    assert "fitted on embeddings of 'synthetic/encoder'" in capsys.readouterr().err
    assert main([str(other), "--predict", str(tmp_path / "models" / "layer00_logreg.npz"), "--force",
                 "--out", str(tmp_path / "pred")]) == 0
    assert "applied anyway (--force)" in capsys.readouterr().err
    assert (tmp_path / "pred" / "predictions.csv").read_text().startswith("id,label,predicted")
    assert not list((tmp_path / "pred").glob(".*tmp*"))


@pytest.mark.parametrize("command", ["probe", "baselines"])
def test_an_unwritable_out_is_found_before_the_first_fit(tmp_path, capsys, planted_probe_cache, monkeypatch, command):
    import layerprobe.probes.study as study
    from layerprobe.baselines.cli import main as baselines_main

    monkeypatch.setattr(study, "evaluate_candidates", lambda *a, **k: pytest.fail("fitted before checking --out"))
    (tmp_path / "file").write_text("")
    run = main if command == "probe" else baselines_main
    assert run([str(planted_probe_cache), "--out", str(tmp_path / "file"), "--n-jobs", "1"]) == 2
    assert f"--out {tmp_path / 'file'} is a file; give a folder" in capsys.readouterr().err


def test_probe_stage_never_imports_torch():
    code = "import sys, layerprobe.probes.cli, layerprobe.data.reader; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_layers_is_the_flag_as_everywhere_with_layer_kept_and_quiet_hides_the_bar(capsys, planted_probe_cache):
    assert main([str(planted_probe_cache), "--layers", "2", "--classifier", "ridge", "--n-jobs", "1", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "probe fits" not in err  # the progress bar
    assert main([str(planted_probe_cache), "--layer", "2", "--classifier", "ridge", "--n-jobs", "1"]) == 0
    again, err = capsys.readouterr()
    assert again == out and "probe fits" in err


def test_version_and_python_dash_m():
    import layerprobe

    for command in ([sys.executable, "-m", "layerprobe", "--version"], ["layerprobe", "--version"]):
        # The venv's own scripts first, as an activated environment would have them.
        path = f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PATH": path})
        assert result.returncode == 0 and result.stdout.strip() == f"layerprobe {layerprobe.__version__}"


def test_a_closed_pipe_ends_quietly(planted_probe_cache):
    probe = subprocess.Popen([sys.executable, "-m", "layerprobe", "probe", str(planted_probe_cache), "--layers", "1-2",
                              "--classifier", "ridge", "--n-jobs", "1", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    probe.stdout.close()  # the reader is gone before the table is printed
    assert probe.wait() == 141
    assert b"Traceback" not in probe.stderr.read()
