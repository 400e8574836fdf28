"""Appending clips to a large cache: this version (a part per append) against the version before
it (the whole file copied per append), in the same run, on the same synthetic cache.

Each layout gets a cache of --clips clips (every row written "ok", --layers x --hidden float32
values per clip), then --append more clips through CacheWriter, as extract-embeddings appends
them. For the append alone it prints the wall time and the bytes written: what the process handed
to write() (wchar) and what it dirtied for the disk (write_bytes), from /proc/self/io, and the
size of the new files. The earlier CacheWriter is read from git (--peer-ref) and imported beside
this one; both use this checkout's other modules.

    python bench/cache_append.py [--clips 100000] [--append 1000] [--layers 13] [--hidden 768]
                                 [--workdir /tmp/layerprobe-append] [--peer-ref 666f805]
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))

from layerprobe.data import cache as this_cache  # noqa: E402
from layerprobe.data.parts import parts_folder  # noqa: E402

ROWS_PER_WRITE = 5000


def peer_module(ref: str, workdir: Path):
    """data/cache.py as of `ref`, importable beside this version's."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:data/cache.py"], check=True,
                            capture_output=True, text=True).stdout
    path = workdir / f"cache_{ref}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"cache_{ref}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def clips(count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=f"speaker{i % 500:03d}/utt{i:07d}.wav", path=f"/corpus/speaker{i % 500:03d}/utt{i:07d}.wav",
                            label=f"class{i % 10}", group=f"speaker{i % 500:03d}", split="") for i in range(count)]


def settings(module, layers: int, hidden: int):
    return module.Settings(model="synthetic", model_revision="", model_fingerprint="f" * 32, model_type="wav2vec2",
                           sample_rate=16000, layers=tuple(range(layers)), hidden_size=hidden, dtype="float32",
                           chunk_seconds=30.0, pad_short=False)


def fill(module, path: Path, count: int, layers: int, hidden: int) -> None:
    """A cache of `count` clips, every row ok (values written, as an extraction writes them)."""
    rng = np.random.default_rng(0)
    block = rng.standard_normal((ROWS_PER_WRITE, layers, hidden)).astype(np.float32)
    with module.CacheWriter(path, clips(count), settings(module, layers, hidden)) as cache:
        for start in range(0, count, ROWS_PER_WRITE):
            rows = np.arange(start, min(start + ROWS_PER_WRITE, count))
            # This version takes every pooling by name; the version before took the mean's array.
            pooled = {"mean": block[:len(rows)]} if module is this_cache else block[:len(rows)]
            cache.write_ok(rows, pooled, np.ones(len(rows)))


def io_counters() -> dict[str, int]:
    lines = Path("/proc/self/io").read_text().split("\n")
    return {key: int(value) for key, value in (line.split(": ") for line in lines if line)}


def files(path: Path) -> dict[Path, int]:
    found = {path: path.stat().st_size}
    if parts_folder(path).exists():
        found.update({part: part.stat().st_size for part in parts_folder(path).iterdir()})
    return found


def append(module, path: Path, count: int, appended: int, layers: int, hidden: int) -> dict:
    before_files = files(path)
    before_inodes = {p: p.stat().st_ino for p in before_files}
    before = io_counters()
    started = time.perf_counter()
    module.CacheWriter(path, clips(count + appended), settings(module, layers, hidden)).close()
    seconds = time.perf_counter() - started
    after = io_counters()
    new = {p: size for p, size in files(path).items() if p not in before_inodes or p.stat().st_ino != before_inodes[p]}
    return {"seconds": seconds, "wchar": after["wchar"] - before["wchar"],
            "write_bytes": after["write_bytes"] - before["write_bytes"], "new_files": sum(new.values()),
            "cache_bytes": sum(before_files.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--append", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/layerprobe-append"))
    parser.add_argument("--peer-ref", default="666f805", help="the commit whose CacheWriter copies the file")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, module in (("copy per append (" + args.peer_ref + ")", peer_module(args.peer_ref, args.workdir)),
                         ("part per append (this version)", this_cache)):
        path = args.workdir / "cache.h5"
        started = time.perf_counter()
        fill(module, path, args.clips, args.layers, args.hidden)
        print(f"{name}: {args.clips} clips written in {time.perf_counter() - started:.1f} s", flush=True)
        results[name] = append(module, path, args.clips, args.append, args.layers, args.hidden)
        path.unlink()
        shutil.rmtree(parts_folder(path), ignore_errors=True)
    print(f"\nappend {args.append} clips to {args.clips} ({args.layers} layers x {args.hidden} float32 per clip)")
    print(f"{'':34s} {'cache':>9s} {'time':>8s} {'wchar':>10s} {'write_bytes':>12s} {'new files':>10s}")
    for name, r in results.items():
        print(f"{name:34s} {r['cache_bytes'] / 1e9:7.2f} GB {r['seconds']:7.2f} s {r['wchar'] / 1e6:7.1f} MB "
              f"{r['write_bytes'] / 1e6:9.1f} MB {r['new_files'] / 1e6:7.1f} MB")
    old, new = results.values()
    print(f"ratio (copy / part): time {old['seconds'] / new['seconds']:.1f}x, "
          f"bytes written {old['wchar'] / max(new['wchar'], 1):.1f}x")


if __name__ == "__main__":
    main()
