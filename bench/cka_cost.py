"""Time compare's linear CKA map (probes/cka.py: the feature-space form, p x q products) against the
kernel form most implementations use (centred n x n Gram matrices, HSIC), on the same layers, in one run.

Synthetic layers of a base-size encoder (768 dims) on CKA_CLIPS (4,096) clips; the kernel form holds one
n x n Gram matrix per layer (its peak) and takes their inner products. Both give the same map (checked).

    .venv/bin/python bench/cka_cost.py --layers 6

Measured 2026-12-02 on the 2-core machine shared with other sessions (load average 9-10), one BLAS
thread (OMP_NUM_THREADS=1), commit after 8d04df3:

    6 layers x 4096 clips x 768 dims
    feature-space CKA (ours): 2.9 s, layers held 75 MB
    kernel CKA (peer):        4.8 s, Gram matrices held 403 MB
    ratio ours / peer: 0.60x time

    13 layers x 4096 clips x 768 dims
    feature-space CKA (ours): 14.6 s, layers held 164 MB
    kernel CKA (peer):        13.6 s, Gram matrices held 872 MB
    ratio ours / peer: 1.08x time

Ours costs n p q per pair of layers, the peer n^2 p per layer: beyond about 2n/p layers (~11 here) the
peer is faster but holds a 67 MB Gram matrix per layer (2.5 GB for a 12- and a 24-layer model), where
ours holds the layers alone. 26 layers (two base-size models) took 38 s of ours on one thread.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from layerprobe.probes.cka import CKA_CLIPS, centered, cka_matrix


def kernel_cka(layers: list[np.ndarray]) -> np.ndarray:
    """The peer: centred Gram matrices K = HXX'H, CKA = <K, L> / (|K| |L|)."""
    grams = []
    for X in layers:
        Xc = X - X.mean(axis=0)
        grams.append(Xc @ Xc.T)
    norms = [np.linalg.norm(K) for K in grams]
    return np.array([[np.vdot(K, L) / (a * b) for L, b in zip(grams, norms)] for K, a in zip(grams, norms)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6, help="layers in the map (default 6)")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--clips", type=int, default=CKA_CLIPS)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    base = rng.normal(size=(args.clips, args.dim)).astype(np.float32)
    raw = [base + i * rng.normal(size=base.shape).astype(np.float32) for i in range(args.layers)]

    started = time.perf_counter()
    ours = cka_matrix([centered(X) for X in raw])
    our_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = kernel_cka(raw)
    their_seconds = time.perf_counter() - started
    assert np.allclose(ours, theirs, atol=1e-4), np.abs(ours - theirs).max()
    print(f"{args.layers} layers x {args.clips} clips x {args.dim} dims")
    held = args.layers * args.clips * args.dim * 4 / 1e6
    print(f"feature-space CKA (ours): {our_seconds:.1f} s, layers held {held:.0f} MB")
    print(f"kernel CKA (peer):        {their_seconds:.1f} s, Gram matrices held "
          f"{args.layers * args.clips ** 2 * 4 / 1e6:.0f} MB")
    print(f"ratio ours / peer: {our_seconds / their_seconds:.2f}x time")


if __name__ == "__main__":
    main()
