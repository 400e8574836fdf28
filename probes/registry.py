"""The probes by name: each is one ProbeSpec in its own module of probes/ (how it fits, its grid,
what it reads, the model it saves, its scikit-learn reference), and one line here registers it.

Naming the probes imports nothing: options and the CLI's choices ask for probe_names() without
loading scikit-learn, and a spec's module is imported when the spec is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from layerprobe.errors import UserError

if TYPE_CHECKING:
    from layerprobe.probes.spec import ProbeSpec

# fast: the probe's own solver; reference: the scikit-learn fit that solver is tested against.
SOLVERS = ("fast", "reference")


@dataclass(frozen=True)
class Registration:
    """Where a probe's spec lives (module, attribute), and whether `--classifier all` runs it."""

    module: str
    attribute: str
    in_all: bool = True


_PROBES = {
    "logreg": Registration("layerprobe.probes.logreg", "LOGREG"),
    "linear-svm": Registration("layerprobe.probes.linear_svm", "LINEAR_SVM"),
    "ridge": Registration("layerprobe.probes.ridge", "RIDGE"),
    # 20x logreg's time at FSDD size (probes/mlp.py): asked for by name.
    "mlp": Registration("layerprobe.probes.mlp", "MLP", in_all=False),
    # Reads every chosen layer at once (one record, layer "all"), not one per layer as the probes `all`
    # stands for, and costs about a nested logreg sweep of its own: asked for by name. Nor is it a
    # baseline classifier (a hand-made feature has no layers to weigh).
    "weighted-sum": Registration("layerprobe.probes.weighted_sum", "WEIGHTED_SUM", in_all=False),
}


def probe_names() -> list[str]:
    """Every registered probe, in the order records list them."""
    return list(_PROBES)


def all_probe_names() -> list[str]:
    """The probes `--classifier all` stands for."""
    return [name for name, registration in _PROBES.items() if registration.in_all]


def probe_spec(name: str, *, solver: str = "fast") -> ProbeSpec:
    """The spec registered as `name`, run by its own solver ("fast", default) or by its scikit-learn
    reference ("reference"; a probe fitted by scikit-learn is its own)."""
    if name not in _PROBES:
        raise UserError(f"unknown classifier {name!r}; choose from {', '.join(_PROBES)}, all")
    if solver not in SOLVERS:
        raise UserError(f"unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
    registration = _PROBES[name]
    spec = getattr(import_module(registration.module), registration.attribute)
    return (spec.reference or spec) if solver == "reference" else spec
