"""The extraction run: manifest -> decode (in a background thread) -> exact batches -> cache rows."""
from __future__ import annotations

import functools
import math
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
from tqdm import tqdm

from layerprobe.data.audio import ClipError, header_duration
from layerprobe.data.cache import CacheWriter, Settings
from layerprobe.data.columns import ColumnChoice
from layerprobe.data.manifest import Clip, load_manifest
from layerprobe.errors import UserError
from layerprobe.extract.batching import Finished
from layerprobe.extract.encoder import Encoder
from layerprobe.extract.engines import engine_for
from layerprobe.extract.reading import Reading
from layerprobe.layer_spec import format_layers
from layerprobe.options import ColumnOptions, EngineOptions, ExtractOptions


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


def extract(data: str, out: str, options: ExtractOptions, columns: ColumnOptions = ColumnOptions(),
            engine: EngineOptions = EngineOptions(), *, command: str = "", progress: bool = True) -> Summary:
    """Run the frozen encoder over DATA once and store every requested layer's pooled embeddings.

    data: audio folder, manifest CSV/TSV (or a folder holding one), or a saved HF dataset.
    out: the HDF5 cache; an existing one is resumed (finished clips are not recomputed).
    options, columns, engine: validated (layerprobe.options: each field's help says what it does).
    A pooling the cache already holds is kept up to date for new clips; one it lacks is computed
    for every clip (each clip encoded once more). command: the command line, recorded in the cache.
    """
    started = time.perf_counter()
    runs = engine_for(engine)
    manifest = load_manifest(data, columns.path_column, columns.label_column, columns.group_column,
                             columns.split_column, split_lists=columns.split_lists,
                             speech_commands_classes=columns.speech_commands_classes)
    load = functools.partial(Encoder, options.model, options.layer_indices, options.revision, dtype=options.dtype,
                             trust_remote_code=options.trust_remote_code)
    encoder = runs.local_encoder(load, options.device)
    info = encoder.info
    if info.sample_rate <= 0:  # else every chunk length is 0 samples, reported as a chunk problem
        raise UserError(f"{info.model}: its feature extractor's sampling_rate is {info.sample_rate} "
                        "(preprocessor_config.json); expected the encoder's rate in Hz, e.g. 16000")
    chunk_samples = encoder.chunk_samples(options.chunk_seconds)
    settings = Settings(
        # A local folder is stored absolute, as the data is: the cache may be read from elsewhere.
        model=str(Path(info.model).resolve()) if Path(info.model).is_dir() else info.model,
        model_revision=info.revision,
        model_fingerprint=info.fingerprint,
        model_type=info.model_type,
        sample_rate=info.sample_rate,
        layers=tuple(encoder.layers),
        hidden_size=info.hidden_size,
        dtype=options.dtype,
        chunk_seconds=float(options.chunk_seconds),
        pad_short=options.pad_short,
        poolings=options.pooling,
        data=str(Path(data).resolve()),
        columns=ColumnChoice(columns.path_column, columns.label_column, columns.group_column, columns.split_column,
                             columns.split_lists, columns.speech_commands_classes),
        group_column=manifest.group_column or "",
        versions=versions(),
        command=command,
    )
    print(manifest.description, file=sys.stderr)
    print(f"encoder: {info.model} ({info.model_type}, layers {format_layers(encoder.layers)}) on "
          f"{runs.where(encoder)}", file=sys.stderr)
    summary = Summary()
    with CacheWriter(out, manifest.clips, settings, options.overwrite, others=manifest.others) as cache:
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
            if options.strict:
                raise UserError(f"{clip.id}: {error} (--strict stops at the first failed clip)")

        reading = Reading.for_encoder(encoder, chunk_samples, pad_short=options.pad_short,
                                      max_seconds=options.max_seconds)
        batches = runs.pooled_batches(todo, reading, encoder=encoder, load=load, device=options.device,
                                      batch_seconds=options.batch_seconds, poolings=cache.settings.poolings,
                                      failed=failed)
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
