"""layerprobe: does a frozen speech encoder already separate my labels, and at which layer?

The stages, for notebooks (the CLI is a thin layer over these):
    layerprobe.extract(data, out, model=..., layers=None, ...)  -> run summary; the cache at `out`
    layerprobe.probe(cache, layers="all", ...)                  -> DataFrame, one row per layer x classifier
    layerprobe.baselines(cache, features=("mfcc",), ...)        -> DataFrame, one row per feature x classifier
    layerprobe.run(data, out, model=..., ...)                   -> the report's files
    layerprobe.load_cache(path)                                 -> embeddings and clip metadata
Importing this package stays light (no torch): the probe stage runs where torch is absent.
"""
from __future__ import annotations

import os

from layerprobe import baselines, extract

__version__ = "0.1.0"
__all__ = ["extract", "probe", "baselines", "run", "load_cache"]


def probe(cache: str | os.PathLike, **options):
    """Linear probes on a cache's layers -> pandas DataFrame (see layerprobe.probes.sweep.probe for options)."""
    from layerprobe.probes.sweep import probe as sweep_records
    from layerprobe.probes.sweep import records_frame

    return records_frame(sweep_records(cache, **options))


def run(data: str | os.PathLike, out: str | os.PathLike, **options):
    """Every stage from audio to report (see layerprobe.pipeline.run for options)."""
    from layerprobe.pipeline import run as run_pipeline

    return run_pipeline(str(data), str(out), **options)


def load_cache(path: str | os.PathLike):
    """Every ok clip's metadata and embeddings, in memory (see layerprobe.data.loaded.LoadedCache)."""
    from layerprobe.data.loaded import load

    return load(path)
