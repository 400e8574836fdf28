"""Clips longer than the chunk, encoded without ever holding them whole.

The model's normalization needs the whole clip's mean and variance, and the segments their total
length, so a long clip is read twice: once to measure it (in the decoding thread), once to cut it
into the segments the encoder takes, normalized as they come. Memory holds a segment and a block,
whatever the clip's length; reading the file twice costs little next to encoding it.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from layerprobe.data.audio import ClipError, audio_blocks
from layerprobe.data.clips import AudioSource
from layerprobe.errors import UserError


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of samples seen block by block (Chan et al.'s
    pairwise update, in float64: no precision is lost over hours of audio)."""

    count: int = 0
    mean: float = 0.0
    squares: float = 0.0

    @classmethod
    def of(cls, wave: np.ndarray, block: int = 1 << 20) -> Moments:
        """The moments of an array, taken a block at a time (no full-length float64 copy)."""
        moments = cls()
        for start in range(0, len(wave), block):
            moments.add(wave[start:start + block])
        return moments

    def add(self, block: np.ndarray) -> None:
        if len(block) == 0:
            return
        values = block.astype(np.float64)
        mean = float(values.mean())
        squares = float(np.square(values - mean).sum())
        total = self.count + len(block)
        delta = mean - self.mean
        self.squares += squares + delta * delta * self.count * len(block) / total
        self.mean += delta * len(block) / total
        self.count = total

    @property
    def variance(self) -> float:
        return self.squares / self.count


def measure(source: AudioSource, sample_rate: int, max_seconds: float) -> Moments:
    """The first reading: the clip's length and moments at sample_rate. Raises ClipError."""
    moments = Moments()
    for block in audio_blocks(source, sample_rate, max_seconds):
        moments.add(block)
    return moments


def normalized_segments(clip_id: str, source: AudioSource, sample_rate: int, max_seconds: float,
                        lengths: Sequence[int], shift: float, scale: float) -> Iterator[np.ndarray]:
    """The second reading: consecutive pieces of `lengths` samples, each as (piece - shift) / scale.

    The file was whole when measured; one that changed since is a UserError, not a failed clip,
    as part of it may already be encoded.
    """
    try:
        for piece in _regroup(audio_blocks(source, sample_rate, max_seconds), lengths):
            piece -= np.float32(shift)
            piece /= np.float32(scale)
            yield piece
    except ClipError as error:
        raise UserError(f"{clip_id} changed while it was being encoded: {error}") from None


def _regroup(blocks: Iterable[np.ndarray], lengths: Sequence[int]) -> Iterator[np.ndarray]:
    """Blocks of any sizes, cut and joined into consecutive pieces of the given lengths."""
    wanted = iter(lengths)
    size = next(wanted)
    parts: list[np.ndarray] = []
    held = 0
    for block in blocks:
        while len(block):
            if not size:
                raise ClipError("corrupt", "more samples than when the clip was measured")
            take = min(size - held, len(block))
            parts.append(block[:take])
            held += take
            block = block[take:]
            if held == size:
                yield np.concatenate(parts)
                parts, held = [], 0
                size = next(wanted, 0)
    if size or held:
        raise ClipError("truncated", "fewer samples than when the clip was measured")
