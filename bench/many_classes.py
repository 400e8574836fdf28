"""Many classes (speaker ID: VoxCeleb1's 1,251 speakers, and 5,000): `probe --classifier logreg` against
scikit-learn's cross_validate with LogisticRegression on the same outer folds, in the same run.

A synthetic planted cache (layer 0 noise, layer 1 a class mean plus noise), few clips per class,
stratified k-fold. Each side runs in a process of its own, so that its wall time and peak resident
memory are its own; each writes its results (ours: probe_results.json and its scores side file;
the peer: every fold's accuracy as JSON and its predict_proba scores as float32 .npz, what a user
keeps to recompute a detection figure). Ours does more: it chooses C over its grid by inner CV in
every fold and adds the detection metrics, chance, intervals and the report's per-class figures;
the peer fits one C=1.

    OMP_NUM_THREADS=1 .venv/bin/python bench/many_classes.py --classes 1251 --clips-per-class 8 --dims 64
    OMP_NUM_THREADS=1 .venv/bin/python bench/many_classes.py --classes 5000 --clips-per-class 6 --dims 16 --folds 2
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def build_cache(path: Path, classes: int, per_class: int, dims: int, seed: int = 0) -> None:
    """A cache of classes x per_class clips, layers 0 (noise) and 1 (class mean + noise), no groups."""
    rng = np.random.default_rng(seed)
    n = classes * per_class
    codes = np.repeat(np.arange(classes), per_class)
    text = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        f.attrs.update({"layerprobe_format": 1, "model": "synthetic/many-classes", "layers": np.array([0, 1])})
        clips = f.create_group("clips")
        columns = {"id": [f"clip{i:06d}.wav" for i in range(n)], "path": [f"/audio/clip{i:06d}.wav" for i in range(n)],
                   "label": [f"spk{c:05d}" for c in codes], "group": [""] * n, "split": [""] * n,
                   "status": ["ok"] * n, "error": [""] * n}
        for name, values in columns.items():
            clips.create_dataset(name, data=np.array(values, dtype=object), dtype=text)
        clips.create_dataset("duration", data=np.ones(n, np.float32))
        f.create_dataset("layers/00", data=rng.normal(size=(n, dims)).astype(np.float32))
        means = rng.normal(size=(classes, dims)).astype(np.float32)
        f.create_dataset("layers/01", data=means[codes] + rng.normal(size=(n, dims)).astype(np.float32))


def ours(cache: Path, out: Path, folds: int) -> None:
    from layerprobe.probes.cli import main

    code = main([str(cache), "--layers", "1", "--classifier", "logreg", "--cv", "stratified", "--folds", str(folds),
                 "--n-jobs", "1", "--quiet", "--out", str(out)])
    if code:
        raise SystemExit(code)


def peer(cache: Path, out: Path, folds: int) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from layerprobe.probes.protocols import outer_folds

    with h5py.File(cache, "r") as f:
        X = f["layers/01"][...]
        labels = f["clips/label"].asstr()[...]
    # The outer folds `probe --cv stratified --folds K --seed 0` uses.
    splits = [(fold.fit, fold.test) for fold in outer_folds(labels, None, cv="stratified", folds=folds, seed=0).outer]
    found = cross_validate(make_pipeline(StandardScaler(), LogisticRegression(max_iter=100)), X, labels, cv=splits,
                           return_estimator=True)
    out.mkdir(parents=True, exist_ok=True)
    scores = {f"fold{k}": model.predict_proba(X[test]).astype(np.float32)
              for k, (model, (_, test)) in enumerate(zip(found["estimator"], splits))}
    np.savez(out / "scores.npz", **scores)
    (out / "results.json").write_text(json.dumps({"accuracy": found["test_score"].tolist(),
                                                  "test_index": [test.tolist() for _, test in splits]}))


def child(side: str, cache: Path, out: Path, folds: int) -> dict:
    """Run one side in a process of its own: its wall seconds, CPU seconds and peak RSS."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--side", side, "--cache", str(cache), "--out", str(out),
                           "--folds", str(folds)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{side} failed ({done.returncode}): {done.stderr[-2000:]}")
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    return {"wall": wall, **stats, "bytes": size, "files": sorted(p.name for p in out.iterdir())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=1251)
    parser.add_argument("--clips-per-class", type=int, default=8)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--side", choices=["ours", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        (ours if args.side == "ours" else peer)(args.cache, args.out, args.folds)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "peak_mib": usage.ru_maxrss / 1024}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "many.h5"
        build_cache(cache, args.classes, args.clips_per_class, args.dims)
        n = args.classes * args.clips_per_class
        print(f"{args.classes} classes x {args.clips_per_class} clips = {n} clips, {args.dims} dims, "
              f"stratified {args.folds}-fold, logreg, OMP threads as set", flush=True)
        found = {}
        for side in ("peer", "ours"):  # each line as soon as its side ends
            found[side] = stats = child(side, cache, Path(tmp) / side, args.folds)
            print(f"{side:5s} wall {stats['wall']:7.1f} s  cpu {stats['cpu']:7.1f} s  peak {stats['peak_mib']:7.0f} MiB  "
                  f"results {stats['bytes'] / 2**20:7.1f} MiB ({', '.join(stats['files'])})", flush=True)
    a, b = found["ours"], found["peer"]
    print(f"ratio ours/peer: wall {a['wall'] / b['wall']:.2f}, cpu {a['cpu'] / b['cpu']:.2f}, "
          f"peak {a['peak_mib'] / b['peak_mib']:.2f}, results {a['bytes'] / b['bytes']:.2f}")


if __name__ == "__main__":
    main()
