"""kill -9 in the middle of a rung, then a rerun: it continues from the last epoch's checkpoint, never trains a
finished (rung, fold) unit again, and ends with the uninterrupted run's results (same seed, CPU)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from finetune_runs import probe_run

from layerprobe import run_finetune

# top-k: its trained blocks drop out, so the resumed run must also restore torch's random state to match.
OPTIONS = dict(rungs="top-k", learning_rates=(0.003, 0.01), epochs=3, batch_size=4)
FLAGS = ["--rungs", "top-k", "--learning-rates", "0.003,0.01", "--epochs", "3", "--batch-size", "4", "--device", "cpu",
         "--quiet"]


def results_without_times(folder) -> list[dict]:
    records = json.loads((folder / "finetune_results.json").read_text())["results"]
    return [{key: value for key, value in record.items() if key != "wall_seconds"} for record in records]


def finetune(run, out):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_finetune(run, out, progress=False, **OPTIONS)


def test_kill_minus_nine_mid_rung_then_rerun_equals_an_uninterrupted_run(tmp_path):
    run, _, _ = probe_run(tmp_path, folds=2)
    finetune(run, tmp_path / "whole")
    killed = tmp_path / "killed"
    work = killed / "finetune_work"
    process = subprocess.Popen([sys.executable, "-m", "layerprobe", "finetune", str(run), "--out", str(killed), *FLAGS],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Killed once the first unit has finished and the second has checkpointed an epoch: mid-rung, mid-unit.
    while not list(work.glob("top-k-fold1-*.json")) or not list(work.glob("top-k-fold2-*.pt")):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the run ended (code {process.returncode}) before it could be killed mid-rung")
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "finetune_results.json").exists()
    [first] = work.glob("top-k-fold1-*.json")
    finished = first.stat().st_mtime_ns, first.read_text()
    finetune(run, killed)
    assert (first.stat().st_mtime_ns, first.read_text()) == finished
    assert not list(work.glob("*.pt"))  # every unit finished, its checkpoint gone
    assert results_without_times(killed) == results_without_times(tmp_path / "whole")
    # Other options are other units: nothing of this run is reused for them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_finetune(run, killed, progress=False, **{**OPTIONS, "epochs": 2})
    assert len(list(work.glob("top-k-fold1-*.json"))) == 2
