"""Clips -> segments -> length-sorted, padding-bounded batches -> pooled rows per clip.

A clip longer than the chunk length is cut into equal segments, each encoded alone; its poolings
are merged from its segments' summaries (extract/pooling.py), so memory is bounded by the chunk,
not the clip.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from layerprobe.extract.pooling import pooling

# encode(waves) -> ({pooling: summaries, each (batch, layers, hidden)}, frames (batch,))
Encode = Callable[[list[np.ndarray]], tuple[dict[str, list[np.ndarray]], np.ndarray]]


@dataclass
class Decoded:
    """A clip ready for the encoder: its cache row, length in samples, duration in seconds, and
    `pieces(lengths)`, its normalized samples as consecutive pieces of those lengths."""

    row: int
    samples: int
    seconds: float
    pieces: Callable[[list[int]], Iterable[np.ndarray]]

    @classmethod
    def in_memory(cls, row: int, wave: np.ndarray, seconds: float) -> Decoded:
        """A clip whose normalized samples are all in `wave`."""
        return cls(row, len(wave), seconds, lambda lengths: np.split(wave, np.cumsum(lengths)[:-1]))


@dataclass
class Finished:
    """A clip whose every segment has been encoded."""

    row: int
    pooled: dict[str, np.ndarray]  # pooling -> (layers, hidden)
    seconds: float


@dataclass
class _Pending:
    clip: Decoded
    segments_left: int
    accumulators: dict = field(default_factory=dict)


@dataclass
class _Batch:
    waves: list[np.ndarray] = field(default_factory=list)
    owners: list[_Pending] = field(default_factory=list)

    def padded_samples(self, extra: int = 0) -> int:
        longest = max([len(w) for w in self.waves] + [extra])
        return longest * (len(self.waves) + (1 if extra else 0))


def segment_lengths(samples: int, chunk_samples: int) -> list[int]:
    """Lengths of equal consecutive pieces no longer than chunk_samples (one if the clip fits),
    as np.array_split cuts them."""
    pieces = max(1, math.ceil(samples / chunk_samples))
    shorter, longer = divmod(samples, pieces)
    return [shorter + 1] * longer + [shorter] * (pieces - longer)


def pooled_batches(
    clips: Iterable[Decoded],
    encode: Encode,
    chunk_samples: int,
    batch_samples: int,
    *,
    poolings: Sequence[str] = ("mean",),
) -> Iterator[list[Finished]]:
    """Encode clips (best given shortest first) in batches of at most batch_samples padded samples.

    `encode(waves)` is the encoder, summarizing each wave for each of `poolings`. Yields, after
    each batch, the clips that batch finished.
    """
    batch = _Batch()
    for clip in clips:
        lengths = segment_lengths(clip.samples, chunk_samples)
        owner = _Pending(clip, len(lengths), {name: pooling(name)() for name in poolings})
        for piece in clip.pieces(lengths):
            if batch.waves and batch.padded_samples(len(piece)) > batch_samples:
                yield _run(batch, encode)
                batch = _Batch()
            batch.waves.append(piece)
            batch.owners.append(owner)
    if batch.waves:
        yield _run(batch, encode)


def _run(batch: _Batch, encode: Encode) -> list[Finished]:
    summaries, frames = encode(batch.waves)
    finished = []
    for position, (owner, count) in enumerate(zip(batch.owners, frames)):
        for name, accumulator in owner.accumulators.items():
            accumulator.update(int(count), [values[position] for values in summaries[name]])
        owner.segments_left -= 1
        if owner.segments_left == 0:
            pooled = {name: accumulator.finalize() for name, accumulator in owner.accumulators.items()}
            finished.append(Finished(owner.clip.row, pooled, owner.clip.seconds))
    return finished
