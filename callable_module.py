"""Let a subpackage be called like the function it is named for: `layerprobe.extract(...)`.

The notebook API names (layerprobe.extract, layerprobe.baselines) are also subpackages; Python
binds a package's name to the subpackage as soon as it is imported, so a plain function of that
name in layerprobe/__init__.py would be replaced. A module whose class has __call__ is both.
"""
from __future__ import annotations

import sys
import types
from collections.abc import Callable


def make_callable(module_name: str, function: Callable[[], Callable]) -> None:
    """Calling the module `module_name` calls `function()(...)`; `function` imports lazily."""

    class CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return function()(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
