"""extract-embeddings --engine ray with 1 and 2 workers against the single-process run, same clips.

Usage: python bench/ray_scaling.py [--data ../shared/data/fsdd] [--clips N] [--rounds R]
Every run is a whole process on the CPU (imports, model loading, for Ray the local cluster's start
and its actors' imports, decoding, encoding, writing) with the full wav2vec2-base architecture
(random init: the real model's compute), as bench/extract_speed.py. The runs are interleaved,
round after round, so that a busy machine weighs on all alike; each one's best round is printed
with its throughput (x realtime) and its ratio to the single-process run, and every Ray cache is
checked against the single-process one (worst cosine over every ok row and layer).

The single process also runs with one torch thread: a Ray worker with one CPU uses one thread,
and on a loaded machine one thread can beat two, which is not Ray's doing.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from extract_speed import base_model, subset_manifest  # noqa: E402

# name: (extra flags, extra environment)
RUNS = {
    "single process, 2 threads": ([], {}),
    "single process, 1 thread": ([], {"OMP_NUM_THREADS": "1"}),
    "ray, 1 worker x 1 CPU": (["--engine", "ray", "--workers", "1", "--cpus-per-worker", "1"], {}),
    "ray, 2 workers x 1 CPU": (["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1"], {}),
    "ray, 1 worker x 2 CPU": (["--engine", "ray", "--workers", "1", "--cpus-per-worker", "2"], {}),
}
REFERENCE = "single process, 2 threads"


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    return time.perf_counter() - start


def worst_cosine(a: Path, b: Path) -> float:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        ok = fa["clips/status"][()] == b"ok"
        assert (fb["clips/status"][()] == fa["clips/status"][()]).all()
        worst = 1.0
        for name in fa["layers"]:
            x, y = fa["layers"][name][()][ok], fb["layers"][name][()][ok]
            cosine = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
            worst = min(worst, float(cosine.min()))
        return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = base_model(tmp / "model")
        manifest = tmp / "manifest.csv"
        audio = subset_manifest(args.data, args.clips, manifest)
        print(f"{args.clips} clips, {audio:.0f} s of audio, wav2vec2-base architecture, CPU ({os.cpu_count()} cores), "
              f"{args.rounds} interleaved rounds, best of each")
        command = [sys.executable, "-m", "layerprobe", "extract", str(manifest), "--model", model, "--device", "cpu",
                   "--quiet"]
        walls: dict[str, list[float]] = {name: [] for name in RUNS}
        for round_ in range(args.rounds):
            for number, (name, (flags, env)) in enumerate(RUNS.items()):
                cache = tmp / f"run{number}.h5"
                cache.unlink(missing_ok=True)
                walls[name].append(timed([*command, "--out", str(cache), *flags], env))
                print(f"  round {round_ + 1}: {name}: {walls[name][-1]:.1f} s", flush=True)
        reference = min(walls[REFERENCE])
        for number, (name, times) in enumerate(walls.items()):
            best = min(times)
            agreement = worst_cosine(tmp / "run0.h5", tmp / f"run{number}.h5")
            print(f"{name:28s} {best:7.1f} s  {audio / best:5.2f}x realtime  "
                  f"{reference / best:4.2f}x the single process  worst cosine {agreement:.7f}")


if __name__ == "__main__":
    main()
