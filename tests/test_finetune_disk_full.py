"""A full disk under `layerprobe finetune --out`: a failed checkpoint, frame store or results write is one line
and exit code 2, leaves no temporary file and loses no finished unit; with space again the rerun ends with the
uninterrupted run's results. Needs a small tmpfs (root), as tests/test_disk_full.py."""
from __future__ import annotations

import json
import re

import pytest

from conftest import fill_disk, mounted_tmpfs
from finetune_runs import probe_run

from layerprobe import cli

FULL = "No space left on device"
FLAGS = ["--learning-rates", "0.01", "--epochs", "2", "--batch-size", "4", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    return probe_run(tmp_path_factory.mktemp("ladder-disk"), folds=2)


@pytest.fixture
def small_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path, "2m", "to fill")



def finetune(capsys, run, out, rungs: str) -> tuple[int, str]:
    code = cli.main(["finetune", str(run), "--out", str(out), "--rungs", rungs, *FLAGS])
    return code, capsys.readouterr().err


def files(folder) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (no temporary may be among them)."""
    found = {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
    assert not [name for name in found if ".tmp" in name], sorted(found)
    return found


def results(out) -> list[dict]:
    records = json.loads((out / "finetune_results.json").read_text())["results"]
    return [{key: value for key, value in record.items() if key != "wall_seconds"} for record in records]


def test_a_full_disk_mid_ladder_is_one_line_and_the_rerun_completes_it(setting, small_disk, tmp_path, capsys):
    run = setting[0]
    assert finetune(capsys, run, tmp_path / "whole", "frozen-head,top-k")[0] == 0
    out = small_disk / "out"
    assert finetune(capsys, run, out, "frozen-head")[0] == 0
    finished = {name: data for name, data in files(out / "finetune_work").items() if name.endswith(".json")}
    assert len(finished) == 2
    fill_disk(small_disk, leave=20_000)  # room for small files, not for top-k's frozen frames (about 40 kB)

    code, err = finetune(capsys, run, out, "frozen-head,top-k")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.fullmatch(f"error: cannot write {out / 'finetune_work'}/bottom-\\S+\\.npy: {FULL}\n", err), err
    kept = files(out / "finetune_work")
    assert {name: kept[name] for name in finished} == finished  # the finished units, untouched

    (small_disk / "filler").unlink()
    assert finetune(capsys, run, out, "frozen-head,top-k")[0] == 0
    assert results(out) == results(tmp_path / "whole")


def test_a_checkpoint_on_a_full_disk_is_one_line(setting, small_disk, capsys):
    out = small_disk / "out"
    out.mkdir()
    fill_disk(small_disk, leave=0)
    code, err = finetune(capsys, setting[0], out, "frozen-head")
    assert code == 2 and err.count("\n") == 1, err
    assert re.fullmatch(f"error: cannot write {out / 'finetune_work'}/frozen-head-fold1-\\w+\\.pt: {FULL}\n", err), err
    assert files(out) == {}


def test_the_results_on_a_full_disk_keep_the_previous_ones(setting, small_disk, capsys):
    out = small_disk / "out"
    assert finetune(capsys, setting[0], out, "frozen-head")[0] == 0
    before = files(out)
    fill_disk(small_disk, leave=0)
    code, err = finetune(capsys, setting[0], out, "frozen-head")  # every unit finished: only the results are written
    assert code == 2 and err.count("\n") == 1, err
    assert re.fullmatch(f"error: cannot write {out}/finetune_results\\S*: {FULL}\n", err), err
    assert files(out) == before
