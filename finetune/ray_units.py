"""The ladder on a Ray cluster (`finetune --engine ray`): each (rung, fold) unit a Ray task, one GPU each where
the units train on cuda, else a CPU task of --cpus-per-worker CPUs, over a local cluster started here (ended
with the run, and with this process if it is killed) or the one at --ray-address.

A task loads the encoder itself (checked against the cache's fingerprint, as here), prepares its rung and runs
the unit exactly as the single-process run does (finetune/unit.py), writing the unit's own checkpoints and
finished file into DIR/finetune_work, so resuming is the same; this process only gathers the finished units and
is the only writer of finetune_results.json. DIR must therefore be a folder every node sees (one machine: any).
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from layerprobe.errors import UserError
from layerprobe.extract.ray_engine import RayOptions, ray_cluster
from layerprobe.finetune.unit import UnitResult
from layerprobe.options import FinetuneOptions
from layerprobe.probes.protocols import OuterFold


@dataclass(frozen=True)
class UnitJob:
    """What a task needs to run one unit, beside the clips' waveforms (sent once through Ray's object store)."""

    rung: str
    index: int
    fold: OuterFold
    model: str
    attrs: dict
    options: FinetuneOptions
    n_classes: int
    codes: np.ndarray
    seed: int
    class_weight: str
    work: str


@dataclass(frozen=True)
class _Done:
    """A task's answer: the finished unit, or the one line of a UserError raised there (a full disk, say)."""

    result: UnitResult | None = None
    refused: str = ""


def ray_units(settings: RayOptions, jobs: list[UnitJob], waves: list[np.ndarray], device: str, *,
              progress: bool = False) -> tuple[dict[tuple[str, int], UnitResult], str]:
    """Every job's finished unit by (rung, fold index), each trained in a Ray task on `device` ("auto", "cpu",
    "cuda"; auto: cuda where the cluster has GPUs), and the device they trained on. A task's UserError ends the
    run with its line."""
    import ray

    width = settings.workers or os.cpu_count() or 1
    cpus = settings.cpus_per_worker or 1.0
    with ray_cluster(settings.ray_address, max(1, math.ceil(width * cpus))):
        gpus = _unit_gpus(settings, device)
        device = "cuda" if gpus else "cpu"
        where = "a local Ray cluster" if settings.ray_address is None else f"the Ray cluster at {settings.ray_address}"
        if progress:
            tqdm.write(f"ray: {len(jobs)} units on {where}, {gpus:g} GPU and {cpus:g} CPU each", file=sys.stderr)
        task = ray.remote(_train_unit).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        shared = ray.put(waves)
        found: dict[tuple[str, int], UnitResult] = {}
        pending: dict = {}
        todo = iter(jobs)
        threads = max(1, int(cpus))
        # At most --workers units at once (default: as many as the cluster's CPUs and GPUs hold).
        with tqdm(total=len(jobs), desc="fine-tuning on Ray", unit="unit", disable=not progress) as bar:
            for job in _take(todo, settings.workers or len(jobs)):
                pending[task.remote(job, shared, device, threads)] = job
            while pending:
                [ready], _ = ray.wait(list(pending), num_returns=1)
                finished = pending.pop(ready)
                done: _Done = ray.get(ready)
                if done.refused:
                    for other in pending:
                        ray.cancel(other, force=True)
                    raise UserError(done.refused)
                found[finished.rung, finished.index] = done.result
                bar.update()
                for job in _take(todo, 1):
                    pending[task.remote(job, shared, device, threads)] = job
    return found, device


def _take(jobs: Iterator[UnitJob], n: int) -> list[UnitJob]:
    return [job for _, job in zip(range(n), jobs)]


def _unit_gpus(settings: RayOptions, device: str) -> float:
    """GPUs per unit task: --gpus-per-worker, else 1 on cuda (auto: where the cluster has GPUs), else 0; a
    UserError where the cluster has fewer."""
    import ray

    cluster_gpus = ray.cluster_resources().get("GPU", 0.0)
    if settings.gpus_per_worker is not None:
        gpus = settings.gpus_per_worker if device != "cpu" else 0.0
    else:
        gpus = 1.0 if device == "cuda" or (device == "auto" and cluster_gpus) else 0.0
    if device == "cuda" and not gpus:
        raise UserError("--device cuda: --gpus-per-worker 0 gives the units no GPU")
    if gpus > cluster_gpus:
        where = "the local Ray cluster" if settings.ray_address is None else f"the Ray cluster at {settings.ray_address}"
        raise UserError(f"--device {device}: a unit needs {gpus:g} GPU; {where} has {cluster_gpus:g}")
    return gpus


def _train_unit(job: UnitJob, waves: list[np.ndarray], device: str, threads: int) -> _Done:
    """A Ray task: the encoder loaded here, the rung prepared, and the unit run (or read back, when finished)."""
    import torch

    from layerprobe.finetune.pretrained import load_encoder
    from layerprobe.finetune.registry import rung_class
    from layerprobe.finetune.unit import run_unit, unit_files

    if device == "cpu":
        torch.set_num_threads(threads)
    try:
        encoder = load_encoder(job.model, job.attrs, device)
        rung = rung_class(job.rung)(encoder, waves, job.options, job.n_classes, Path(job.work))
        done, _ = unit_files(rung, job.fold, job.index, job.codes, seed=job.seed, class_weight=job.class_weight,
                             folder=Path(job.work))
        if (found := UnitResult.read(done)) is not None:
            return _Done(found)
        rung.prepare()
        return _Done(run_unit(rung, job.fold, job.index, job.codes, seed=job.seed, class_weight=job.class_weight,
                              folder=Path(job.work)))
    except UserError as error:
        return _Done(refused=str(error))
