"""The extraction run: manifest -> decode (in a background thread) -> exact batches -> cache rows."""
from __future__ import annotations

import functools
import math
import resource
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from layerprobe.data.audio import MAX_SECONDS, ClipError, header_duration
from layerprobe.data.cache import CacheWriter, Settings
from layerprobe.data.columns import ColumnChoice
from layerprobe.data.manifest import Clip, load_manifest
from layerprobe.data.speech_commands import ALL_CLASSES
from layerprobe.errors import UserError
from layerprobe.extract.batching import Decoded, Finished, pooled_batches
from layerprobe.extract.encoder import Encoder
from layerprobe.extract.pooling import parse_poolings
from layerprobe.extract.reading import Reading
from layerprobe.layer_spec import format_layers

if TYPE_CHECKING:
    from layerprobe.extract.ray_engine import RayEngine

# Decoded clips waiting for the encoder: bounded in samples (by their headers), so that memory
# does not grow with clip length; at least one clip is always ahead, however long.
PREFETCH_CLIPS = 64
PREFETCH_SECONDS = 120.0


@dataclass
class Summary:
    """What a run did; `str()` is the end-of-run report."""

    ok: int = 0
    failed: Counter = field(default_factory=Counter)
    skipped: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    def __str__(self) -> str:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        speed = self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0
        failed = sum(self.failed.values())
        lines = [
            # "0 ok" alone read as "nothing usable" on a rerun that found every clip already done.
            f"clips: {self.ok + self.skipped} ok in the cache ({self.ok} extracted now, {self.skipped} already "
            f"there), {failed} failed",
            f"audio: {self.audio_seconds / 3600:.3f} h in {self.wall_seconds:.1f} s wall "
            f"({speed:.1f}x realtime), peak memory {peak:.0f} MiB",
        ]
        lines += [f"  failed ({reason}): {count}" for reason, count in self.failed.most_common()]
        return "\n".join(lines)


def versions() -> dict[str, str]:
    """Versions of what computed the embeddings, recorded in the cache."""
    packages = ("layerprobe", "torch", "transformers", "numpy", "soundfile", "soxr", "h5py")
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "absent"
    found["python"] = sys.version.split()[0]
    return found


def extract(
    data: str,
    out: str,
    *,
    model: str = "facebook/wav2vec2-base",
    layers: Sequence[int] | None = None,
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "float32",
    chunk_seconds: float = 30.0,
    batch_seconds: float | None = None,
    pad_short: bool = False,
    pooling: str | Sequence[str] = ("mean",),
    max_seconds: float = MAX_SECONDS,
    strict: bool = False,
    overwrite: bool = False,
    path_column: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    split_column: str | None = None,
    split_lists: str | None = None,
    speech_commands_classes: int = ALL_CLASSES,
    trust_remote_code: bool = False,
    command: str = "",
    progress: bool = True,
    engine: RayEngine | None = None,
) -> Summary:
    """Run the frozen encoder over DATA once and store every requested layer's pooled embeddings.

    data: audio folder, manifest CSV/TSV (or a folder holding one), or a saved HF dataset.
    out: the HDF5 cache; an existing one is resumed (finished clips are not recomputed).
    layers: hidden_states indices; None means all. batch_seconds: padded audio per batch
    (default 4 s on CPU, where small batches stay in cache, 256 s on GPU). max_seconds: a longer
    clip fails as "too-long" (default 4 h). pooling: "mean", "mean,std,max" or a list of those
    names; mean is always stored (layers/NN), the others in pooled/NAME/NN, all from one encoder
    pass. A pooling the cache already holds is kept up to date for new clips; one it lacks is
    computed for every clip (each clip encoded once more). split_lists, speech_commands_classes: how a
    Speech Commands folder is read (data.speech_commands). engine: a RayEngine encodes on
    a Ray cluster; None (the default) in this process. Other parameters mirror the extract-embeddings
    flags.
    """
    started = time.perf_counter()
    poolings = parse_poolings(pooling)
    manifest = load_manifest(data, path_column, label_column, group_column, split_column, split_lists=split_lists,
                             speech_commands_classes=speech_commands_classes)
    load = functools.partial(Encoder, model, layers, revision, dtype=dtype, trust_remote_code=trust_remote_code)
    # On Ray the workers encode: here the model is only described (fingerprint, layers, rate).
    encoder = load(device=device) if engine is None else load(device="cpu", dtype="float32")
    info = encoder.info
    if info.sample_rate <= 0:  # else every chunk length is 0 samples, reported as a chunk problem
        raise UserError(f"{info.model}: its feature extractor's sampling_rate is {info.sample_rate} "
                        "(preprocessor_config.json); expected the encoder's rate in Hz, e.g. 16000")
    chunk_samples = encoder.chunk_samples(chunk_seconds)
    settings = Settings(
        # A local folder is stored absolute, as the data is: the cache may be read from elsewhere.
        model=str(Path(info.model).resolve()) if Path(info.model).is_dir() else info.model,
        model_revision=info.revision,
        model_fingerprint=info.fingerprint,
        model_type=info.model_type,
        sample_rate=info.sample_rate,
        layers=tuple(encoder.layers),
        hidden_size=info.hidden_size,
        dtype=dtype,
        chunk_seconds=float(chunk_seconds),
        pad_short=pad_short,
        poolings=poolings,
        data=str(Path(data).resolve()),
        columns=ColumnChoice(path_column, label_column, group_column, split_column, split_lists,
                             speech_commands_classes),
        group_column=manifest.group_column or "",
        versions=versions(),
        command=command,
    )
    if batch_seconds is None and engine is None:
        batch_seconds = 4.0 if encoder.device.type == "cpu" else 256.0
    print(manifest.description, file=sys.stderr)
    where = encoder.device if engine is None else "Ray workers"
    print(f"encoder: {info.model} ({info.model_type}, layers {format_layers(encoder.layers)}) on {where}", file=sys.stderr)
    summary = Summary()
    with CacheWriter(out, manifest.clips, settings, overwrite, others=manifest.others) as cache:
        if cache.unlisted:
            print(f"note: {cache.unlisted} clips in {out} are not in this manifest; they stay in the cache", file=sys.stderr)
        by_id = {clip.id: clip for clip in manifest.clips}
        todo = [(row, by_id[cache.ids[row]]) for row in cache.pending() if cache.ids[row] in by_id]
        summary.skipped = len(manifest.clips) - len(todo)
        todo.sort(key=lambda item: _sort_key(item[1]))
        clips_by_row = dict(todo)
        bar = tqdm(total=len(todo), unit="clip", disable=not progress, dynamic_ncols=True, desc="extract")

        def failed(row: int, clip: Clip, error: ClipError) -> None:
            cache.write_failed(row, str(error), header_duration(clip.source))
            summary.failed[error.reason] += 1
            bar.update(1)
            if strict:
                raise UserError(f"{clip.id}: {error} (--strict stops at the first failed clip)")

        poolings = cache.settings.poolings
        if engine is None:
            decoded = _decoded(todo, encoder, pad_short, max_seconds, chunk_samples, failed)
            encode = functools.partial(encoder.summarize, poolings=poolings)
            batches = pooled_batches(decoded, encode, chunk_samples, int(batch_seconds * info.sample_rate),
                                     poolings=poolings)
        else:
            reading = Reading.for_encoder(encoder, chunk_samples, pad_short=pad_short, max_seconds=max_seconds)
            batches = engine.pooled_batches(todo, reading, load, fingerprint=info.fingerprint, device=device,
                                            batch_seconds=batch_seconds, poolings=poolings, failed=failed)
        encoding_started = time.perf_counter()
        for finished in batches:
            bar.update(_store(cache, finished, summary, clips_by_row, failed))
            speed = summary.audio_seconds / (time.perf_counter() - encoding_started)
            bar.set_postfix_str(f"{speed:.1f}x realtime")
        bar.close()
    summary.wall_seconds = time.perf_counter() - started
    return summary


def _sort_key(clip: Clip) -> float:
    seconds = header_duration(clip.source)
    return -1.0 if math.isnan(seconds) else seconds  # unreadable ones first: they fail fast


def _header_seconds(clip: Clip) -> float:
    seconds = header_duration(clip.source)
    return 0.0 if math.isnan(seconds) else seconds


def _decoded(todo, encoder: Encoder, pad_short: bool, max_seconds: float, chunk_samples: int,
             failed) -> Iterator[Decoded]:
    """Decode and normalize clips in a background thread, a bounded number ahead of the encoder.
    A clip longer than the chunk is only measured there and read again, a piece at a time, as the
    encoder takes it (see long_clips.py)."""
    reading = Reading.for_encoder(encoder, chunk_samples, pad_short=pad_short, max_seconds=max_seconds)

    def work(row: int, clip: Clip, seconds: float) -> Decoded:
        return reading.prepared(reading.read(row, clip, seconds), encoder)

    def settle(row: int, clip: Clip, future: Future) -> Iterator[Decoded]:
        try:
            decoded = future.result()
        except ClipError as error:
            failed(row, clip, error)
            return
        yield decoded

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


def _store(cache: CacheWriter, finished: list[Finished], summary: Summary, clips_by_row: dict, failed) -> int:
    """Write a batch's finished clips; returns how many were stored as ok."""
    finite = [all(np.isfinite(values).all() for values in f.pooled.values()) for f in finished]
    good = [f for f, ok in zip(finished, finite) if ok]
    for f, ok in zip(finished, finite):
        if not ok:
            failed(f.row, clips_by_row[f.row], ClipError("non-finite-embedding", "the encoder produced NaN or inf"))
    if good:
        pooled = {name: np.stack([f.pooled[name] for f in good]) for name in good[0].pooled}
        cache.write_ok(np.array([f.row for f in good]), pooled, np.array([f.seconds for f in good]))
    summary.ok += len(good)
    summary.audio_seconds += sum(f.seconds for f in good)
    return len(good)
