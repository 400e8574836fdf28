"""`extract-embeddings --engine ray` on a local Ray cluster of 2 CPU workers: the same cache as the
single-process run, bad clips recorded alike, and kill -9 of the driver mid-run then a rerun
completing it, with no Ray process left behind; an address where no cluster answers is one line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from audio_files import write_text, write_truncated
from layerprobe.extract.cli import main as extract_main
from conftest import run_extract, session_processes

CLIPS = 80  # enough that the kill after 10 stored rows lands mid-run: 27 batches of 2 s
CHUNK = 1.0  # seconds: the long clip is encoded in 4 windows


def write_dataset(root: Path) -> int:
    """CLIPS short tones over 3 labels, one clip longer than the chunk (read twice, in pieces), plus
    3 clips that fail; returns how many can be encoded."""
    for number in range(CLIPS):
        rng = np.random.default_rng(number)
        rate = (16000, 8000, 22050)[number % 3]
        t = np.arange(int((0.2 + (number % 9) / 10) * rate)) / rate
        tone = 0.3 * np.sin(2 * np.pi * (120 + 3 * number) * t) + 0.05 * rng.standard_normal(len(t))
        path = root / f"label{number % 3}" / f"c{number:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone, rate)
    stereo = 0.2 * np.random.default_rng(0).standard_normal((int(44100 * 3.5), 2))
    sf.write(root / "label0" / "long.wav", stereo, 44100, subtype="FLOAT")
    write_text(root / "label0" / "notes.wav")
    write_truncated(root / "label1" / "cut.wav", duration=1.0)
    sf.write(root / "label2" / "blip.wav", np.zeros(50), 16000)  # shorter than the receptive field
    return CLIPS + 1


def stored(cache: Path) -> dict:
    with h5py.File(cache, "r") as f:
        return {
            "ids": f["clips/id"].asstr()[()], "status": f["clips/status"].asstr()[()],
            "error": f["clips/error"].asstr()[()], "duration": f["clips/duration"][()],
            "layers": {name: f[f"layers/{name}"][()] for name in f["layers"]},
        }


def ok_rows(cache: Path) -> int:
    try:
        with h5py.File(cache, "r", locking=False) as f:
            return int((f["clips/status"][()] == b"ok").sum())
    except (OSError, KeyError):  # not made yet, or caught mid-rename
        return 0



def wait_until_gone(session: int, seconds: float = 60.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.fixture
def ray_env(tmp_path):
    """The environment of a Ray CLI run: its own short temp folder (unix socket paths are short)."""
    pytest.importorskip("ray")  # CI installs the extra, so this runs there
    folder = tempfile.mkdtemp(prefix="lp-ray-", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": folder, "PYTHONPATH": os.pathsep.join(sys.path)}
    yield env
    subprocess.run(["rm", "-rf", folder], check=False)


def ray_cli(data: Path, cache: Path, model: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "layerprobe", "extract", str(data), "--out", str(cache), "--model", model,
         "--device", "cpu", "--batch-seconds", "2", "--chunk-seconds", str(CHUNK), "--engine", "ray", "--workers", "2",
         "--quiet"],
        env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_minus_nine_mid_run_then_a_rerun_equals_the_single_process_cache(tmp_path, group_norm_model, ray_env):
    data = tmp_path / "audio"
    good = write_dataset(data)
    reference = tmp_path / "single.h5"  # batched by 30 s, the Ray runs by 2 s: exact batching makes that moot
    run_extract(data, reference, model=group_norm_model, device="cpu", batch_seconds=30.0, chunk_seconds=CHUNK,
                progress=False)
    cache = tmp_path / "ray.h5"

    killed = ray_cli(data, cache, group_norm_model, ray_env)
    deadline = time.monotonic() + 240
    while ok_rows(cache) < 10 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)  # the driver alone: the Ray processes it started must follow it
    killed.wait()
    written = ok_rows(cache)
    assert 10 <= written < good, f"not killed mid-run: {written} of {good} clips stored"
    # Ray's own reaper leaves its agents for a minute; the watchdog ends them within a second or two
    assert wait_until_gone(killed.pid, seconds=20) == []

    rerun = ray_cli(data, cache, group_norm_model, ray_env)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"clips: {good} ok in the cache ({good - written} extracted now, {written} already there), 3 failed" in err, err
    assert wait_until_gone(rerun.pid) == []

    expected, got = stored(reference), stored(cache)
    for column in ("ids", "status", "error"):
        assert (got[column] == expected[column]).all(), column
    np.testing.assert_allclose(got["duration"], expected["duration"])
    ok = expected["status"] == "ok"
    assert ok.sum() == good
    for name, values in expected["layers"].items():
        a, b = values[ok], got["layers"][name][ok]
        cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cosine.min() >= 0.99999, (name, cosine.min())


def test_ray_flags_without_the_ray_engine_are_refused_in_one_line(tmp_path, capsys):
    assert extract_main([str(tmp_path), "--out", str(tmp_path / "c.h5"), "--workers", "2"]) == 2
    assert capsys.readouterr().err == "error: --workers needs --engine ray\n"


def test_without_ray_installed_the_engine_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if it were absent
    assert extract_main([str(tmp_path), "--out", str(tmp_path / "c.h5"), "--engine", "ray"]) == 2
    assert capsys.readouterr().err == (
        "error: --engine ray needs Ray, which is not installed here: pip install 'layerprobe[ray]'\n")


def test_a_ray_address_without_a_cluster_is_one_line(tmp_path, group_norm_model, capsys, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # where Ray looks for a cluster started here: none
    data = tmp_path / "audio"
    (data / "a").mkdir(parents=True)
    sf.write(data / "a" / "one.wav", np.zeros(8000), 16000)
    code = extract_main([str(data), "--out", str(tmp_path / "c.h5"), "--model", group_norm_model, "--quiet",
                         "--engine", "ray", "--ray-address", "auto"])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines()[-1].startswith("error: --ray-address auto: Could not find any running Ray")


def test_an_address_where_no_cluster_answers_is_one_line_before_any_work(tmp_path, capsys):
    # Ray itself retried 127.0.0.1:1 for over 400 s; nothing listens on port 1, so the answer is at once.
    (tmp_path / "audio" / "a").mkdir(parents=True)
    sf.write(tmp_path / "audio" / "a" / "one.wav", np.zeros(8000), 16000)
    assert extract_main([str(tmp_path / "audio"), "--out", str(tmp_path / "c.h5"), "--engine", "ray",
                         "--ray-address", "127.0.0.1:1", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        "error: --ray-address 127.0.0.1:1: no Ray cluster answers there (Connection refused)\n")
    assert not (tmp_path / "c.h5").exists()
    assert extract_main([str(tmp_path / "audio"), "--out", str(tmp_path / "c.h5"), "--engine", "ray",
                         "--ray-address", "nowhere", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        "error: --ray-address nowhere: give auto, HOST:PORT or ray://HOST:PORT\n")


def test_the_watchdog_kills_what_a_killed_driver_started_and_nothing_after_done(tmp_path):
    from layerprobe.extract.ray_engine import WATCHDOG

    # A driver starting one long-lived child, with the watchdog beside it as ray_engine starts it.
    driver_code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "watchdog = subprocess.Popen([sys.executable, sys.argv[1], str(__import__('os').getpid())],"
        " stdin=subprocess.PIPE, start_new_session=True, text=True)\n"
        "print(child.pid, watchdog.pid, flush=True)\n"
        "if sys.argv[2] == 'done':\n"
        "    watchdog.stdin.write('done\\n'); watchdog.stdin.close(); watchdog.wait()\n"
        "time.sleep(600)\n")
    for ending in ("killed", "done"):
        driver = subprocess.Popen([sys.executable, "-c", driver_code, str(WATCHDOG), ending], stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)
        child, watchdog = map(int, driver.stdout.readline().split())
        time.sleep(1.5)  # the watchdog has noted the child
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and _state(child) != "Z" and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = Path(f"/proc/{child}").exists() and _state(child) != "Z"
        try:
            assert alive == (ending == "done"), ending
        finally:
            if alive:
                os.kill(child, signal.SIGKILL)
        # It leaves right after its last kill: give it the same deadline rather than racing its exit.
        while Path(f"/proc/{watchdog}").exists() and _state(watchdog) != "Z" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{watchdog}").exists() or _state(watchdog) == "Z"  # it left


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
