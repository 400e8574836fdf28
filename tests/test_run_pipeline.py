"""`layerprobe run` end to end on generated audio with a tiny encoder, and the notebook API."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import layerprobe
from layerprobe.probes.output import with_interval
from layerprobe.data.demo_dataset import write_demo_dataset
from layerprobe.errors import UserError
from layerprobe.layer_spec import format_layers
from layerprobe.results import Metric


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, request):
    model = request.getfixturevalue("group_norm_model")
    root = tmp_path_factory.mktemp("run")
    manifest = write_demo_dataset(root / "data", speakers=4, clips_per_vowel=4)
    files = layerprobe.run(manifest, root / "out", model=model, device="cpu", n_jobs=1, progress=False)
    return root, manifest, model, files


def test_the_report_holds_the_results_numbers(finished_run):
    root, _, _, files = finished_run
    for name in ("report.md", "report.html", "results.json"):
        assert files[name].exists()
    results = json.loads(files["results.json"].read_text())
    probes = json.loads((root / "out" / "probe_results.json").read_text())["results"]
    assert results["results"][:len(probes)] == probes
    assert {r["layer"] for r in results["results"]} >= {"mfcc", "chance"}
    selected = next(r for r in probes if r["layer"] == r["classifier"] == "selected")
    assert f"reaches UAR {with_interval(Metric.from_dict(selected['balanced_accuracy']))}" in files["report.md"].read_text()
    facts = json.loads((root / "out" / "run.json").read_text())
    assert facts["n_clips"] == 4 * 3 * 4 and facts["groups"] == 4 and facts["classes"] == {"a": 16, "i": 16, "u": 16}
    assert facts["group_column"] == "speaker"


def test_a_second_run_computes_nothing_new(finished_run, monkeypatch):
    root, manifest, model, _ = finished_run
    from layerprobe.extract.encoder import Encoder

    before = {name: (root / "out" / name).read_text() for name in ("probe_results.json", "baseline_results.json")}
    monkeypatch.setattr(Encoder, "summarize", lambda *a, **k: pytest.fail("a finished clip was encoded again"))
    layerprobe.run(manifest, root / "out", model=model, device="cpu", n_jobs=1, progress=False)
    for name, text in before.items():
        assert (root / "out" / name).read_text() == text


def test_a_rerun_with_other_layers_recomputes_the_probes(finished_run, tmp_path, capsys):
    root, manifest, model, _ = finished_run
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    (out / "baseline_results.json").write_bytes(b"")  # as a kill during its write would leave it
    layerprobe.run(manifest, out, model=model, layers=[0, 2], overwrite=True, device="cpu", n_jobs=1,
                   progress=False)
    probes = json.loads((out / "probe_results.json").read_text())["results"]
    assert {r["layer"] for r in probes if isinstance(r["layer"], int)} == {0, 2}
    assert "baseline_results.json cannot be read" in capsys.readouterr().err


def test_an_empty_or_unknown_feature_is_refused_before_extraction(tmp_path):
    for features, message in (([], "--features names no feature"), (["mfcc", "chroma"], "unknown feature 'chroma'")):
        with pytest.raises(UserError, match=message):
            layerprobe.run(tmp_path / "no-such-data", tmp_path / "out", features=features)


def test_the_notebook_api(finished_run):
    root, manifest, model, _ = finished_run
    cache = root / "out" / "cache.h5"
    summary = layerprobe.extract_embeddings(manifest, cache, model=model, device="cpu", progress=False)
    assert summary.skipped == 48 and summary.ok == 0  # it resumes
    frame = layerprobe.probe(cache, layers="0,4", classifiers="logreg", n_jobs=1, progress=False).frame()
    assert frame["layer"].tolist() == [0, 4, "selected"] and "balanced_accuracy_ci_low" in frame
    loaded = layerprobe.load_cache(cache)
    assert len(loaded.clips) == 48 and loaded.layers[4].shape == (48, 32) and loaded.features["mfcc"].shape[0] == 48
    baselines = layerprobe.run_baselines(cache, features=("mfcc",), classifiers=("logreg",), n_jobs=1, progress=False)
    assert baselines.frame()["layer"].tolist()[0] == "mfcc"
    printed = subprocess.run([sys.executable, "-m", "layerprobe", "baselines", str(cache), "--features", "mfcc",
                              "--classifier", "logreg", "--n-jobs", "1", "--format", "json", "--quiet"],
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(json.dumps(baselines.to_dict())) == json.loads(printed)  # the API returns what the CLI prints


def test_importing_the_cpu_stages_does_not_import_torch():
    code = ("import sys, layerprobe, layerprobe.probes.cli, layerprobe.baselines.cli, layerprobe.report.cli; "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_new_manifest_into_a_run_folder_adds_its_clips_without_overwrite(finished_run, tmp_path, monkeypatch):
    root, _, model, _ = finished_run
    from layerprobe.extract.encoder import Encoder

    out, data = tmp_path / "out", tmp_path / "data"
    shutil.copytree(root / "out", out)
    shutil.copytree(root / "data", data)
    extra = write_demo_dataset(tmp_path / "extra", speakers=1, clips_per_vowel=4, seed=5)
    shutil.move(extra.parent / "speaker0", data / "speaker4")
    new_rows = extra.read_text().replace("speaker0", "speaker4").splitlines()[1:]
    manifest = data / "more.csv"  # the first run's 48 clips and 12 new ones, in a second manifest
    manifest.write_text((data / "manifest.csv").read_text() + "\n".join(new_rows) + "\n")
    encoded = []
    summarize = Encoder.summarize
    monkeypatch.setattr(Encoder, "summarize",
                        lambda self, waves, *a, **k: encoded.append(len(waves)) or summarize(self, waves, *a, **k))
    layerprobe.run(manifest, out, model=model, device="cpu", n_jobs=1, progress=False)
    assert sum(encoded) == 12  # only the new clips were encoded
    for name in ("probe_results.json", "baseline_results.json"):
        assert json.loads((out / name).read_text())["n_clips"] == 60, name
    assert json.loads((out / "run.json").read_text())["groups"] == 5


def test_layerprobe_run_with_the_weighted_sum_reports_its_layer_weights(finished_run, tmp_path):
    from layerprobe.cli import main as layerprobe_main

    root, manifest, model, _ = finished_run
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    assert layerprobe_main(["run", str(manifest), "--out", str(out), "--model", str(model), "--device", "cpu",
                            "--classifier", "logreg,weighted-sum", "--n-jobs", "1", "--quiet"]) == 0
    probes = json.loads((out / "probe_results.json").read_text())["results"]
    heads = [r for r in probes if r["layer"] == "all"]
    assert [r["classifier"] for r in heads] == ["weighted-sum"]
    assert heads[0]["layer_weights"]["layers"] == json.loads((out / "run.json").read_text())["layers"]
    assert [(r["layer"], r["classifier"]) for r in probes if r["layer"] == "selected"] == [
        ("selected", "logreg"), ("selected", "selected")]
    markdown = (out / "report.md").read_text()
    assert (out / "layer_weights.png").is_file() and "](layer_weights.png)" in markdown
    head = Metric.from_dict(heads[0]["balanced_accuracy"])
    assert f"The weighted sum of layers {format_layers(heads[0]['layer_weights']['layers'])} reaches UAR " \
           f"{with_interval(head)}; its weight sits mostly on " in markdown
    assert f"| weighted sum of layers {format_layers(heads[0]['layer_weights']['layers'])} | {with_interval(head)} |" \
        in markdown
