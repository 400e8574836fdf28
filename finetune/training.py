"""One training run of a rung on some clips: AdamW on the parameters that train, class-weighted cross-entropy,
gradients clipped to --max-grad-norm, the --schedule's learning rate at each step, bfloat16 autocast on cuda
only. An epoch's clip order comes from the seed and the epoch alone, so a run resumed at an epoch's end goes on
exactly as it would have."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from layerprobe.finetune.rung import Rung
from layerprobe.finetune.schedules import lr_factor
from layerprobe.probes.spec import class_weights


def loss_weights(mode: str, codes: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """Per-class loss weights from the labels a run trains on: None ("none"), "balanced" (n / (k * count_c), as
    scikit-learn's) or "sqrt" (min(sqrt(max_count / count_c), 3), the probes' own rule, probes.spec.class_weights).
    A class absent from `codes` gets weight 0."""
    if mode == "none":
        return None
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    if mode == "balanced":
        present = counts > 0
        weights = np.where(present, len(codes) / (present.sum() * np.maximum(counts, 1)), 0.0)
    else:
        found = class_weights(mode, codes)
        weights = np.array([found.get(code, 0.0) for code in range(n_classes)])
    return torch.tensor(weights, dtype=torch.float32)


def prior_loss(train_codes: np.ndarray, codes: np.ndarray, weights: torch.Tensor | None, n_classes: int) -> float:
    """The loss of always predicting the training part's class shares: what a model that learnt nothing scores."""
    shares = np.bincount(train_codes, minlength=n_classes) / len(train_codes)
    logits = torch.tensor(np.log(np.maximum(shares, 1e-12)), dtype=torch.float32).repeat(len(codes), 1)
    return float(nn.functional.cross_entropy(logits, torch.from_numpy(codes), weight=weights))


def adamw(model: nn.Module, lr: float) -> torch.optim.AdamW:
    """AdamW without weight decay on the parameters that train, in its fused kernel (the Trainer's default,
    adamw_torch_fused): the per-tensor loop costs seconds a step at a whole encoder's 95M parameters."""
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    return torch.optim.AdamW(trained, lr=lr, weight_decay=0.0, fused=True)


def autocast(device: torch.device):
    """bfloat16 mixed precision on cuda; full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def epoch_order(rows: np.ndarray, seed: tuple[int, ...], epoch: int) -> np.ndarray:
    """The clips of one epoch, shuffled by the run's seed and the epoch."""
    return np.random.default_rng([*seed, epoch]).permutation(rows)


def train_epoch(rung: Rung, model: nn.Module, optimizer: torch.optim.Optimizer, rows: np.ndarray,
                codes: np.ndarray, weights: torch.Tensor | None, *, lr: float, schedule: str, first_step: int,
                total_steps: int, max_grad_norm: float, batch_size: int) -> None:
    """One pass over `rows` (in their given order) in batches, stepping the optimizer once per batch."""
    model.train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    weight = None if weights is None else weights.to(rung.device)
    for step, start in enumerate(range(0, len(rows), batch_size), start=first_step):
        batch = rows[start:start + batch_size]
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(schedule, step, total_steps)
        with autocast(rung.device):
            logits = rung.logits(model, batch)
        target = torch.from_numpy(codes[batch]).to(rung.device)
        loss = nn.functional.cross_entropy(logits.float(), target, weight=weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
        optimizer.step()


@torch.no_grad()
def predict(rung: Rung, model: nn.Module, rows: np.ndarray, batch_size: int) -> np.ndarray:
    """(len(rows), n_classes) float32 logits, the model in eval mode."""
    model.eval()
    parts = []
    for start in range(0, len(rows), batch_size):
        with autocast(rung.device):
            parts.append(rung.logits(model, rows[start:start + batch_size]).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, rung.n_classes), np.float32)


def weighted_loss(logits: np.ndarray, codes: np.ndarray, weights: torch.Tensor | None) -> float:
    """The class-weighted cross-entropy of logits against codes (inf where the logits are not finite)."""
    if not np.isfinite(logits).all():
        return float("inf")
    return float(nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(codes), weight=weights))


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return -(-n_rows // batch_size)
