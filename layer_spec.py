"""The `--layers` / `--layer` syntax shared by every stage: all | N | N,M | N-M, combinable."""
from __future__ import annotations

from collections.abc import Iterable

from layerprobe.errors import UserError

# A cache names a layer with two digits (layers/NN); the largest encoders have 49 hidden states.
# Checked before a range is expanded: "0-400000000" would otherwise fill memory.
MAX_LAYER = 99


def parse_layers(text: str) -> list[int] | None:
    """"all" -> None (every layer); "0,3-5,12" -> [0, 3, 4, 5, 12]. Raises UserError on anything else."""
    text = text.strip().lower()
    if text == "all":
        return None
    layers: set[int] = set()
    try:
        for part in text.split(","):
            low, dash, high = part.strip().partition("-")
            first, last = int(low), int(high) if dash else int(low)  # an open range such as "1-" is an error
            if first < 0 or last < first:
                raise ValueError
            if last > MAX_LAYER:
                raise UserError(f"layers {_shown(text)}: layer {last} is beyond {MAX_LAYER}, the last a cache can "
                                "hold (layers/NN); encoders have at most a few dozen")
            layers.update(range(first, last + 1))
    except UserError:
        raise
    except ValueError:
        raise UserError(f"layers {_shown(text)}: use all, N, N,M or N-M (e.g. 0,6,12 or 3-9)") from None
    return sorted(layers)


def _shown(text: str) -> str:
    """The flag's value as a message quotes it, cut to a readable length."""
    return repr(text) if len(text) <= 60 else f"{text[:60]!r}..."


def format_layers(layers: Iterable[int]) -> str:
    """The inverse of parse_layers, for messages and reports: [0, 1, 2, 5] -> "0-2,5"; [] -> "none"."""
    runs: list[tuple[int, int]] = []
    for layer in sorted(layers):
        if runs and layer == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], layer)
        else:
            runs.append((layer, layer))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) or "none"
