"""layerprobe: does a frozen speech encoder already separate my labels, and at which layer?

The stages, for notebooks (the CLI is a thin layer over these; see each function's help):
    layerprobe.extract_embeddings(data, out, *, model=..., layers="all", ...)  -> run summary; the cache at `out`
    layerprobe.probe(cache, *, layers="all", cv="auto", ...)        -> DataFrame, one row per layer x classifier
    layerprobe.run_baselines(cache, *, features=("mfcc",), cv="auto", ...) -> DataFrame, one row per feature x classifier
    layerprobe.run(data, out, *, model=..., ...)                    -> the report's files
    layerprobe.compare([cache_or_run, ...], out, *, cv="auto", ...)  -> encoders on one set of folds, CKA
    layerprobe.run_finetune(cache_or_run, out, *, rungs=..., ...)   -> one record per rung of the ladder
    layerprobe.load_cache(path)                                     -> embeddings and clip metadata
Importing this package stays light (no torch): the probe stage runs where torch is absent. The
baselines function is run_baselines, so that it never shadows the subpackage layerprobe.baselines
(and the ladder's is run_finetune, beside layerprobe.finetune).
"""
from __future__ import annotations

__all__ = ["extract_embeddings", "probe", "run_baselines", "run", "compare", "run_finetune", "load_cache"]

from layerprobe.api import compare, extract_embeddings, load_cache, probe, run, run_baselines, run_finetune
from layerprobe.version import __version__ as __version__
