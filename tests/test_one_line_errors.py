"""Problems a user can cause give one line and exit code 2, before long work starts where they can."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import warnings

import h5py
import numpy as np
import pytest

from audio_files import write_tone
from conftest import mounted_tmpfs, planted_data, run_extract, write_probe_cache
from layerprobe.baselines.compute import compute_features
from layerprobe.data.reader import CacheReader
from layerprobe.errors import ArgumentParser, UserError, run_cli
from layerprobe.extract.cli import main as extract_main
from layerprobe.probes.cli import main as probe_main
from layerprobe.atomic_write import writable_folder


@pytest.fixture
def data(tmp_path):
    for number in range(4):
        (tmp_path / "data" / "ab"[number % 2]).mkdir(parents=True, exist_ok=True)
        write_tone(tmp_path / "data" / "ab"[number % 2] / f"{number}.wav", duration=0.6, frequency=200 + 50 * number)
    return tmp_path / "data"


@pytest.mark.parametrize("flags, message", [
    (["--chunk-seconds", "inf"], "argument --chunk-seconds: inf is not a positive finite number"),
    (["--batch-seconds", "inf"], "argument --batch-seconds: inf is not a positive finite number"),
    (["--max-seconds", "nan"], "argument --max-seconds: nan is not a positive finite number"),
    (["--device", "meta"], "--device meta: choose auto, cpu, cuda, cuda:N or mps"),
])
def test_bad_extraction_flags_are_one_line(data, tmp_path, group_norm_model, capsys, flags, message):
    assert extract_main([str(data), "--out", str(tmp_path / "c.h5"), "--model", group_norm_model, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_sample_rate_of_0_is_named_not_taken_for_a_chunk_problem(data, tmp_path, group_norm_model, capsys):
    model = tmp_path / "model"
    shutil.copytree(group_norm_model, model)
    config = json.loads((model / "preprocessor_config.json").read_text())
    (model / "preprocessor_config.json").write_text(json.dumps({**config, "sampling_rate": 0}))
    assert extract_main([str(data), "--out", str(tmp_path / "c.h5"), "--model", str(model), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its feature extractor's sampling_rate is 0 (preprocessor_config.json)" in err


def test_a_folder_that_is_a_file_or_cannot_be_made_is_found_first(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(UserError, match="--out .*taken is a file"):
        writable_folder(tmp_path / "taken")
    with pytest.raises(UserError, match="cannot write in .*taken/run: Not a directory"):
        writable_folder(tmp_path / "taken" / "run")
    assert writable_folder(tmp_path / "new" / "run").is_dir()


@pytest.fixture
def read_only_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path, "4m", "to make read-only")


def test_a_read_only_cache_or_run_folder_is_one_line(read_only_disk, data, group_norm_model):
    run_extract(str(data), str(read_only_disk / "c.h5"), model=group_norm_model, device="cpu", progress=False)
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_disk)], check=True)
    with pytest.raises(UserError, match="cannot write .*c.h5.lock: Read-only file system"):
        run_extract(str(data), str(read_only_disk / "c.h5"), model=group_norm_model, device="cpu", progress=False)
    with pytest.raises(UserError, match="cannot write .*c.h5.lock: Read-only file system"):
        compute_features(read_only_disk / "c.h5", ("mfcc",), progress=False)
    with pytest.raises(UserError, match="cannot write in .*disk: Read-only file system"):
        writable_folder(read_only_disk)


def test_a_cache_held_open_by_a_reader_does_not_stop_a_writer(data, tmp_path, group_norm_model):
    """Readers are not locked out (only ok rows are trusted, and those are never rewritten), so a
    notebook holding the cache open does not stop a run that adds a pooling to it."""
    cache = tmp_path / "c.h5"
    run_extract(str(data), str(cache), model=group_norm_model, device="cpu", progress=False)
    code = (f"import h5py, sys, time; f = h5py.File({str(cache)!r}, 'r'); f['layers/02'][()]; "
            "print('open', flush=True); time.sleep(60)")
    reader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        summary = run_extract(data, cache, model=group_norm_model, device="cpu", pooling="max", progress=False)
        assert summary.ok > 0 and reader.poll() is None
    finally:
        reader.kill()
        reader.wait()


def test_a_cache_whose_datasets_disagree_in_length_is_refused(tmp_path):
    labels, groups, layers = planted_data()
    cache = write_probe_cache(tmp_path / "c.h5", layers, labels, groups)
    with h5py.File(cache, "a") as f:
        del f["layers/01"]
        f["layers/01"] = np.zeros((len(labels) - 3, 32), dtype=np.float32)
    with pytest.raises(UserError, match="damaged: layers/01 has 141 rows, clips/status 144"):
        CacheReader(cache)


def test_a_cache_whose_columns_attribute_is_not_json_is_one_line(tmp_path):
    labels, groups, layers = planted_data()
    cache = write_probe_cache(tmp_path / "c.h5", layers, labels, groups)
    with h5py.File(cache, "a") as f:
        f.attrs.update(data=str(tmp_path), columns="{bad")
    with pytest.raises(UserError, match="'columns' attribute is not JSON"):
        compute_features(cache, ("mfcc",), progress=False)


def test_extending_a_cache_whose_datasets_disagree_in_length_is_refused(data, tmp_path, group_norm_model):
    cache = tmp_path / "c.h5"
    run_extract(str(data), str(cache), model=group_norm_model, device="cpu", progress=False)
    with h5py.File(cache, "a") as f:
        del f["clips/label"]
        f["clips/label"] = ["a", "b"]
    with pytest.raises(UserError, match="damaged: clips/label has 2 rows, clips/status 4"):
        run_extract(str(data), str(cache), model=group_norm_model, device="cpu", progress=False)


@pytest.fixture
def planted_cache(tmp_path):
    labels, groups, layers = planted_data(dim=4)
    return write_probe_cache(tmp_path / "planted.h5", {1: layers[1]}, labels, groups)


@pytest.fixture
def error_logs(tmp_path, monkeypatch):
    """Where the errors' log files go: a folder of this test."""
    folder = tmp_path / "logs"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_megabyte_error_is_one_cut_line_naming_the_log_that_holds_it_whole(planted_cache, tmp_path, error_logs, capsys):
    header = [f"column{i}" for i in range(300_000)]  # a 4 MB header: the error lists every column
    table = tmp_path / "labels.csv"
    table.write_text(",".join(header) + "\n" + ",".join("x" * len(header)) + "\n")
    assert probe_main([str(planted_cache), "--layers", "1", "--labels", str(table), "--label-column", "accent"]) == 2
    err = capsys.readouterr().err
    (log,) = error_logs.iterdir()
    assert err.count("\n") == 1 and len(err) < 500
    assert err.startswith("error: labels.csv has no column 'accent'; its columns are 'column0', 'column1'")
    assert err.endswith(f"... (the whole message: {log})\n")
    assert log.name.startswith("layerprobe-error-") and "'column299999'" in log.read_text()


def test_library_warnings_never_print_before_the_error_but_go_to_its_log(error_logs, capsys):
    def run(args):
        with np.errstate(invalid="ignore"):
            np.mean(np.zeros(0))  # numpy's RuntimeWarning: Mean of empty slice
        raise UserError("no clip is usable")

    assert run_cli(run, ArgumentParser(prog="x"), []) == 2
    err = capsys.readouterr().err
    (log,) = error_logs.iterdir()
    assert err == f"error: no clip is usable (the message and the 1 library warning(s) before it: {log})\n"
    assert "Mean of empty slice" in log.read_text()


def test_library_warnings_of_a_command_that_succeeds_come_after_its_output(capsys, monkeypatch):
    def run(args):
        with np.errstate(invalid="ignore"):
            np.mean(np.zeros(0))
        print("done")

    monkeypatch.setattr(warnings, "showwarning", lambda message, *rest: print(f"warning: {message}"))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert run_cli(run, ArgumentParser(prog="x"), []) == 0
    assert capsys.readouterr().out == "done\nwarning: Mean of empty slice\n"
