"""The labelled clips' audio, decoded as the encoder reads it: found again through the cache's `data` and
`columns` attributes (the manifest it was made from, matched by clip id), else at clips/path; mono at the
model's rate, normalized as its feature extractor would."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from layerprobe.data.audio import ClipError, decode
from layerprobe.data.clips import FileSource
from layerprobe.data.columns import ColumnChoice
from layerprobe.data.manifest import load_manifest
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.extract.encoder import Encoder


def decoded_clips(cache: str, rows: np.ndarray, encoder: Encoder, *, progress: bool = False) -> list[np.ndarray]:
    """Each labelled ok clip's waveform (rows: positions among the cache's ok clips), float32, normalized."""
    with CacheReader(cache) as reader:
        clips = reader.clips.iloc[rows]
        data = str(reader.attrs.get("data", ""))
        columns = ColumnChoice.from_attr(reader.attrs.get("columns"), cache)
    sources = {clip.id: clip.source for clip in load_manifest(data, **columns.manifest_kwargs()).clips} if data else {}
    waves = []
    for clip_id, path in tqdm(list(zip(clips["id"], clips["path"])), desc="decoding clips", unit="clip",
                              disable=not progress):
        try:
            wave = decode(sources.get(clip_id, FileSource(path)), encoder.info.sample_rate,
                          encoder.info.receptive_field, pad_short=True)
        except ClipError as error:
            raise UserError(f"clip {clip_id}: {error} (the audio changed since the cache was made?)") from None
        waves.append(encoder.normalize(wave))
    return waves
