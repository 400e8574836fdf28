"""A whole cache in memory, for notebooks: `layerprobe.load_cache(path)`."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerprobe.data.reader import CacheReader


@dataclass(frozen=True)
class LoadedCache:
    """The ok clips of a cache. Row i of every array is row i of `clips`.

    clips: id, path, label, group, split, duration. layers: hidden_states index -> (clips, hidden)
    float32. features: name -> (clips, F) float32. attrs: the cache's root attributes (model, ...).
    """

    clips: pd.DataFrame
    layers: dict[int, np.ndarray]
    features: dict[str, np.ndarray]
    attrs: dict


def load(path: str | os.PathLike) -> LoadedCache:
    """Read every layer and feature of the cache's ok clips."""
    with CacheReader(path) as reader:
        return LoadedCache(
            clips=reader.clips,
            layers={index: reader.layer(index) for index in reader.layers},
            features={name: reader.feature(name) for name in reader.features},
            attrs=reader.attrs,
        )
