"""Minimum description length of the labels given a layer: the online code of Voita & Titov 2020
(arXiv 2003.12298), in bits.

The clips are put in a seeded order (whole groups, when the cache has groups, so a speaker never
spans the fit and the block it codes) and cut into blocks ending at BLOCK_PERCENTS of the clips,
each cut moved forward to the next group boundary. The first block is sent with the uniform code
(log2 K bits a clip); every later block with the logistic-regression probe fitted on all clips
before it: -log2 p(true label), summed. Compression is the uniform codelength (n log2 K) over the
online one: 1 where the layer tells nothing about the labels, higher the more it does.

The probe is logreg's multinomial fit (probes/logreg.py, no class weights: a code prices every
clip alike), whose C is chosen as a receiver could choose it too, from labels already sent: each
block is coded at the C of LOGREG_C_GRID that coded the block before it best (that block coded by
the fit on the clips before it, which the path computes anyway); the first probe-coded block at the
grid's smallest C; Cs within TIED_BITS of the best tie, the smallest of them chosen. No block's own
labels pick the C that codes it.

A fit knows only the classes of its fitting part, and a confident fit can be wrong: every
probability is smoothed as if the fit's prediction were t clips' counts plus one clip of every
class, p = (t p_fit + 1) / (t + K), t the fitting part's size. A class unseen so far gets 1 / (t + K),
no clip costs more than log2(t + K) bits, and a good fit loses at most log2((t + K) / t) bits a clip.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from joblib import delayed

from layerprobe.probes.evaluate import Job, run_jobs
from layerprobe.probes.grids import LOGREG_C_GRID
from layerprobe.probes.logreg import fit_path
from layerprobe.probes.path_probe import design
from layerprobe.probes.spec import FoldTask
from layerprobe.probes.standardize import standardized_blocks
from layerprobe.results import Mdl

# Where the blocks end, in percent of the clips (Voita & Titov's): in ten-thousandths below, so that
# every cut is an exact integer ceiling.
BLOCK_PERCENTS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25, 50, 100)
_BLOCK_TEN_THOUSANDTHS = tuple(round(percent * 100) for percent in BLOCK_PERCENTS)
PROBE = "logreg"
# Cs whose fits code a block within this many bits of the best tie, and the most regularized of them
# codes the next block: the solver's tolerance moves a block's bits by up to 0.03 (against
# scikit-learn's fits to 1e-12), and the smallest Cs, whose fits all predict about the class shares,
# code alike to within that.
TIED_BITS = 0.05
# A first block (the first whole groups) above this share of the clips is said in a warning: no
# compression can exceed 1 / share (FSDD's 6 speakers: 6).
FIRST_BLOCK_SHARE = 0.05


@dataclass(frozen=True)
class OrderCode:
    """One ordering's online code: its bits, and the fits that stopped short of the solver's tolerance."""

    bits: float
    unconverged: int


def transmission_order(groups: np.ndarray, seed: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Ordering `order` of the clips (seeded by seed and order) as (clip positions, ends): the clips
    in the order they are sent, and where each unit (a group, or a clip without one) ends in it.

    groups: every clip's group, "" for none. Units go in a random order, each unit's clips in a
    random order within it.
    """
    rng = np.random.default_rng([seed, order])
    keys = np.where(groups == "", np.char.add("\0", np.arange(len(groups)).astype(str)), groups.astype(str))
    _, unit_of = np.unique(keys, return_inverse=True)
    rank = rng.permutation(unit_of.max() + 1)[unit_of]  # each clip's unit's place in the order
    sent = np.lexsort((rng.random(len(groups)), rank))  # by unit, at random within it
    return sent, np.cumsum(np.bincount(rank))


def block_cuts(ends: np.ndarray) -> np.ndarray:
    """Where the blocks end (clip counts, increasing, the last every clip): at BLOCK_PERCENTS of the
    clips rounded up, each moved forward to the first unit end at or after it (blocks that become
    empty merge with the next)."""
    n = int(ends[-1])
    wanted = np.array([-(-share * n // 10_000) for share in _BLOCK_TEN_THOUSANDTHS])
    return np.unique(ends[np.searchsorted(ends, wanted)])


def block_bits(X: np.ndarray, codes: np.ndarray, n_classes: int, fit_rows: np.ndarray, coded: np.ndarray,
               values: Sequence[float] = LOGREG_C_GRID) -> tuple[np.ndarray, int]:
    """The bits of the labels of X[coded] under the probe fitted on X[fit_rows], for every C of
    `values` ((len(values),) array, smoothed as the module says), and how many fits stopped short."""
    t = len(fit_rows)
    present, local = np.unique(codes[fit_rows], return_inverse=True)
    truth = codes[coded]
    if len(present) == 1:
        p_fit = (truth == present[0]).astype(np.float64)
        return np.full(len(values), _bits(p_fit, t, n_classes)), 0
    fitted = design(FoldTask(X, codes[None, :], n_classes, fit_rows, coded, ()), fit_rows)
    path = fit_path(fitted, local, np.ones(len(present)), len(present), values)
    Z = np.vstack([block for _, block in standardized_blocks(X, coded, fitted.mean, fitted.scale)])
    column = np.full(n_classes, -1)
    column[present] = np.arange(len(present))
    column = column[truth]  # each coded label's column in the fit, -1 for a class it never saw
    bits = []
    for W in path.solutions:
        logits = Z @ W[:-1] + W[-1]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p_fit = np.where(column >= 0, p[np.arange(len(coded)), column], 0.0)
        bits.append(_bits(p_fit, t, n_classes))
    return np.array(bits), len(path.unconverged)


def _bits(p_fit: np.ndarray, t: int, n_classes: int) -> float:
    """-log2 of the smoothed probabilities (t p + 1) / (t + K) of the true labels, summed."""
    return float(-np.log2((t * p_fit + 1.0) / (t + n_classes)).sum())


def online_code(X: np.ndarray, codes: np.ndarray, n_classes: int, groups: np.ndarray, seed: int,
                order: int) -> OrderCode:
    """The online codelength of the labels `codes` (0..n_classes-1) given X, in ordering `order`."""
    sent, ends = transmission_order(groups, seed, order)
    cuts = block_cuts(ends)
    bits = cuts[0] * np.log2(n_classes)
    chosen, unconverged = 0, 0  # the first probe-coded block: the smallest C
    for start, end in zip(cuts[:-1], cuts[1:]):
        per_value, stopped = block_bits(X, codes, n_classes, sent[:start], sent[start:end])
        bits += per_value[chosen]
        chosen, unconverged = int(np.flatnonzero(per_value <= per_value.min() + TIED_BITS)[0]), unconverged + stopped
    return OrderCode(float(bits), unconverged)


def summarize(codes: Sequence[OrderCode], n_clips: int, n_classes: int) -> Mdl:
    """The Mdl of one source from its orderings' codes."""
    order_bits = [code.bits for code in codes]
    codelength = float(np.mean(order_bits))
    uniform = float(n_clips * np.log2(n_classes))
    return Mdl(codelength_bits=codelength, uniform_bits=uniform, compression=uniform / codelength,
               orders=len(codes), order_bits=order_bits, probe=PROBE)


def unconverged_note(codes: Sequence[OrderCode]) -> str | None:
    """One warning line where some of a source's fits stopped short of the solver's tolerance."""
    stopped = sum(code.unconverged for code in codes)
    return f"MDL: {stopped} of its fits stopped short of the solver's tolerance" if stopped else None


def first_block_note(groups: np.ndarray, seed: int, orders: int) -> str | None:
    """One warning line where the first block (whole groups, sent with the uniform code) holds more
    than FIRST_BLOCK_SHARE of the clips in some ordering, which bounds every layer's compression."""
    first = max(block_cuts(transmission_order(groups, seed, order)[1])[0] for order in range(orders))
    n = len(groups)
    if first <= FIRST_BLOCK_SHARE * n:
        return None
    return (f"MDL: the first block, whole groups sent with the uniform code, holds up to {first} of the {n} clips, so "
            f"no layer's compression can exceed {n / first:.1f} (more groups make finer blocks)")


def mdl_per_source(sources: Sequence[tuple[int | str, Callable[[], np.ndarray]]], labels: np.ndarray,
                   groups: np.ndarray, *, orders: int, seed: int, n_jobs: int, progress: bool
                   ) -> dict[int | str, tuple[Mdl, str | None]]:
    """The Mdl of every (name, loader) source, with its warning line (None without one): each
    source x ordering one job in one joblib pool, the sources loaded when due."""
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)

    def jobs() -> Iterator[Job]:
        for name, load in sources:
            X = load()
            for order in range(orders):
                yield Job((name, order), delayed(online_code)(X, codes, len(classes), groups, seed, order))

    results = run_jobs(jobs(), n_jobs, len(sources) * orders, progress, progress_label="MDL orderings")
    found = {}
    for name, _ in sources:
        per_order = [results[(name, order)] for order in range(orders)]
        found[name] = (summarize(per_order, len(codes), len(classes)), unconverged_note(per_order))
    return found
