"""The fuzz test's driver (tests/test_fuzz.py runs it in a child process, so that a crash or a hang in
a C library ends the child, not pytest): builds a small cache, saved probe and manifest, then runs
commands on mutated copies in-process and prints one JSON line per case.

python fuzz_inputs.py WORK_DIR MODEL_DIR SEED CACHE_CASES PROBE_CASES MANIFEST_CASES
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import sys
import time
import traceback
import uuid
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from audio_files import write_tone  # noqa: E402
from layerprobe.cli import main  # noqa: E402

CASE_SECONDS = 20  # a case running longer hangs
PROBE = ["--layers", "all", "--classifier", "ridge", "--folds", "3", "--n-jobs", "1", "--quiet"]


def build(work: Path, model: Path) -> dict[str, Path]:
    """The cache of 12 clips (three speakers, two labels) made with `model`, a probe saved from it, the manifest."""
    audio = work / "audio"
    audio.mkdir()
    lines = ["path,label,speaker"]
    for number in range(12):
        name = f"clip{number}.wav"
        write_tone(audio / name, duration=0.3, frequency=200 + 40 * number)
        lines.append(f"{name},{'ab'[number % 2]},spk{number // 4}")
    (audio / "manifest.csv").write_text("\n".join(lines) + "\n")
    cache = work / "cache" / "c.h5"
    cache.parent.mkdir()
    run(["extract", str(audio / "manifest.csv"), "--out", str(cache), "--model", str(model), "--device", "cpu",
         "--layers", "0,2", "--quiet"], expect=0, seconds=300)
    run(["probe", str(cache), *PROBE, "--save-model", "--out", str(work / "probes")], expect=0, seconds=300)
    saved = next((work / "probes" / "models").glob("*.npz"))
    return {"model": model, "manifest": audio / "manifest.csv", "cache": cache, "probe": saved}


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def run(argv: list[str], expect: int | None = None, seconds: int = CASE_SECONDS) -> dict:
    """layerprobe main(argv) in this process: its exit code and stderr, or the traceback it raised."""
    err = io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc, crash = main(argv), None
    except Hang:
        rc, crash = None, f"no answer in {seconds} s"
    except BaseException:  # noqa: BLE001  the finding itself: what a user would see as a traceback
        rc, crash = None, traceback.format_exc()
    finally:
        signal.alarm(0)
    if expect is not None and rc != expect:
        raise SystemExit(f"setting up: {argv} gave {rc}: {err.getvalue()}{crash or ''}")
    return {"rc": rc, "stderr": err.getvalue(), "crash": crash}


# Mutations: each takes (random, path of the copy) and returns what it did.
def flip_bytes(rng: random.Random, path: Path) -> str:
    data = bytearray(path.read_bytes())
    count = rng.choice([1, 4, 32])
    for _ in range(count):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))
    return f"{count} random bytes of {path.name}"


def truncate(rng: random.Random, path: Path) -> str:
    size = path.stat().st_size
    keep = rng.randrange(size)
    path.write_bytes(path.read_bytes()[:keep])
    return f"{path.name} cut to {keep} of {size} bytes"


def odd_value(rng: random.Random):
    return rng.choice([7, -1, 2**40, 3.5, float("nan"), "text", "", b"\xff\xfe", True, np.arange(3), np.zeros((2, 2)),
                       np.array(["a", "b"], dtype=h5py.string_dtype())])


def odd_dataset(rng: random.Random, rows: int):
    return rng.choice([np.zeros(rows, np.float32), np.zeros((rows, 2, 2), np.float32), np.zeros((rows, 0), np.float32),
                       np.full((rows, 3), np.nan, np.float32), np.full((rows, 3), np.inf), np.zeros((rows, 3), np.int64),
                       np.array(["x"] * rows, dtype=h5py.string_dtype()), np.zeros(rows, np.int64),
                       np.zeros(max(rows - 1, 0), np.float32), np.zeros((rows + 1, 3), np.float32), np.float32(1),
                       np.array([b"ok", b"done"] * (rows // 2) + [b"ok"] * (rows % 2)), np.array([b"\xff"] * rows)])


def cache_field(rng: random.Random, path: Path) -> str:
    with h5py.File(path, "a") as f:
        rows = len(f["clips/status"]) if "clips/status" in f else 12
        names: list[str] = []
        f.visit(names.append)
        kind = rng.choice(["replace", "replace", "delete", "attr", "attr", "parts", "parts", "link", "id", "declared",
                           "external"])
        name = rng.choice(names)
        if kind == "attr":
            key = rng.choice(list(f.attrs) + ["layers", "layerprobe_format", "pooling"])
            f.attrs[key] = value = odd_value(rng)
            return f"root attr {key} of {path.name} = {value!r}"
        if kind == "parts" and "clips" in f and "parts" in f["clips"].attrs:
            listed = json.loads(f["clips"].attrs["parts"])
            record = rng.choice(listed)
            key = rng.choice(["file", "start", "stop", "datasets"])
            record[key] = value = rng.choice(["../victim.h5", "/etc/passwd", -3, 10**6, None, ["nope"], "part-9.h5",
                                              "sub/part-000001.h5", listed[-1]["file"], "part-000000.h5\0", 10**30])
            f["clips"].attrs["parts"] = json.dumps(listed)
            return f"parts: {key} = {value!r}"
        if kind == "id":  # the id binding the cache (on /clips) or a part (its root) to the other
            holder = f["clips"] if "clips" in f and "parts" in f["clips"].attrs else f
            if rng.random() < 0.3:
                holder.attrs.pop("cache_id", None)
                return f"cache_id of {path.name} deleted"
            holder.attrs["cache_id"] = value = rng.choice([uuid.uuid4().hex, odd_value(rng)])
            return f"cache_id of {path.name} = {value!r}"
        if kind in ("declared", "external") and isinstance(f.get(name), h5py.Dataset) and f[name].shape:
            rows = f[name].shape[0]
            del f[name]
            if kind == "declared":  # a few-KB file declaring gigabytes, none of them written
                f.create_dataset(name, shape=(rows, 2**27), dtype=np.float32)
                return f"{name} declares {rows * 2**29} bytes"
            f.create_dataset(name, shape=(rows,), dtype="S8", external=[("/etc/passwd", 0, 8 * rows)])
            return f"{name} stored in /etc/passwd"
        del f[name]
        if kind == "delete":
            return f"deleted {name}"
        if kind == "link":
            f[name] = rng.choice([h5py.SoftLink("/clips/id"), h5py.ExternalLink("/etc/passwd", "x"),
                                  h5py.ExternalLink(str(path.with_name("c.h5.parts") / "part-000000.h5"), name)])
            return f"{name} a link"
        f[name] = value = odd_dataset(rng, rows)
        return f"{name} = {value.dtype} {value.shape}"


def relocate(rng: random.Random, copy: Path) -> tuple[str, Path]:
    """The cache of folder `copy` renamed or copied with its parts folder, or given another's parts:
    what was done and where the cache to open now is."""
    cache, folder = copy / "c.h5", copy / "c.h5.parts"
    moved = copy / rng.choice(["v1.h5", "with space.h5", "%d.h5", "ü.h5"])
    kind = rng.choice(["rename", "copy", "folder only", "parts of another", "old cache renamed"])
    if kind in ("rename", "parts of another", "old cache renamed"):
        cache.rename(moved)
        folder.rename(moved.with_name(moved.name + ".parts"))
    elif kind == "copy":
        shutil.copy(cache, moved)
        shutil.copytree(folder, moved.with_name(moved.name + ".parts"))
        shutil.rmtree(folder)
    else:
        cache.rename(moved)  # its folder left behind under the old name
    if kind == "parts of another":
        other = uuid.uuid4().hex
        for part in moved.with_name(moved.name + ".parts").iterdir():
            with h5py.File(part, "a") as f:
                f.attrs["cache_id"] = other
    if kind == "old cache renamed":  # as made before ids: none in the index or its parts
        with h5py.File(moved, "a") as f:
            del f["clips"].attrs["cache_id"]
        for part in moved.with_name(moved.name + ".parts").iterdir():
            with h5py.File(part, "a") as f:
                del f.attrs["cache_id"]
    return f"{kind}: c.h5 -> {moved.name}", moved


def probe_field(rng: random.Random, path: Path) -> str:
    arrays = dict(np.load(path))
    if rng.random() < 0.5:
        meta = json.loads(str(arrays["meta"]))
        key = rng.choice(list(meta))
        meta[key] = value = rng.choice([3, "mean+max", [1], None, {"a": 1}, 1e308, -1, True, "../x", 99])
        arrays["meta"] = np.array(json.dumps(meta))
        what = f"meta {key} = {value!r}"
    else:
        key = rng.choice(["mean", "scale", "coef", "intercept", "classes"])
        arrays[key] = value = rng.choice([np.zeros(0), np.zeros((1, 1, 1)), np.array(["a", "b"]), np.full(3, np.nan),
                                          np.arange(5), np.zeros((1, 99)), np.array([True])])
        what = f"{key} = {value.dtype} {value.shape}"
    np.savez(path, **arrays)
    return what


def manifest_field(rng: random.Random, path: Path) -> str:
    lines = path.read_text().splitlines()
    row = rng.randrange(len(lines))
    edit = rng.choice(["quote", "quote", "cells", "blank", "path", "path", "nul", "duplicate", "column", "wide"])
    cells = lines[row].split(",")
    if edit == "quote":  # a quote that never closes, or closes rows later
        lines[row] = rng.choice(['"' + lines[row], lines[row].replace(",", ',"', 1), lines[row] + '"x'])
        if rng.random() < 0.5:
            lines[-1] += '"'
    elif edit == "wide":  # a header of 100,000 columns: the error listing them is cut
        lines[0] += "".join(f",c{i}" for i in range(100_000))
    elif edit == "cells":
        lines[row] = ",".join(cells + ["extra"] if rng.random() < 0.5 else cells[:1])
    elif edit == "blank":
        lines[row] = ",".join([cells[0], "", *cells[2:]])
    elif edit == "path":
        lines[row] = ",".join([rng.choice(["../../etc/passwd", "/dev/zero", ".", "missing.wav", "a" * 5000, special(path.parent)]),
                               *cells[1:]])
    elif edit == "nul":
        lines[row] = lines[row].replace(",", ",\x00", 1)
    elif edit == "duplicate":
        lines.insert(row, lines[max(row, 1)])
    else:
        lines[0] = lines[0].replace("label", rng.choice(["", "path", "label,label"]))
    path.write_text("\n".join(lines) + "\n")
    return f"manifest row {row}: {edit}"


def special(folder: Path) -> str:
    """A path beside the manifest that is no regular file: a FIFO (opening it waits for a writer),
    a directory, a symlink loop; made once."""
    made = {"fifo.wav": os.mkfifo, "folder.wav": os.mkdir, "loop.wav": lambda path: os.symlink(path, path)}
    name = random.Random(len(os.listdir(folder))).choice(sorted(made))
    if not os.path.lexists(folder / name):
        made[name](folder / name)
    return name


def cases(rng: random.Random, inputs: dict[str, Path], work: Path, counts: dict[str, int]):
    """(description, argv) for each mutated copy, made as it is run."""
    for number in range(counts["cache"]):
        copy = work / f"case{number}"
        shutil.copytree(inputs["cache"].parent, copy)
        cache = copy / "c.h5"
        mutate = rng.choice([flip_bytes, flip_bytes, truncate, cache_field, cache_field, cache_field, relocate])
        if mutate is relocate:
            what, cache = relocate(rng, copy)
        else:
            target = cache if mutate is cache_field and rng.random() < 0.7 else rng.choice(
                sorted((copy / "c.h5.parts").iterdir()))
            what = mutate(rng, target)
        absurd = ["--layers", rng.choice(["0-400000000", "99999999999999999999", "0," * 50_000 + "0"])]
        command = rng.choice([["probe", str(cache), *PROBE], ["probe", str(cache), *PROBE],
                              ["probe", str(cache), *PROBE[2:], *absurd],
                              ["probe", str(cache), "--predict", str(inputs["probe"]), "--out", str(copy / "pred"),
                               "--quiet"],
                              ["baselines", str(cache), "--out", str(copy / "out"), "--classifier", "logreg",
                               "--folds", "3", "--n-jobs", "1", "--quiet"]])
        yield f"cache: {what}", command
    for number in range(counts["probe"]):
        copy = work / f"probe{number}.npz"
        shutil.copy(inputs["probe"], copy)
        what = rng.choice([flip_bytes, truncate, probe_field, probe_field])(rng, copy)
        yield f"saved probe: {what}", ["probe", str(inputs["cache"]), "--predict", str(copy),
                                       "--out", str(work / f"pred{number}"), "--quiet"]
    for number in range(counts["manifest"]):
        copy = inputs["manifest"].with_name(f"manifest{number}.csv")
        shutil.copy(inputs["manifest"], copy)
        what = rng.choice([flip_bytes, manifest_field, manifest_field])(rng, copy)
        yield f"manifest: {what}", ["extract", str(copy), "--out", str(work / f"m{number}.h5"),
                                    "--model", str(inputs["model"]), "--device", "cpu", "--layers", "0", "--quiet"]


def fuzz(work: Path, model: Path, seed: int, counts: dict[str, int]) -> None:
    started = time.perf_counter()
    inputs = build(work, model)
    print(json.dumps({"built_in_s": round(time.perf_counter() - started, 1)}), flush=True)
    rng = random.Random(seed)
    for description, argv in cases(rng, inputs, work, counts):
        print(json.dumps({"case": description, "argv": argv[0]}), flush=True)  # the last line, if this crashes
        started = time.perf_counter()
        found = run(argv)
        print(json.dumps({"case": description, "argv": argv[0], "s": round(time.perf_counter() - started, 2), **found}),
              flush=True)


if __name__ == "__main__":
    work, model, seed, *counts = sys.argv[1:]
    fuzz(Path(work), Path(model), int(seed), dict(zip(("cache", "probe", "manifest"), map(int, counts))))
