"""What a frozen part of the encoder hands on, per clip: the frames entering a module, captured by a hook on it
in one frozen forward (padding guard armed, so a padded batch gives each clip's own frames), the forward stopped
there. top-k stores what its first trained block receives, lora and full what the CNN feature encoder gives."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from layerprobe.extract.encoder import Encoder


# Clips per frozen forward while frames are stored.
BATCH = 8


class _Reached(Exception):
    """Raised by the hook once the frames are in hand: the rest of the model need not run."""


def frames_entering(encoder: Encoder, module: nn.Module, waves: list[np.ndarray]) -> list[np.ndarray]:
    """Each clip's real frames, float32 (frames_i, width), as `module` of `encoder`'s model receives them (its
    first argument, (batch, time, width))."""
    family = encoder.family
    captured = []

    def capture(_: nn.Module, args: tuple) -> None:
        captured.append(args[0].detach())
        raise _Reached

    handle = module.register_forward_pre_hook(capture)
    lengths = torch.tensor([len(wave) for wave in waves])
    try:
        with torch.inference_mode():
            family.hidden_states(family.inputs(waves, encoder.device), lengths)
    except _Reached:
        pass
    finally:
        handle.remove()
    frames = family.frames(lengths)
    return [captured[0][i, :n].float().cpu().numpy() for i, n in enumerate(frames.tolist())]


def batches_entering(encoder: Encoder, module: nn.Module, waves: list[np.ndarray], *, desc: str,
                     progress: bool) -> Iterator[list[np.ndarray]]:
    """frames_entering over `waves` in batches of BATCH clips, in order (what FrameStore.ensure fills from)."""
    for start in tqdm(range(0, len(waves), BATCH), desc=desc, unit="batch", disable=not progress):
        yield frames_entering(encoder, module, waves[start:start + BATCH])
