"""The baselines command: DATA -> DIR/cache.h5 and DIR/baseline_results.json; user errors exit 2 with one line;
no torch."""
from __future__ import annotations

import json
import subprocess
import sys

from test_baseline_compute import write_dataset

from layerprobe.baselines.cli import main


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, layerprobe.baselines.cli, layerprobe.baselines.run; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_with_out_makes_a_features_only_cache_and_results(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "run"
    assert main([str(data), "--out", str(out), "--classifier", "logreg", "--features", "mfcc,logmel",
                 "--n-jobs", "1", "--format", "json", "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (out / "cache.h5").is_file()
    assert json.loads((out / "baseline_results.json").read_text()) == doc
    assert doc["protocol"] == "leave-one-group-out"  # 3 speakers, fewer than the 5 default folds
    assert [(r["layer"], r["classifier"]) for r in doc["results"]] == [
        ("mfcc", "logreg"), ("logmel", "logreg"), ("selected", "selected"), ("chance", "majority"),
        ("chance", "stratified-random")]
    assert main([str(out / "cache.h5"), "--classifier", "logreg", "--n-jobs", "1", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "mfcc" in table and "majority" in table


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    data = write_dataset(tmp_path / "data", speakers=1)
    assert main([str(data)]) == 2
    assert main([str(tmp_path / "missing.h5")]) == 2
    assert main([str(data), "--out", str(tmp_path / "o"), "--features", "mel", "--quiet"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert [line.startswith("error: ") for line in errors] == [True, True, True]
    assert "--out DIR" in errors[0] and "unknown feature 'mel'" in errors[2]
