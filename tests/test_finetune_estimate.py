"""The cost estimate `finetune` prints before it trains: clip-seconds x epochs x rungs x folds, counted as the units
will train them (each learning rate on the inner split, then the refit on the training part), at each rung's pace
timed on its first batches, on the process engine as on Ray."""
from __future__ import annotations

import re

import numpy as np
import pytest

from finetune_runs import probe_run

from layerprobe import cli
from layerprobe.finetune.estimate import clip_seconds, estimate_line
from layerprobe.finetune.ladder_input import ladder_input
from layerprobe.options import FinetuneOptions
from layerprobe.probes.protocols import OuterFold

ARGS = ["--rungs", "frozen-head,top-k", "--learning-rates", "0.1,0.01", "--epochs", "2", "--batch-size", "4",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    return probe_run(tmp_path_factory.mktemp("ladder-estimate"), folds=2)


def folds_by_hand() -> list[OuterFold]:
    return [OuterFold(fit=np.array([0, 1, 2, 3]), test=np.array([4, 5]),
                      selection=((np.array([0, 1]), np.array([2, 3])),)),
            OuterFold(fit=np.array([2, 3, 4, 5]), test=np.array([0, 1]),
                      selection=((np.array([4]), np.array([2, 3, 5])),))]


def test_clip_seconds_count_each_learning_rate_on_the_inner_split_and_the_refit():
    durations = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    # Fold 1: 3 rates x (1 + 2) s + the refit's 10 s; fold 2: 3 x 5 s + 18 s; every epoch of each.
    assert clip_seconds(folds_by_hand(), durations, grid_size=3, epochs=2) == 2 * (9 + 10) + 2 * (15 + 18)


def test_the_line_adds_the_rungs_paces_and_divides_by_the_units_at_once():
    durations = np.full(6, 30.0)
    options = FinetuneOptions(learning_rates=(0.1, 0.01), epochs=3)
    per_rung = clip_seconds(folds_by_hand(), durations, 2, 3)  # 3 x (2 x 60 + 120) + 3 x (2 x 30 + 120) = 1260
    line = estimate_line([0.5, 0.25], options, folds_by_hand(), durations)
    assert line == ("cost estimate: 120 clip-seconds per training part x 3 epochs x (2 learning rates on the inner "
                    f"split + the refit) x 2 rungs x 2 folds = {2 * per_rung:.0f} clip-seconds of training, about "
                    "16 min at the pace of the first batches")  # 0.75 s/s x 1260 s
    parallel = estimate_line([0.5, 0.25], options, folds_by_hand(), durations, at_once=4)
    assert parallel == line + ", about 4 min of wall time with 4 units at once"


def estimate_from(err: str) -> tuple[int, int]:
    """(clip-seconds of training, rungs) from the estimate line in `err`, which must come before training."""
    [line] = [line for line in err.splitlines() if line.startswith("cost estimate: ")]
    assert err.index(line) < err.index("fine-tuning")
    found = re.search(r"x (\d+) rungs x \d+ folds = (\d+) clip-seconds of training, about \d+ (s|min)", line)
    assert found, line
    return int(found[2]), int(found[1])


def expected_clip_seconds(run) -> int:
    found = ladder_input(run)
    return round(2 * clip_seconds(found.folds.outer, found.durations, grid_size=2, epochs=2))


def test_the_process_engine_prints_the_estimate_before_it_trains(setting, tmp_path, capsys):
    run = setting[0]
    assert cli.main(["finetune", str(run), "--out", str(tmp_path / "out"), *ARGS]) == 0
    assert estimate_from(capsys.readouterr().err) == (expected_clip_seconds(run), 2)


def test_quiet_prints_no_estimate(setting, tmp_path, capsys):
    assert cli.main(["finetune", str(setting[0]), "--out", str(tmp_path / "out"), *ARGS, "--quiet"]) == 0
    assert "cost estimate" not in capsys.readouterr().err
