"""A clip from its source to the encoder's input, in two steps that may run in different processes.

`Reading.read` decodes and resamples (a clip longer than the chunk is only measured) and needs no
encoder; `Reading.prepared` applies the model's own normalization where the encoder is. The
single-process run does both in its prefetch thread; on Ray, tasks read and the encoder actors
prepare (extract/ray_engine.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from layerprobe.data.audio import decode
from layerprobe.data.clips import Clip
from layerprobe.extract.batching import Decoded
from layerprobe.extract.long_clips import Moments, measure, normalized_segments

if TYPE_CHECKING:
    from layerprobe.extract.encoder import Encoder


@dataclass
class Read:
    """A clip decoded at the encoder's rate, not yet normalized: its whole `wave`, or for a clip
    longer than the chunk only its `moments` (it is read again, a piece at a time, when encoded)."""

    row: int
    clip: Clip
    wave: np.ndarray | None = None
    moments: Moments | None = None


@dataclass(frozen=True)
class Reading:
    """How clips are read for one encoder: its rate and receptive field, the chunk, and the
    --pad-short and --max-seconds rules."""

    sample_rate: int
    min_samples: int
    chunk_samples: int
    pad_short: bool
    max_seconds: float

    @classmethod
    def for_encoder(cls, encoder: Encoder, chunk_samples: int, *, pad_short: bool, max_seconds: float) -> Reading:
        return cls(encoder.info.sample_rate, encoder.info.receptive_field, chunk_samples, pad_short, max_seconds)

    def read(self, row: int, clip: Clip, seconds: float) -> Read:
        """Decode the clip (`seconds` by its header), or only measure it when it is longer than the
        chunk (it is normalized a piece at a time). Raises ClipError."""
        if seconds * self.sample_rate > self.chunk_samples:
            return Read(row, clip, moments=measure(clip.source, self.sample_rate, self.max_seconds))
        wave = decode(clip.source, self.sample_rate, min_samples=self.min_samples, pad_short=self.pad_short,
                      max_seconds=self.max_seconds)
        return Read(row, clip, wave=wave)

    def prepared(self, read: Read, encoder: Encoder) -> Decoded:
        """The read clip normalized as the encoder's model prescribes, ready for pooled_batches."""
        rate = self.sample_rate
        if read.moments is None:
            return Decoded.in_memory(read.row, encoder.normalize(read.wave), len(read.wave) / rate)
        count = read.moments.count
        shift, scale = encoder.scaling(read.moments)
        clip = read.clip
        return Decoded(read.row, count, count / rate, lambda lengths: normalized_segments(
            clip.id, clip.source, rate, self.max_seconds, lengths, shift, scale))
