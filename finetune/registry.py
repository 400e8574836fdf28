"""The rungs by name: each is a Rung subclass in its own module of finetune/ (which parameters train, what is
computed once per clip, the forward from clips to logits), and one line here registers it.

Naming the rungs imports nothing: the options ask for rung_names() without loading torch.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from layerprobe.errors import UserError

if TYPE_CHECKING:
    from layerprobe.finetune.rung import Rung

# name -> (module, class), in the ladder's order: fewest trainable parameters first.
_RUNGS = {
    "frozen-head": ("layerprobe.finetune.frozen_head", "FrozenHead"),
    "top-k": ("layerprobe.finetune.top_k", "TopK"),
    "lora": ("layerprobe.finetune.lora", "Lora"),
    "full": ("layerprobe.finetune.full", "Full"),
}


def rung_names() -> list[str]:
    """Every registered rung, in the ladder's order."""
    return list(_RUNGS)


def rung_class(name: str) -> type[Rung]:
    """The Rung subclass registered as `name`."""
    if name not in _RUNGS:
        raise UserError(f"unknown rung {name!r}; choose from {', '.join(_RUNGS)}, all")
    module, attribute = _RUNGS[name]
    return getattr(import_module(module), attribute)
