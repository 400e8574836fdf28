"""A run folder filled stage by stage (no run.json): the report reads the data, groups, statuses and
the stages' timings from the cache and the files beside the results."""
from __future__ import annotations

import json

import h5py
import numpy as np

from conftest import planted_data, write_probe_cache
from layerprobe.baselines.cli import main as baselines_main
from layerprobe.baselines.compute import feature_by_name
from layerprobe.probes.cli import main as probe_main
from layerprobe.report.build import write_report


def test_the_stage_by_stage_report_states_what_the_cache_knows(tmp_path, capsys):
    labels, groups, layers = planted_data(n_groups=4, per_cell=4, dim=8)
    status = ["ok"] * len(labels)
    status[:3] = ["failed"] * 3
    mfcc = feature_by_name("mfcc")
    noisy = np.random.default_rng(0).normal(size=(len(labels), mfcc.dim)) + np.resize(layers[1], (len(labels), mfcc.dim))
    cache = write_probe_cache(tmp_path / "cache.h5", {1: layers[1], 2: layers[2]}, labels, groups, status=status,
                              features={"mfcc": noisy})
    with h5py.File(cache, "a") as f:
        f.attrs.update(data="/corpora/vowels/manifest.csv", group_column="speaker", model_revision="abc1234")
        f["features/mfcc"].attrs["params"] = json.dumps(mfcc.params, sort_keys=True)
        f["feature_status/mfcc"] = [b"ok"] * len(labels)
        f["feature_error/mfcc"] = [b""] * len(labels)
    run = tmp_path / "run"
    common = ["--n-jobs", "1", "--quiet", "--out", str(run)]
    assert probe_main([str(cache), "--classifier", "ridge", *common]) == 0
    assert baselines_main([str(cache), "--features", "mfcc", "--classifier", "logreg", *common]) == 0
    capsys.readouterr()
    seconds = json.loads((run / "stage_seconds.json").read_text())
    assert set(seconds) == {"probe", "baselines"} and all(value > 0 for value in seconds.values())
    markdown = write_report(run)["report.md"].read_text()
    ok = len(labels) - 3
    for line in ("- data: /corpora/vowels/manifest.csv", f"- clips: {ok} ok, 3 failed", "- groups: 4 (column speaker)",
                 "- revision: abc1234", f"| probe | {seconds['probe']:.1f} |",
                 f"| baselines | {seconds['baselines']:.1f} |"):
        assert line in markdown
    assert "unknown" not in markdown.split("## Dataset")[1].split("## Layers")[0]
    assert "run.json is missing" not in markdown and "Not recorded" not in markdown
