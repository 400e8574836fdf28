"""`layerprobe finetune`'s bad inputs: each one line on stderr and exit code 2, refused before any training."""
from __future__ import annotations

import json

import pytest

from finetune_runs import probe_run, save_trainable_model

from layerprobe import cli


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    return probe_run(tmp_path_factory.mktemp("ladder-cli"), folds=2)


def refused(capsys, *argv) -> str:
    code = cli.main(["finetune", *map(str, argv), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err.removeprefix("error: ").strip()


def test_a_run_folder_without_probe_results(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert refused(capsys, tmp_path / "run", "--out", tmp_path / "out") == (
        f"{tmp_path / 'run' / 'probe_results.json'} is missing: run `probe CACHE.h5 --out {tmp_path / 'run'}` first")


def test_a_run_whose_probe_results_hold_no_folds(setting, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    doc = json.loads((setting[0] / "probe_results.json").read_text())
    for record in doc["results"]:
        record["predictions"] = []
    (run / "probe_results.json").write_text(json.dumps(doc))
    assert refused(capsys, run, "--out", tmp_path / "out") == (
        f"{run}: its probe results hold no folds (no record keeps its out-of-fold predictions)")


def test_no_such_cache_or_run(tmp_path, capsys):
    assert refused(capsys, tmp_path / "absent.h5", "--out", tmp_path / "out") == (
        f"{tmp_path / 'absent.h5'}: no such cache or run folder")


def test_a_model_folder_that_is_not_the_caches_encoder(setting, tmp_path, capsys):
    import torch

    from transformers import Wav2Vec2Model

    other = save_trainable_model(tmp_path / "other")  # the cache's config and weights, one value changed
    model = Wav2Vec2Model.from_pretrained(other)
    with torch.no_grad():
        model.encoder.layers[0].attention.q_proj.bias += 1.0
    model.save_pretrained(other)
    capsys.readouterr()  # transformers' own progress lines while saving
    message = refused(capsys, setting[0], "--out", tmp_path / "out", "--model", other)
    assert message.startswith(f"--model {other} is not the cache's encoder: its fingerprint ")
    assert "differs from the cache's" in message


def test_an_unknown_rung(setting, tmp_path, capsys):
    assert refused(capsys, setting[0], "--out", tmp_path / "out", "--rungs", "frozen-head,lorra") == (
        "layerprobe finetune: argument --rungs: unknown rung 'lorra'; choose from frozen-head, top-k, lora, full, all")


def test_cuda_where_there_is_none(setting, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert refused(capsys, setting[0], "--out", tmp_path / "out", "--device", "cuda") == (
        "--device cuda: no CUDA device is available on this machine")


def test_more_folds_than_the_data_allow(setting, tmp_path, capsys):
    message = refused(capsys, setting[1], "--out", tmp_path / "out", "--cv", "stratified", "--folds", "20")
    assert message == "stratified 20-fold CV needs at least 20 clips per class; too few: 'c0' (12), 'c1' (12)"
    assert not (tmp_path / "out" / "finetune_results.json").exists()


def test_a_frozen_bottom_larger_than_its_disk_bound(setting, tmp_path, capsys):
    # 24 clips of 11-14 frames x 32 dims x 4 bytes: about 40 kB, over a bound of 10 kB.
    message = refused(capsys, setting[0], "--out", tmp_path / "out", "--rungs", "top-k", "--bottom-gb", "1e-5")
    assert message.startswith("the frozen bottom's frames need ") and message.endswith(
        " GB on disk, more than --bottom-gb 1e-05: raise it, or unfreeze more blocks")
    assert not list((tmp_path / "out" / "finetune_work").glob("bottom-*"))
