"""The ladder on a Ray cluster (`finetune --engine ray`): each (rung, fold) unit a Ray task, one GPU each where
the units train on cuda, else a CPU task of --cpus-per-worker CPUs, over a local cluster started here (ended
with the run, and with this process if it is killed) or the one at --ray-address.

First one task per rung, on a unit's resources, prepares the rung (top-k: its frozen bottom's frames; lora and
full: their frozen CNN's; stored once in DIR/finetune_work for every unit of the rung to read) and, when the
progress is shown, times its first training batches for the cost estimate printed before any unit trains. Then
a task per unit loads the encoder itself (checked against the cache's fingerprint, as here), prepares its rung
(finding the stored frames) and runs the unit exactly as the single-process run does (finetune/unit.py),
writing the unit's own checkpoints and finished file into DIR/finetune_work, so resuming is the same; this
process only gathers the finished units and is the only writer of finetune_results.json. DIR must therefore be
a folder every node sees (one machine: any).
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from layerprobe.errors import UserError
from layerprobe.extract.ray_engine import RayOptions, ray_cluster
from layerprobe.finetune.estimate import estimate_line, pace
from layerprobe.finetune.rung import Rung
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
    """A task's answer: the finished unit (a unit task) or the rung's timed pace, None when not asked (a prepare
    task), or the one line of a UserError raised there (a full disk, say)."""

    result: UnitResult | float | None = None
    refused: str = ""


def ray_units(settings: RayOptions, jobs: list[UnitJob], waves: list[np.ndarray], device: str,
              durations: np.ndarray | None = None, *, progress: bool = False
              ) -> tuple[dict[tuple[str, int], UnitResult], str]:
    """Every job's finished unit by (rung, fold index), each trained in a Ray task on `device` ("auto", "cpu",
    "cuda"; auto: cuda where the cluster has GPUs), and the device they trained on. With each clip's seconds
    (`durations`) the cost estimate is printed first. A task's UserError ends the run with its line."""
    import ray

    width = settings.workers or os.cpu_count() or 1
    cpus = settings.cpus_per_worker or 1.0
    with ray_cluster(settings.ray_address, max(1, math.ceil(width * cpus))):
        gpus = _unit_gpus(settings, device)
        device = "cuda" if gpus else "cpu"
        where = "a local Ray cluster" if settings.ray_address is None else f"the Ray cluster at {settings.ray_address}"
        if progress:
            tqdm.write(f"ray: {len(jobs)} units on {where}, {gpus:g} GPU and {cpus:g} CPU each", file=sys.stderr)
        shared = ray.put(waves)
        threads = max(1, int(cpus))
        at_once = _at_once(settings, cpus, gpus, len(jobs))
        firsts = [job for job in jobs if job.index == min(other.index for other in jobs if other.rung == job.rung)]
        prepare = ray.remote(_prepare_rung).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        paces = _gathered(firsts, lambda job: prepare.remote(job, shared, device, threads, durations),
                          at_once)
        if durations is not None:
            outer = [job.fold for job in jobs if job.rung == firsts[0].rung]
            tqdm.write(estimate_line(paces, firsts[0].options, outer, durations, at_once=at_once), file=sys.stderr)
        task = ray.remote(_train_unit).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        with tqdm(total=len(jobs), desc="fine-tuning on Ray", unit="unit", disable=not progress) as bar:
            results = _gathered(jobs, lambda job: task.remote(job, shared, device, threads), at_once, bar)
    return {(job.rung, job.index): result for job, result in zip(jobs, results)}, device


def _at_once(settings: RayOptions, cpus: float, gpus: float, units: int) -> int:
    """How many tasks run side by side: --workers, else as many as the cluster's CPUs (and GPUs) hold."""
    import ray

    if settings.workers:
        return min(settings.workers, units)
    resources = ray.cluster_resources()
    fits = [int(resources.get("CPU", 1.0) // cpus)] + ([int(resources.get("GPU", 0.0) // gpus)] if gpus else [])
    return max(1, min(units, *fits))


def _gathered(jobs: list[UnitJob], submit: Callable[[UnitJob], object], at_once: int,
              bar: tqdm | None = None) -> list:
    """Each job's answer in order, from the task `submit(job)` starts, at most `at_once` submitted at a time; the
    first refusal cancels the running tasks and is raised as its UserError."""
    import ray

    answers: dict[int, object] = {}
    todo = iter(enumerate(jobs))
    pending = {submit(job): number for number, job in _take(todo, at_once)}
    while pending:
        [ready], _ = ray.wait(list(pending), num_returns=1)
        number = pending.pop(ready)
        done: _Done = ray.get(ready)
        if done.refused:
            for other in pending:
                ray.cancel(other, force=True)
            raise UserError(done.refused)
        answers[number] = done.result
        if bar is not None:
            bar.update()
        pending.update({submit(job): number for number, job in _take(todo, 1)})
    return [answers[number] for number in range(len(jobs))]


def _take(todo: Iterator, n: int) -> list:
    return [item for _, item in zip(range(n), todo)]


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


def _prepare_rung(job: UnitJob, waves: list[np.ndarray], device: str, threads: int,
                  durations: np.ndarray | None) -> _Done:
    """A Ray task: the rung of `job` prepared where its units will train (its frozen frames stored for all of
    them) and, given each clip's seconds, its pace on the first batches of the job's fold."""
    try:
        rung = _rung(job, waves, device, threads)
        rung.prepare()
        return _Done(None if durations is None else pace(rung, job.fold.fit, job.codes, durations))
    except UserError as error:
        return _Done(refused=str(error))


def _train_unit(job: UnitJob, waves: list[np.ndarray], device: str, threads: int) -> _Done:
    """A Ray task: the unit run on its prepared rung (its frozen frames found stored), or read back when finished."""
    from layerprobe.finetune.unit import run_unit, unit_files

    try:
        rung = _rung(job, waves, device, threads)
        done, _ = unit_files(rung, job.fold, job.index, job.codes, seed=job.seed, class_weight=job.class_weight,
                             folder=Path(job.work))
        if (found := UnitResult.read(done)) is not None:
            return _Done(found)
        rung.prepare()
        return _Done(run_unit(rung, job.fold, job.index, job.codes, seed=job.seed, class_weight=job.class_weight,
                              folder=Path(job.work)))
    except UserError as error:
        return _Done(refused=str(error))


def _rung(job: UnitJob, waves: list[np.ndarray], device: str, threads: int) -> Rung:
    """The job's rung on this node's `device`, its encoder loaded here (checked against the cache's fingerprint)."""
    import torch

    from layerprobe.finetune.pretrained import load_encoder
    from layerprobe.finetune.registry import rung_class

    if device == "cpu":
        torch.set_num_threads(threads)
    encoder = load_encoder(job.model, job.attrs, device)
    return rung_class(job.rung)(encoder, waves, job.options, job.n_classes, Path(job.work))
