"""`finetune --engine ray` on a local Ray cluster of 2 CPUs: the (rung, fold) units as Ray tasks give the
single-process run's results (same seed, CPU), the units' files are the same ones, so either engine resumes the
other's, and no Ray process outlives the run; Ray flags without it, and an address where nothing answers, are
one line."""
from __future__ import annotations

import json
import os
import tempfile
import warnings

import pytest

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


def test_units_as_ray_tasks_equal_the_single_process_run(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="lp-ray-", dir="/tmp"))  # unix socket paths are short
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    run, _, _ = probe_run(tmp_path, folds=2)
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
