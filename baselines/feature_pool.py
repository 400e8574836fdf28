"""One feature of many clips, computed in worker processes a chunk of clips at a time, in order.

Each clip costs a few milliseconds, so the workers take chunks (few round trips) and a bounded
number of chunks is in flight (memory holds those, not the dataset). The workers are joblib's
(loky): started fresh rather than forked, so none inherits the cache's open file or its writer
lock; reused from call to call; ending when their parent is killed. Chunks run BLAS on one
thread: the products here are tiny, and on a shared machine threaded BLAS spends more time
spinning than multiplying (a 40 x 257 mel product took 0.55 ms on two threads, 0.07 ms on one).
A worker's warnings (librosa's, numpy's) come back with its chunk and are raised again in the
parent, where the command holds them: printed from the worker they would reach stderr before and
outside a one-line error.
"""
from __future__ import annotations

import io
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import joblib
import numpy as np
from threadpoolctl import threadpool_limits

from layerprobe.baselines.features import LONG_SECONDS, MIN_SAMPLES, Feature
from layerprobe.data.audio import ClipError, audio_blocks, decode, header_duration
from layerprobe.data.clips import AudioSource, FileSource

CHUNK = 64  # clips per task: ~0.3 s of work, so the round trips cost nothing
IN_FLIGHT = 2  # chunks queued per worker: none waits while its next chunk is sent

# (vector, seconds) for a clip computed, or (reason, detail) of its ClipError.
Outcome = tuple[np.ndarray, float] | tuple[str, str]


def clip_outcomes(feature: Feature, sources: Sequence[AudioSource | None], n_jobs: int) -> Iterator[list[Outcome]]:
    """Per chunk of `sources`, in order, each clip's outcome (a source None: "unlisted").

    n_jobs: workers, as joblib counts them (-1: all cores); fewer than two chunks' worth of clips,
    or one worker, run in this process, with the same code and the same results.
    """
    chunks = [sources[start:start + CHUNK] for start in range(0, len(sources), CHUNK)]
    workers = min(joblib.effective_n_jobs(n_jobs), len(chunks))
    if workers < 2:
        yield from (_chunk_outcomes(feature, chunk) for chunk in chunks)
        return
    parallel = joblib.Parallel(n_jobs=workers, return_as="generator", batch_size=1,
                               pre_dispatch=f"{IN_FLIGHT} * n_jobs")
    for outcomes, caught in parallel(joblib.delayed(_pooled_chunk)(feature, [_portable(source) for source in chunk])
                                     for chunk in chunks):
        for category, message, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
        yield outcomes


def clip_outcome(feature: Feature, source: AudioSource | None) -> Outcome:
    """One clip's feature vector and seconds, or its ClipError's (reason, detail)."""
    rate = feature.params["sample_rate"]
    try:
        if source is None:
            raise ClipError("unlisted", "the dataset the cache was made from no longer lists this clip")
        if feature.stream is not None and header_duration(source) > LONG_SECONDS:
            values, samples = feature.stream(lambda: audio_blocks(source, rate))
        else:
            wave = decode(source, rate, min_samples=MIN_SAMPLES)
            values, samples = feature.compute(wave), len(wave)
        if not np.isfinite(values).all():
            raise ClipError("non-finite", f"{feature.name} has NaN or infinity")
    except ClipError as error:  # returned as text: ClipError's two-argument constructor does not unpickle
        return error.reason, error.detail
    return values, samples / rate


def _chunk_outcomes(feature: Feature, sources: Sequence[AudioSource | None]) -> list[Outcome]:
    with threadpool_limits(1):
        return [clip_outcome(feature, source) for source in sources]


def _pooled_chunk(feature: Feature, sources: Sequence[AudioSource | None]
                  ) -> tuple[list[Outcome], list[tuple[type[Warning], str, str, int]]]:
    """_chunk_outcomes in a worker, which first makes sure it ends with its parent, with the
    warnings the chunk raised as (category, message, file, line) for the parent to raise again."""
    global _watching
    if not _watching:
        _watching = True
        threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    with warnings.catch_warnings(record=True) as caught:
        outcomes = _chunk_outcomes(feature, sources)
    return outcomes, [(w.category, str(w.message), w.filename, w.lineno) for w in caught]


_watching = False  # whether this worker process runs _exit_with


def _exit_with(parent: int) -> None:
    """End this worker once its parent is gone: loky's idle workers would otherwise wait 300 s for
    work from a parent killed with -9, holding their memory."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


@dataclass(frozen=True)
class _Bytes:
    """An in-memory audio file (a Hugging Face row's bytes), sent to a worker instead of its dataset."""

    data: bytes

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.data)


@dataclass(frozen=True)
class _Unopenable:
    """A source that failed to open here: the worker raises the same error."""

    reason: str
    detail: str

    def open(self) -> io.BytesIO:
        raise ClipError(self.reason, self.detail)


def _portable(source: AudioSource | None) -> AudioSource | None:
    """`source` as a small picklable one: a file path, or the bytes a dataset row holds."""
    if source is None or isinstance(source, FileSource):
        return source
    try:
        opened = source.open()
    except ClipError as error:
        return _Unopenable(error.reason, error.detail)
    return FileSource(opened) if isinstance(opened, str) else _Bytes(opened.getvalue())
