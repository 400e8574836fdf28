"""The probes as the sweep asks for them: by name (probes/registry.py), run by their fast solvers or
by the scikit-learn references those are tested against (same folds, same grid: same scores and the
same chosen C).
"""
from __future__ import annotations

from collections.abc import Sequence

from layerprobe.probes.grids import LINEAR_SVM_C_GRID, LOGREG_C_GRID
from layerprobe.probes.linear_svm import LINEAR_SVM_REFERENCE
from layerprobe.probes.logreg import LOGREG_REFERENCE
from layerprobe.probes.registry import all_probe_names, probe_spec
from layerprobe.probes.ridge import RIDGE_REFERENCE
from layerprobe.probes.spec import CLASS_WEIGHTS, ProbeSpec

__all__ = ["CLASS_WEIGHTS", "CLASSIFIERS", "LINEAR_SVM_C_GRID", "LINEAR_SVM_REFERENCE", "LOGREG_C_GRID",
           "LOGREG_REFERENCE", "RIDGE_REFERENCE", "classifier_specs"]

# The probes `--classifier all` runs, by their fast solvers (baselines run them on hand-made features too).
CLASSIFIERS: dict[str, ProbeSpec] = {name: probe_spec(name) for name in all_probe_names()}


def classifier_specs(choice: str | Sequence[str], *, solver: str = "fast") -> list[ProbeSpec]:
    """The specs for --classifier: "all" (default), a registered name, or a sequence of names;
    solver: "fast" (default) or "reference" (each probe's scikit-learn reference)."""
    chosen = all_probe_names() if choice == "all" else [choice] if isinstance(choice, str) else list(choice)
    return [probe_spec(name, solver=solver) for name in chosen]
