"""What checking a cache on open costs: CacheReader (check_layout; the values' NaN/infinity check
runs as each layer is read, data/cache_layout.check_finite) against the work it precedes, reading one
layer as `probe --layers N` does, in the same run, on the same synthetic cache written by CacheWriter.

Each measurement is taken twice and the second kept, so both read from the page cache (a cold
read of the file costs both alike). Prints the seconds, the ratio and the peak memory growth of
the open (numpy's allocations, as tracemalloc sees them).

    python bench/cache_open.py [--clips 20000] [--layers 13] [--hidden 768] [--workdir /tmp/layerprobe-open]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))

from layerprobe.data.cache import CacheWriter, Settings  # noqa: E402
from layerprobe.data.reader import CacheReader  # noqa: E402

ROWS_PER_WRITE = 2000


def write_cache(path: Path, clips: int, layers: int, hidden: int) -> None:
    rows = [SimpleNamespace(id=f"spk{i % 50}/c{i:07d}.wav", path=f"c{i:07d}.wav", label=f"l{i % 10}",
                            group=f"spk{i % 50}", split="") for i in range(clips)]
    settings = Settings(model="m", model_revision="", model_fingerprint="f", model_type="wav2vec2", sample_rate=16000,
                        layers=tuple(range(layers)), hidden_size=hidden, dtype="float32", chunk_seconds=30.0,
                        pad_short=False)
    rng = np.random.default_rng(0)
    with CacheWriter(path, rows, settings) as cache:
        for start in range(0, clips, ROWS_PER_WRITE):
            stop = min(start + ROWS_PER_WRITE, clips)
            values = rng.standard_normal((stop - start, layers, hidden), dtype=np.float32)
            cache.write_ok(np.arange(start, stop), {"mean": values}, np.ones(stop - start))


def timed(work) -> float:
    work()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/layerprobe-open"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    path = args.workdir / "c.h5"
    write_cache(path, args.clips, args.layers, args.hidden)
    size = sum(f.stat().st_size for f in args.workdir.rglob("*") if f.is_file())

    opening = timed(lambda: CacheReader(path).close())
    tracemalloc.start()
    CacheReader(path).close()
    grown = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    def one_layer():  # what CacheReader.layer reads, with plain h5py
        with h5py.File(path, "r", locking=False) as file:
            ok = file["clips/status"][()] == b"ok"
            file[f"layers/{args.layers // 2:02d}"][()][ok].astype(np.float32, copy=False)

    reading = timed(one_layer)
    print(f"cache: {args.clips} clips x {args.layers} layers x {args.hidden} float32, {size / 2**20:.0f} MiB")
    print(f"open with checks (CacheReader): {opening:.2f} s, peak Python/numpy memory {grown:.0f} MiB")
    print(f"reading one layer (the probe's read): {reading:.2f} s")
    print(f"ratio open / one layer: {opening / reading:.2f}")
    shutil.rmtree(args.workdir)


if __name__ == "__main__":
    main()
