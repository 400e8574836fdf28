"""--model given as a missing folder, a file, or a hub id that is neither downloaded nor reachable: one line, at once."""
import time

import pytest
from audio_files import write_tone
from huggingface_hub import constants

from layerprobe.errors import UserError
from layerprobe.extract.cli import main
from layerprobe.extract.model_source import check_model_source


@pytest.mark.parametrize("given", ["./no-such-model", "/tmp/no/such/model", "models/w2v/base/"])
def test_a_missing_local_folder_is_named_as_such(given):
    with pytest.raises(UserError, match="^--model .*: no such folder$"):
        check_model_source(given)


def test_a_file_is_not_a_model_folder(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(UserError, match="not a folder"):
        check_model_source(str(weights))


def test_an_unreachable_hub_fails_at_once(monkeypatch):
    # Port 9 on the loopback refuses at once: the hub is unreachable whatever this machine's network.
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", "/nonexistent-hub-cache")
    started = time.monotonic()
    with pytest.raises(UserError, match="^--model someone/some-model: not downloaded, and the Hugging Face hub cannot "
                                        "be reached .*give a local model folder"):
        check_model_source("someone/some-model")
    assert time.monotonic() - started < 10


def test_offline_mode_says_so(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", "/nonexistent-hub-cache")
    with pytest.raises(UserError, match="not downloaded, and HF_HUB_OFFLINE is set"):
        check_model_source("someone/some-model")


def test_extract_with_a_missing_model_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "a" / "yes").mkdir(parents=True)
    write_tone(tmp_path / "a" / "yes" / "x.wav")
    assert main([str(tmp_path / "a"), "--out", str(tmp_path / "c.h5"), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.strip().endswith("nope: no such folder"), err
