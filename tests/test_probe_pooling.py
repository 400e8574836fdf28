"""`probe --pooling`: one stored pooling, or several concatenated (mean+std), named in records and report."""
import json

import h5py
import numpy as np
from conftest import planted_data, write_probe_cache

from layerprobe.probes.cli import main
from layerprobe.report.sections import encoder
from layerprobe.results import Document


def with_pooled(cache, name: str, layers: dict[int, np.ndarray], status=None):
    """Add pooled/NAME/NN and pooled/NAME/status (all "ok" unless given) to a cache."""
    with h5py.File(cache, "r+") as f:
        for index, values in layers.items():
            f[f"pooled/{name}/{index:02d}"] = np.asarray(values, dtype=np.float32)
        rows = len(f["clips/status"])
        f[f"pooled/{name}/status"] = np.array(status if status is not None else ["ok"] * rows, dtype="S8")
        f.attrs["pooling"] = ",".join(["mean", *sorted(f["pooled"])])
    return cache


def probe_json(capsys, *args) -> dict:
    assert main([*args, "--format", "json", "--classifier", "logreg", "--folds", "3", "--n-jobs", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def test_mean_plus_std_probes_the_concatenation(tmp_path, capsys):
    labels, groups, layers = planted_data(n_groups=4, per_cell=4, dim=8)
    spread = {index: np.abs(values[:, ::-1]) for index, values in layers.items()}
    cache = with_pooled(write_probe_cache(tmp_path / "c.h5", layers, labels, groups), "std", spread)
    joined = write_probe_cache(tmp_path / "joined.h5", {i: np.hstack([layers[i], spread[i]]) for i in layers},
                               labels, groups)
    doc = probe_json(capsys, str(cache), "--layers", "1,2", "--pooling", "mean+std")
    reference = probe_json(capsys, str(joined), "--layers", "1,2")
    assert doc["pooling"] == "mean+std" and {r["pooling"] for r in doc["results"]} == {"mean+std"}
    for got, expected in zip(doc["results"], reference["results"]):
        assert got["predictions"] == expected["predictions"] and got["accuracy"] == expected["accuracy"]
    alone = probe_json(capsys, str(cache), "--layers", "2", "--pooling", "std")
    assert alone["results"][0]["pooling"] == "std"
    assert alone["results"][0]["predictions"] != doc["results"][1]["predictions"]
    typed = Document.from_dict(doc)
    assert "pooling over each clip's frames: mean+std (their vectors concatenated: statistics pooling)" in \
        encoder(type("Inputs", (), {"run": None, "probe": typed, "layer_records": typed.results})())[1].items


def test_an_absent_or_unfinished_pooling_is_one_line_naming_the_stored_ones(tmp_path, capsys):
    labels, groups, layers = planted_data(n_groups=4, per_cell=4, dim=8)
    cache = with_pooled(write_probe_cache(tmp_path / "c.h5", layers, labels, groups), "std", layers,
                        status=["ok"] * (len(labels) - 2) + ["pending"] * 2)
    assert main([str(cache), "--pooling", "mean+max", "--n-jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: pooling max is not in the cache; stored poolings: mean, std " \
                          "(extract-embeddings --pooling adds one)"
    assert main([str(cache), "--pooling", "std", "--n-jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pooling std is missing for 2 of the {len(labels)} ok clips" in err


def test_a_probe_saved_on_a_pooling_predicts_from_that_pooling(tmp_path, capsys):
    labels, groups, layers = planted_data(n_groups=4, per_cell=4, dim=8)
    cache = with_pooled(write_probe_cache(tmp_path / "c.h5", layers, labels, groups), "max", layers)
    assert main([str(cache), "--layers", "2", "--pooling", "mean+max", "--classifier", "logreg", "--folds", "3",
                 "--n-jobs", "1", "--out", str(tmp_path / "run"), "--save-model"]) == 0
    capsys.readouterr()
    assert main([str(cache), "--predict", str(tmp_path / "run" / "models" / "layer02_logreg.npz"),
                 "--out", str(tmp_path / "predicted")]) == 0
    assert "accuracy on the" in capsys.readouterr().out  # 16 dims read back: mean and max, as fitted


def test_poolings_joined_by_a_comma_point_to_the_plus(tmp_path, capsys):
    labels, groups, layers = planted_data(n_groups=4, per_cell=4, dim=8)
    cache = with_pooled(write_probe_cache(tmp_path / "c.h5", layers, labels, groups), "max", layers)
    assert main([str(cache), "--pooling", "mean,max", "--n-jobs", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --pooling mean,max: probe reads one pooling, or several joined by '+' into one vector per clip "
        "(mean+max); the cache holds mean, max")
