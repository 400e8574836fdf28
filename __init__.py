"""layerprobe: does a frozen speech encoder already separate my labels, and at which layer?

The stages, for notebooks (the CLI is a thin layer over these; see each function's help):
    layerprobe.extract_embeddings(data, out, *, model=..., layers="all", ...)  -> run summary; the cache at `out`
    layerprobe.probe(cache, *, layers="all", cv="auto", ...)        -> DataFrame, one row per layer x classifier
    layerprobe.baselines(cache, *, features=("mfcc",), cv="auto", ...) -> DataFrame, one row per feature x classifier
    layerprobe.run(data, out, *, model=..., ...)                    -> the report's files
    layerprobe.load_cache(path)                                     -> embeddings and clip metadata
Importing this package stays light (no torch): the probe stage runs where torch is absent.
"""
from __future__ import annotations

import sys
import types

__version__ = "0.1.0"
__all__ = ["extract_embeddings", "probe", "baselines", "run", "load_cache"]


class _Package(types.ModuleType):
    """This package's module, which keeps its API functions when a subpackage of the same name loads.

    Importing layerprobe.baselines (the subpackage) makes Python's import system run
    `setattr(layerprobe, "baselines", <the subpackage>)`, which would replace the function
    layerprobe.baselines. The subpackage stays importable in the forms that read sys.modules:
    `from layerprobe.baselines.run import x`, `from layerprobe.baselines import run`, `import
    layerprobe.baselines.run`. Forms that walk attributes from this package find the function
    instead: `import layerprobe.baselines.run as r`, `layerprobe.baselines.run.x`, and pytest's
    monkeypatch.setattr("layerprobe.baselines.run.x", ...) (give it the module object).
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

from layerprobe.api import baselines, extract_embeddings, load_cache, probe, run  # noqa: E402
