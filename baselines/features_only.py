"""A cache of clips and hand-made features only, for `baselines DATA --out DIR` (no encoder run)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from layerprobe.baselines.features import SAMPLE_RATE
from layerprobe.data.cache import CacheWriter, Settings
from layerprobe.data.columns import ColumnChoice
from layerprobe.data.manifest import load_manifest
from layerprobe.data.speech_commands import ALL_CLASSES


def features_only_cache(data: str | os.PathLike, path: str | os.PathLike, path_column: str | None = None,
                        label_column: str | None = None, group_column: str | None = None,
                        split_column: str | None = None, split_lists: str | None = None,
                        speech_commands_classes: int = ALL_CLASSES) -> Path:
    """Create (or extend with new manifest clips) a cache at `path` listing DATA's clips, all pending.

    data: audio folder, manifest CSV/TSV, or saved Hugging Face dataset (as extract-embeddings).
    The column arguments name manifest columns (None: the defaults); split_lists and
    speech_commands_classes say how a Speech Commands folder is read (data.speech_commands). The model fields are empty and
    there are no layers, so compute_features decides each clip's status. A cache made by an
    encoder is refused (its settings differ).
    """
    manifest = load_manifest(data, path_column, label_column, group_column, split_column, split_lists=split_lists,
                             speech_commands_classes=speech_commands_classes)
    print(manifest.description, file=sys.stderr)
    settings = Settings(model="", model_revision="", model_fingerprint="", model_type="", sample_rate=SAMPLE_RATE,
                        layers=(), hidden_size=0, dtype="", chunk_seconds=0.0, pad_short=False,
                        data=str(Path(data).resolve()),
                        columns=ColumnChoice(path_column, label_column, group_column, split_column, split_lists,
                                             speech_commands_classes))
    with CacheWriter(path, manifest.clips, settings, others=manifest.others):
        pass
    return Path(path)
