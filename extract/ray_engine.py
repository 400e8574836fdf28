"""extract-embeddings on a Ray cluster (`--engine ray`).

Ray Data reads the pending clips in tasks (decode, resample) and encodes them in a pool of actors,
each holding the encoder; the pooled rows stream back to this process, which stays the cache's
only writer, so resume, crash safety, the bad-clip rules and the progress bar are the
single-process run's (extract/runner.py).

Each dataset row is one batch, built here from the clips' header lengths: a clip never straddles
two workers, and each worker runs the same exact batching (batching.pooled_batches) with the same
encoder as the single-process run, so the rows are the same to float rounding. Rows travel
pickled: ragged audio and the typed records need no Arrow schema.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import pickle
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from layerprobe.data.audio import ClipError, header_duration
from layerprobe.data.clips import Clip, FileSource
from layerprobe.errors import UserError
from layerprobe.extract.batching import Finished, pooled_batches, segment_lengths
from layerprobe.extract.engine_protocol import CPU_BATCH_SECONDS, GPU_BATCH_SECONDS
from layerprobe.extract.reading import Reading
from layerprobe.options import Known, OptionGroup, integer_at_least, non_negative_number, option, positive_number

if TYPE_CHECKING:
    from layerprobe.extract.encoder import Encoder

INSTALL = "pip install 'layerprobe[ray]'"
# An address that does not answer within this is refused (Ray itself retries for minutes).
CONNECT_SECONDS = 10.0
WATCHDOG = Path(__file__).with_name("ray_watchdog.py")
# Ray schedules one task per block at a cost of tens of milliseconds on a busy driver (2,000
# one-batch blocks took 112 s on 2 loaded cores): a block holds up to this many batches, yet each
# worker gets several blocks, so that the load spreads evenly.
BATCHES_PER_BLOCK = 16
BLOCKS_PER_WORKER = 4


def require_ray() -> None:
    """Refuse in one line where Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(f"--engine ray needs Ray, which is not installed here: {INSTALL}") from None


@dataclass(frozen=True)
class RayOptions(OptionGroup):
    """--engine ray, on a Ray cluster (pip install 'layerprobe[ray]'): extract's Ray Data tasks decode and an
    actor pool encodes; finetune's (rung, fold) units are Ray tasks."""

    title = "engine ray"
    ray_address: str | None = option(None, "join this Ray cluster (auto, HOST:6379, ray://HOST:10001); default: a "
                                           "local one", metavar="ADDRESS")
    workers: int | None = option(None, "extract: encoder actors (default: one per --gpus-per-worker GPUs of the "
                                       "cluster, 1 without GPUs); finetune: units at once (default: as many as the "
                                       "cluster holds)", type=integer_at_least(1), metavar="N")
    gpus_per_worker: float | None = option(None, "GPUs per encoder actor or finetune unit (default: 1 where the "
                                                 "cluster has GPUs, else 0; finetune: 1 on cuda)",
                                           type=non_negative_number, metavar="G")
    cpus_per_worker: float | None = option(None, "CPUs per encoder actor or finetune unit, its torch threads on the "
                                                 "CPU (default: 1)", type=positive_number, metavar="C")

    def _consistent(self, known: Known) -> RayOptions:
        # Both said before torch and the model load, and before the cache is made.
        if self.ray_address is not None:
            _check_reachable(self.ray_address)
        require_ray()
        return self


class RayEngine:
    """Where and how wide the encoder runs on Ray (see RayOptions).

    ray_address None starts a local cluster on this machine, ended with the run, and with the
    driver if it is killed (ray_watchdog.py). workers None: one per `gpus_per_worker` GPUs of the
    cluster, or 1 without GPUs; gpus_per_worker None: 1 where the cluster has GPUs, else 0 (the CPU);
    cpus_per_worker None: 1 (also the actor's torch threads on the CPU).
    """

    name = "ray"
    Settings = RayOptions

    def __init__(self, settings: RayOptions = RayOptions()) -> None:
        self.address = settings.ray_address
        self.workers = settings.workers
        self.gpus_per_worker = settings.gpus_per_worker
        self.cpus_per_worker = settings.cpus_per_worker or 1.0

    def local_encoder(self, load: Callable[..., Encoder], device: str) -> Encoder:
        return load(device="cpu", dtype="float32")  # the workers encode; here the model is only described

    def where(self, encoder: Encoder) -> str:
        return "Ray workers"

    def pooled_batches(self, todo: Sequence[tuple[int, Clip]], reading: Reading, *, encoder: Encoder,
                       load: Callable[..., Encoder], device: str, batch_seconds: float | None,
                       poolings: Sequence[str], failed: Callable[[int, Clip, ClipError], None]
                       ) -> Iterator[list[Finished]]:
        """The finished clips of `todo`, as batches come back from the workers (see engine_protocol.py).

        load(device=...) builds the encoder on a worker; its weights must hash to the local encoder's.
        """
        import ray

        fingerprint = encoder.info.fingerprint

        if not todo:  # a finished cache: no cluster to start
            return
        clips = {row: clip for row, clip in todo}
        with self._cluster() as (workers, gpus), _data_context():
            if device == "auto":
                device = "cuda" if gpus else "cpu"
            batch_samples = int((batch_seconds or (GPU_BATCH_SECONDS if gpus else CPU_BATCH_SECONDS))
                                * reading.sample_rate)
            batches = _batches(todo, reading, batch_samples)
            blocks = min(len(batches), max(BLOCKS_PER_WORKER * workers, math.ceil(len(batches) / BATCHES_PER_BLOCK)))
            dataset = ray.data.from_items([{"batch": pickle.dumps(batch)} for batch in batches],
                                          override_num_blocks=blocks)
            dataset = dataset.map(_read_batch, fn_kwargs={"reading": reading}, num_cpus=1)
            dataset = dataset.map(
                _EncodeBatch, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=self.cpus_per_worker,
                num_gpus=gpus, fn_constructor_kwargs=dict(
                    load=load, device=device, fingerprint=fingerprint, reading=reading,
                    batch_samples=batch_samples, poolings=tuple(poolings), threads=max(1, int(self.cpus_per_worker))))
            for row in dataset.iter_rows():
                outcome: _Outcome = pickle.loads(row["outcome"])
                if outcome.refused:
                    raise UserError(outcome.refused)
                for clip_row, reason, detail in outcome.failures:
                    clip = clips[clip_row]
                    failed(clip_row, clip, ClipError(reason, _as_given(detail, clip)))
                yield outcome.done

    @contextlib.contextmanager
    def _cluster(self) -> Iterator[tuple[int, float]]:
        """Connected to the cluster (a local one started here without an address); yields the
        number of workers and their GPUs each, checked against what the cluster holds."""
        workers = self.workers or 1
        with ray_cluster(self.address, max(os.cpu_count() or 1, math.ceil(workers * self.cpus_per_worker) + 1)):
            yield self._checked_size()

    def _checked_size(self) -> tuple[int, float]:
        """The number of workers and their GPUs each, checked against what the cluster holds."""
        import ray

        total = ray.cluster_resources()
        cpus, cluster_gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
        gpus = self.gpus_per_worker if self.gpus_per_worker is not None else (1.0 if cluster_gpus else 0.0)
        workers = self.workers or (max(1, int(cluster_gpus // gpus)) if gpus else 1)
        where = "a local Ray cluster" if self.address is None else f"the Ray cluster at {self.address}"
        if workers * gpus > cluster_gpus:
            raise UserError(f"--workers {workers} x --gpus-per-worker {gpus:g} needs {workers * gpus:g} GPUs; "
                            f"{where} has {cluster_gpus:g}")
        if workers * self.cpus_per_worker + 1 > cpus:
            raise UserError(f"--workers {workers} x --cpus-per-worker {self.cpus_per_worker:g} leaves no CPU "
                            f"to decode audio on {where} ({cpus:g} CPUs)")
        tqdm.write(f"ray: {workers} encoder worker{'s' if workers > 1 else ''} on {where} ({gpus:g} GPU, "
                   f"{self.cpus_per_worker:g} CPU each; {cpus:g} CPUs, {cluster_gpus:g} GPUs in all)", file=sys.stderr)
        return workers, gpus


@contextlib.contextmanager
def ray_cluster(address: str | None, local_cpus: int) -> Iterator[None]:
    """Connected to the Ray cluster at `address` (--ray-address), or to a local one of `local_cpus` CPUs started
    here (address None), which ends with the block, and with this process if it is killed (_watchdog). No
    cluster at the address is a UserError."""
    import ray

    if address is None:
        joining = dict(address="local", num_cpus=local_cpus, include_dashboard=False)
    else:
        joining = dict(address=address)
    with _watchdog(local=address is None):
        try:
            ray.init(**joining, log_to_driver=False, logging_level=logging.ERROR)
        except ConnectionError as error:  # no cluster at that address
            raise UserError(f"--ray-address {address}: {str(error).splitlines()[0]}") from None
        try:
            yield
        finally:
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Refuse in one line an address where nothing answers: Ray would retry it for many minutes.

    "auto" is left to Ray, which finds the cluster started on this machine (or says there is none).
    """
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address}: give auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        reason = error.strerror or str(error) or "no answer"
        raise UserError(f"--ray-address {address}: no Ray cluster answers there ({reason})") from None


@contextlib.contextmanager
def _watchdog(*, local: bool) -> Iterator[None]:
    """While a local cluster runs, a process that ends its processes if this one dies without
    ray.shutdown (kill -9): Ray's own reaper ends most of them, but its agents outlive the driver by
    a minute. Linux only (it reads /proc). It has a session of its own, so that a signal to this
    process group leaves it alive to clean up; told "done", it leaves without killing anything."""
    if not local or not Path("/proc/self/stat").exists():
        yield
        return
    watchdog = subprocess.Popen([sys.executable, str(WATCHDOG), str(os.getpid())], stdin=subprocess.PIPE,
                                start_new_session=True, text=True)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            watchdog.stdin.write("done\n")
            watchdog.stdin.close()
        watchdog.wait()


@contextlib.contextmanager
def _data_context() -> Iterator[None]:
    """Ray Data set up for this run, and as it was afterwards: no bars or banners of its own (the
    run has its progress bar), and every batch's rows sent back as soon as the batch is encoded
    (an output block as small as one row) rather than with the rest of its block."""
    import ray

    context = ray.data.DataContext.get_current()
    settings = dict(enable_progress_bars=False, print_on_execution_start=False, target_max_block_size=1)
    before = {name: getattr(context, name) for name in settings}
    logger = logging.getLogger("ray.data")
    level = logger.level
    for name, value in settings.items():
        setattr(context, name, value)
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(context, name, value)
        logger.setLevel(level)


def _batches(todo: Sequence[tuple[int, Clip]], reading: Reading, batch_samples: int) -> list[list]:
    """(row, clip, header seconds) grouped, in order, so that a group's padded samples by the
    headers stay within batch_samples (a clip longer than that alone); the worker re-batches on
    the decoded lengths, so a wrong header costs speed, never exactness."""
    batches: list[list] = []
    current: list = []
    longest = pieces = 0
    for row, clip in todo:
        seconds = header_duration(clip.source)
        seconds = 0.0 if math.isnan(seconds) else seconds
        lengths = segment_lengths(max(1, round(seconds * reading.sample_rate)), reading.chunk_samples)
        if current and max(longest, lengths[0]) * (pieces + len(lengths)) > batch_samples:
            batches.append(current)
            current, longest, pieces = [], 0, 0
        current.append((row, _portable(clip), seconds))
        longest, pieces = max(longest, lengths[0]), pieces + len(lengths)
    if current:
        batches.append(current)
    return batches


def _portable(clip: Clip) -> Clip:
    """The clip with an absolute file path: a worker need not run in this directory."""
    if isinstance(clip.source, FileSource):
        return replace(clip, source=FileSource(os.path.abspath(clip.source.path)))
    return clip


def _as_given(detail: str, clip: Clip) -> str:
    """A worker's message about a clip, naming its file as the manifest gave it."""
    if isinstance(clip.source, FileSource):
        return detail.replace(_portable(clip).source.path, clip.source.path)
    return detail


@dataclass
class _Outcome:
    """One batch as it travels: the clips read (or encoded), and those that could not be read."""

    done: list  # Read from the task, Finished from the actor
    failures: list[tuple[int, str, str]]  # (row, reason, detail) of each clip that could not be read
    refused: str = ""  # a worker's UserError (say, the model does not load there): it ends the run


def _read_batch(item: dict, reading: Reading) -> dict:
    """A Ray task: every clip of one batch read (decoded, or a long one measured)."""
    outcome = _Outcome([], [])
    for row, clip, seconds in pickle.loads(item["batch"]):
        try:
            outcome.done.append(reading.read(row, clip, seconds))
        except ClipError as error:
            outcome.failures.append((row, error.reason, error.detail))
    return {"outcome": pickle.dumps(outcome)}


class _EncodeBatch:
    """A Ray actor: the encoder, loaded once, turning read batches into finished pooled rows.

    A UserError here (the model cannot be loaded on this node, or holds other weights) is sent
    back with the batches rather than raised, so the driver ends with its one line."""

    def __init__(self, load: Callable, device: str, fingerprint: str, reading: Reading, batch_samples: int,
                 poolings: tuple[str, ...], threads: int):
        import torch

        if device == "cpu":
            torch.set_num_threads(threads)
        self.reading = reading
        self.batch_samples = batch_samples
        self.poolings = poolings
        self.refused = ""
        try:
            self.encoder = load(device=device)
        except UserError as error:
            self.refused = str(error)
            return
        if self.encoder.info.fingerprint != fingerprint:
            self.refused = (f"the Ray worker on {socket.gethostname()} loaded {self.encoder.info.model} with "
                            "other weights than this process: every node must see the same model")

    def __call__(self, item: dict) -> dict:
        outcome: _Outcome = pickle.loads(item["outcome"])
        if self.refused:
            return {"outcome": pickle.dumps(_Outcome([], [], self.refused))}
        decoded = (self.reading.prepared(read, self.encoder) for read in outcome.done)
        try:
            encode = functools.partial(self.encoder.summarize, poolings=self.poolings)
            outcome.done = [clip for batch in pooled_batches(decoded, encode, self.reading.chunk_samples,
                                                             self.batch_samples, poolings=self.poolings)
                            for clip in batch]
        except UserError as error:  # a long clip that changed while it was encoded
            return {"outcome": pickle.dumps(_Outcome([], [], str(error)))}
        return {"outcome": pickle.dumps(outcome)}
