"""`finetune --engine ray` on a local Ray cluster of 2 CPUs: the (rung, fold) units as Ray tasks give the
single-process run's results (same seed, CPU), the units' files are the same ones, so either engine resumes the
other's, and no Ray process outlives the run, nor a driver killed with -9; a task's full disk, Ray flags without
it, and an address where nothing answers, are one line."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import pytest

from conftest import mounted_tmpfs, session_processes
from finetune_runs import probe_run

from layerprobe import cli, run_finetune

OPTIONS = dict(rungs="frozen-head", learning_rates=0.1, epochs=2, batch_size=4, device="cpu", progress=False)


def results_without_times(folder) -> list[dict]:
    records = json.loads((folder / "finetune_results.json").read_text())["results"]
    return [{key: value for key, value in record.items() if key != "wall_seconds"} for record in records]


def children() -> set[int]:
    """This process's live children (Ray's processes, while a local cluster runs)."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(entry))
    return found



@pytest.fixture
def ray_tmpdir(monkeypatch):
    pytest.importorskip("ray")
    folder = tempfile.mkdtemp(prefix="lp-ray-", dir="/tmp")  # unix socket paths are short
    monkeypatch.setenv("RAY_TMPDIR", folder)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield folder
    subprocess.run(["rm", "-rf", folder], check=False)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    return probe_run(tmp_path_factory.mktemp("ladder-ray"), folds=2)


@pytest.fixture
def small_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path, "1m", "to fill")


def test_units_as_ray_tasks_equal_the_single_process_run(setting, tmp_path, ray_tmpdir):
    run = setting[0]
    before = children()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_finetune(run, tmp_path / "here", **OPTIONS)
        doc = run_finetune(run, tmp_path / "ray", engine="ray", workers=2, cpus_per_worker=1, **OPTIONS)
    assert results_without_times(tmp_path / "ray") == results_without_times(tmp_path / "here")
    [record] = doc.results
    assert record.rung == "frozen-head" and record.device == "cpu" and len(record.epochs) == 2
    # Each unit wrote its own finished file, named as the single-process run names it.
    names = sorted(path.name for path in (tmp_path / "ray" / "finetune_work").glob("*.json"))
    assert names == sorted(path.name for path in (tmp_path / "here" / "finetune_work").glob("*.json"))
    assert len(names) == 2 and not list((tmp_path / "ray" / "finetune_work").glob("*.pt"))
    assert children() <= before  # the local cluster ended with the run


def test_the_estimate_comes_before_any_unit_trains_and_counts_the_units_at_once(setting, tmp_path, ray_tmpdir,
                                                                                capsys):
    run = setting[0]
    args = ["--rungs", "frozen-head,top-k", "--learning-rates", "0.1", "--epochs", "2", "--batch-size", "4",
            "--device", "cpu"]
    assert cli.main(["finetune", str(run), "--out", str(tmp_path / "here"), *args]) == 0
    [here] = re.findall(r"= (\d+) clip-seconds of training", capsys.readouterr().err)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["finetune", str(run), "--out", str(tmp_path / "ray"), *args, "--engine", "ray",
                         "--workers", "2"]) == 0
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if line.startswith("cost estimate: ")]
    assert err.index(line) < err.index("fine-tuning on Ray")
    assert re.search(rf"x 2 rungs x 2 folds = {here} clip-seconds of training, about .+ at the pace of the first "
                     r"batches, about .+ of wall time with 2 units at once$", line), line
    assert results_without_times(tmp_path / "ray") == results_without_times(tmp_path / "here")


def test_a_killed_driver_leaves_no_ray_process_and_the_rerun_completes(setting, tmp_path, ray_tmpdir):
    run = setting[0]
    options = dict(rungs="top-k", learning_rates=0.01, epochs=3, batch_size=4, device="cpu", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_finetune(run, tmp_path / "whole", **options)
    killed = tmp_path / "killed"
    driver = subprocess.Popen(
        [sys.executable, "-m", "layerprobe", "finetune", str(run), "--out", str(killed), "--rungs", "top-k",
         "--learning-rates", "0.01", "--epochs", "3", "--batch-size", "4", "--device", "cpu", "--engine", "ray",
         "--workers", "2", "--quiet"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((killed / "finetune_work").glob("top-k-*.pt")):  # a task has checkpointed an epoch
        if driver.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the run ended (code {driver.returncode}) before it could be killed")
        time.sleep(0.02)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 20  # Ray's agents outlive their driver by a minute; the watchdog ends them
    while (left := session_processes(driver.pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == []
    assert not (killed / "finetune_results.json").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_finetune(run, killed, **options)  # the process engine resumes the Ray tasks' units
    assert results_without_times(killed) == results_without_times(tmp_path / "whole")


def test_a_full_disk_in_a_task_is_one_line(setting, small_disk, ray_tmpdir, capsys):
    free = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize))
    code = cli.main(["finetune", str(setting[0]), "--out", str(small_disk / "out"), "--rungs", "frozen-head",
                     "--epochs", "1", "--device", "cpu", "--engine", "ray", "--workers", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    work = small_disk / "out" / "finetune_work"
    assert re.fullmatch(f"error: cannot write {work}/frozen-head-fold[12]-\\w+\\.pt: No space left on device\n", err)


def test_cuda_on_a_cluster_without_gpus_is_one_line(setting, tmp_path, ray_tmpdir, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device, so its local Ray cluster has GPUs")
    code = cli.main(["finetune", str(setting[0]), "--out", str(tmp_path / "out"), "--rungs", "frozen-head",
                     "--device", "cuda", "--engine", "ray", "--workers", "2", "--quiet"])
    assert code == 2
    assert capsys.readouterr().err == "error: --device cuda: a unit needs 1 GPU; the local Ray cluster has 0\n"
    assert not list((tmp_path / "out" / "finetune_work").glob("*.json"))


def test_ray_flags_without_the_ray_engine_are_one_line(tmp_path, capsys):
    assert cli.main(["finetune", str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "2", "--quiet"]) == 2
    assert capsys.readouterr().err == "error: --workers needs --engine ray\n"
    assert not (tmp_path / "out").exists()


def test_an_address_where_no_cluster_answers_is_one_line_before_any_work(tmp_path, capsys):
    pytest.importorskip("ray")
    assert cli.main(["finetune", str(tmp_path), "--out", str(tmp_path / "out"), "--engine", "ray",
                     "--ray-address", "127.0.0.1:1", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        "error: --ray-address 127.0.0.1:1: no Ray cluster answers there (Connection refused)\n")
    assert not (tmp_path / "out").exists()
