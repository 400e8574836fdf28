"""One (rung, outer fold) unit: each learning rate of the grid trains on the inner split's training part and is
scored on its validation part after every epoch; the best (learning rate, epoch) is refitted on the whole outer
training part and the outer test part is predicted once. Resumable at every epoch's end; a finished unit is a
JSON file that a rerun reads instead of training again."""
from __future__ import annotations

import hashlib
import json
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from layerprobe.atomic_write import write_text_atomic
from layerprobe.finetune.checkpoint import Progress, load_progress, save_progress
from layerprobe.finetune.rung import Rung, trainable_parameters
from layerprobe.finetune.training import (
    adamw, epoch_order, loss_weights, predict, prior_loss, steps_per_epoch, train_epoch, weighted_loss,
)
from layerprobe.probes.protocols import OuterFold
from layerprobe.probes.spec import selection_score


@dataclass(frozen=True)
class UnitResult:
    """A finished unit: the test clips' logits, the chosen learning rate and epochs, why it collapsed (None:
    it did not), its seconds, its trainable parameters, and each learning rate's validation (UAR, loss) per epoch."""

    logits: list[list[float]]
    learning_rate: float
    epochs: int
    collapsed: str | None
    seconds: float
    trainable_parameters: int
    selection: list[list[list[float]]]

    @classmethod
    def read(cls, path: Path) -> UnitResult | None:
        return cls(**json.loads(path.read_text())) if path.is_file() else None

    def write(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(asdict(self)))


def unit_key(rung: Rung, fold: OuterFold, codes: np.ndarray, *, seed: int, class_weight: str) -> str:
    """A short hash of everything a unit's numbers depend on: the encoder, the options, the seed, the class
    weights, the device's kind and the fold's clips and labels. A finished unit is reused only under its own key,
    so a rerun with other options never reads another run's results."""
    digest = hashlib.blake2b(digest_size=8)
    settings = {**rung.options.to_dict(), "rungs": None, "model": None, "seed": seed, "class_weight": class_weight,
                "device": rung.device.type, "fingerprint": rung.encoder.info.fingerprint, "rung": rung.name}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for rows in (fold.fit, fold.test, *fold.selection[0]):
        digest.update(np.asarray(rows, dtype=np.int64).tobytes())
        digest.update(np.asarray(codes[rows], dtype=np.int64).tobytes())
    return digest.hexdigest()


def run_unit(rung: Rung, fold: OuterFold, index: int, codes: np.ndarray, *, seed: int, class_weight: str,
             folder: Path) -> UnitResult:
    """The unit of `rung` on outer fold `index` (codes: every clip's class code), resumed from `folder` (see
    unit_files)."""
    done, checkpoint = unit_files(rung, fold, index, codes, seed=seed, class_weight=class_weight, folder=folder)
    if (found := UnitResult.read(done)) is not None:
        return found
    progress = load_progress(checkpoint)
    options = rung.options
    grid = options.learning_rates
    inner_train, validation = fold.selection[0]
    started = time.perf_counter() - progress.seconds
    while progress.phase <= len(grid):
        refit = progress.phase == len(grid)
        if refit:
            lr, epochs = chosen(progress.history, grid)
            rows, scored = fold.fit, None
        else:
            lr, epochs, rows, scored = grid[progress.phase], options.epochs, inner_train, validation
        # The phase's own seed: its head's initial weights and its epochs' clip orders depend on nothing else.
        phase_seed = (seed, zlib.crc32(rung.name.encode()), index, progress.phase)
        model = _resumed_model(rung, progress, phase_seed)
        weights = loss_weights(class_weight, codes[rows], rung.n_classes)
        optimizer = adamw(model, lr)
        if progress.optimizer is not None:
            optimizer.load_state_dict(progress.optimizer)
        per_epoch = steps_per_epoch(len(rows), options.batch_size)
        while progress.epoch < epochs:
            train_epoch(rung, model, optimizer, epoch_order(rows, phase_seed, progress.epoch), codes, weights, lr=lr,
                        schedule=options.schedule, first_step=progress.epoch * per_epoch,
                        total_steps=options.epochs * per_epoch, max_grad_norm=options.max_grad_norm,
                        batch_size=options.batch_size)
            if scored is not None:
                logits = predict(rung, model, scored, options.batch_size)
                if len(progress.history) <= progress.phase:
                    progress.history.append([])
                progress.history[progress.phase].append(
                    [selection_score(codes[scored], logits.argmax(axis=1)), weighted_loss(logits, codes[scored], weights)])
            progress.epoch += 1
            progress.model = {name: p.detach().cpu() for name, p in model.named_parameters() if p.requires_grad}
            progress.optimizer, progress.rng = optimizer.state_dict(), torch.get_rng_state()
            progress.cuda_rng = torch.cuda.get_rng_state(rung.device) if rung.device.type == "cuda" else None
            progress.seconds = time.perf_counter() - started
            save_progress(checkpoint, progress)
        if refit:
            break
        progress.phase, progress.epoch, progress.model, progress.optimizer = progress.phase + 1, 0, None, None
    logits = predict(rung, model, fold.test, options.batch_size)
    phase = grid.index(lr)
    prior = prior_loss(codes[inner_train], codes[validation], loss_weights(class_weight, codes[inner_train],
                                                                              rung.n_classes), rung.n_classes)
    result = UnitResult(logits.astype(np.float64).tolist(), lr, epochs,
                        collapse(logits, codes[fold.test], [loss for _, loss in progress.history[phase]], prior),
                        time.perf_counter() - started, trainable_parameters(model), progress.history)
    result.write(done)
    checkpoint.unlink(missing_ok=True)
    return result


def unit_files(rung: Rung, fold: OuterFold, index: int, codes: np.ndarray, *, seed: int, class_weight: str,
               folder: Path) -> tuple[Path, Path]:
    """The unit's files in `folder`: RUNG-foldK-KEY.json once finished, RUNG-foldK-KEY.pt while it trains (see
    unit_key)."""
    name = f"{rung.name}-fold{index + 1}-{unit_key(rung, fold, codes, seed=seed, class_weight=class_weight)}"
    return folder / f"{name}.json", folder / f"{name}.pt"


def _resumed_model(rung: Rung, progress: Progress, seed: tuple[int, ...]) -> torch.nn.Module:
    """A fresh model seeded for its phase, with the saved trained parameters and RNG state where the phase had begun."""
    torch.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
    model = rung.build()
    if progress.model is not None:
        missing = set(progress.model) - {name for name, _ in model.named_parameters()}
        assert not missing, f"checkpoint parameters the model lacks: {sorted(missing)[:3]}"
        model.load_state_dict(progress.model, strict=False)
        torch.set_rng_state(progress.rng)
        if progress.cuda_rng is not None:
            torch.cuda.set_rng_state(progress.cuda_rng, rung.device)
    return model


def chosen(history: list[list[list[float]]], grid: tuple[float, ...]) -> tuple[float, int]:
    """The (learning rate, epochs) of the best validation UAR, the lower loss breaking ties, the first on a full tie."""
    best, found = None, (grid[0], 1)
    for phase, epochs in enumerate(history):
        for epoch, (uar, loss) in enumerate(epochs):
            key = (uar, -loss if np.isfinite(loss) else -np.inf)
            if best is None or key > best:
                best, found = key, (grid[phase], epoch + 1)
    return found


def collapse(logits: np.ndarray, truth: np.ndarray, losses: list[float], prior: float) -> str | None:
    """Why a unit collapsed, or None: it predicts one class for every test clip of several classes, or the chosen
    learning rate's validation loss never fell below the class-prior loss (it learnt nothing the shares do not say)."""
    if not any(loss < prior for loss in losses):
        return f"its validation loss never fell below the class-prior loss ({prior:.3f})"
    predicted = logits.argmax(axis=1)
    if len(np.unique(truth)) > 1 and len(np.unique(predicted)) == 1:
        return "it predicts one class for every test clip"
    return None
