"""`--engine process`, the default: clips decoded in a background thread, a bounded number ahead of
the encoder, and encoded in this process."""
from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerprobe.data.audio import ClipError, header_duration
from layerprobe.data.clips import Clip
from layerprobe.extract.batching import Decoded, Finished, pooled_batches
from layerprobe.extract.engine_protocol import CPU_BATCH_SECONDS, GPU_BATCH_SECONDS
from layerprobe.extract.reading import Reading
from layerprobe.options import OptionGroup

if TYPE_CHECKING:
    from layerprobe.extract.encoder import Encoder

# Decoded clips waiting for the encoder: bounded in samples (by their headers), so that memory
# does not grow with clip length; at least one clip is always ahead, however long.
PREFETCH_CLIPS = 64
PREFETCH_SECONDS = 120.0


@dataclass(frozen=True)
class ProcessOptions(OptionGroup):
    """--engine process has no settings of its own."""

    title = "engine process"


class ProcessEngine:
    """Decode and encode in this process."""

    name = "process"
    Settings = ProcessOptions

    def __init__(self, settings: ProcessOptions = ProcessOptions()) -> None:
        self.settings = settings

    def local_encoder(self, load: Callable[..., Encoder], device: str) -> Encoder:
        return load(device=device)

    def where(self, encoder: Encoder) -> str:
        return str(encoder.device)

    def pooled_batches(self, todo: Sequence[tuple[int, Clip]], reading: Reading, *, encoder: Encoder,
                       load: Callable[..., Encoder], device: str, batch_seconds: float | None,
                       poolings: Sequence[str], failed: Callable[[int, Clip, ClipError], None]
                       ) -> Iterator[list[Finished]]:
        if batch_seconds is None:
            batch_seconds = CPU_BATCH_SECONDS if encoder.device.type == "cpu" else GPU_BATCH_SECONDS
        encode = functools.partial(encoder.summarize, poolings=poolings)
        return pooled_batches(decoded(todo, reading, encoder, failed), encode, reading.chunk_samples,
                              int(batch_seconds * reading.sample_rate), poolings=poolings)


def _header_seconds(clip: Clip) -> float:
    seconds = header_duration(clip.source)
    return 0.0 if math.isnan(seconds) else seconds


def decoded(todo: Sequence[tuple[int, Clip]], reading: Reading, encoder: Encoder,
            failed: Callable[[int, Clip, ClipError], None]) -> Iterator[Decoded]:
    """Decode and normalize clips in a background thread, a bounded number ahead of the encoder.
    A clip longer than the chunk is only measured there and read again, a piece at a time, as the
    encoder takes it (see long_clips.py)."""

    def work(row: int, clip: Clip, seconds: float) -> Decoded:
        return reading.prepared(reading.read(row, clip, seconds), encoder)

    def settle(row: int, clip: Clip, future: Future) -> Iterator[Decoded]:
        try:
            done = future.result()
        except ClipError as error:
            failed(row, clip, error)
            return
        yield done

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead: deque[tuple[int, Clip, Future, float]] = deque()
        queued = 0.0
        for row, clip in todo:
            seconds = _header_seconds(clip)
            while ahead and (len(ahead) >= PREFETCH_CLIPS or queued + seconds > PREFETCH_SECONDS):
                done_row, done_clip, future, done_seconds = ahead.popleft()
                queued -= done_seconds
                yield from settle(done_row, done_clip, future)
            ahead.append((row, clip, pool.submit(work, row, clip, seconds), seconds))
            queued += seconds
        while ahead:
            yield from settle(*ahead.popleft()[:3])
