"""What each stage's registry holds, asked where options are validated: the commands and the API.

An option declares the registry its values come from (`Registered("classifier")` in
layerprobe.options); `known(key)` reads the names that registry publishes, importing its stage
only then (scikit-learn takes seconds to import, so `import layerprobe` stays light). The stages
never import this module, nor options.py a stage.
"""
from __future__ import annotations

import functools
from collections.abc import Callable


def _protocols() -> tuple[str, ...]:
    from layerprobe.probes.protocols import PROTOCOLS

    return ("auto", *PROTOCOLS)  # auto: the protocol chosen from the data (probes.protocols.outer_folds)


def _refits() -> tuple[str, ...]:
    from layerprobe.probes.protocols import REFITS

    return tuple(REFITS)


def _class_weights() -> tuple[str, ...]:
    from layerprobe.probes.spec import CLASS_WEIGHTS

    return tuple(CLASS_WEIGHTS)


def _classifiers() -> tuple[str, ...]:
    from layerprobe.probes.registry import probe_names  # names only: no probe's module is imported

    return tuple(probe_names())


def _classifiers_in_all() -> tuple[str, ...]:
    from layerprobe.probes.registry import all_probe_names

    return tuple(all_probe_names())  # mlp is asked for by name


def _solvers() -> tuple[str, ...]:
    from layerprobe.probes.registry import SOLVERS

    return tuple(SOLVERS)


def _baseline_classifiers() -> tuple[str, ...]:
    from layerprobe.baselines.classifiers import BASELINE_CLASSIFIERS

    return tuple(BASELINE_CLASSIFIERS)


def _poolings() -> tuple[str, ...]:
    from layerprobe.extract.pooling import POOLINGS  # no torch: only the names

    return tuple(POOLINGS)


def _engines() -> tuple[str, ...]:
    from layerprobe.extract.engines import ENGINES  # no torch, no Ray: the engines' classes only

    return tuple(ENGINES)


def _rungs() -> tuple[str, ...]:
    from layerprobe.finetune.registry import rung_names  # no torch: only the names

    return tuple(rung_names())


REGISTRIES: dict[str, Callable[[], tuple[str, ...]]] = {
    "protocol": _protocols,
    "refit": _refits,
    "class weight": _class_weights,
    "classifier": _classifiers,
    "classifier in all": _classifiers_in_all,
    "solver": _solvers,
    "baseline classifier": _baseline_classifiers,
    "pooling": _poolings,
    "engine": _engines,
    "rung": _rungs,
}


@functools.cache
def known(registry: str) -> tuple[str, ...]:
    """The names the registry `registry` publishes (a key of REGISTRIES), in its order."""
    return REGISTRIES[registry]()
