"""The cache's encoder, loaded again by extract's Encoder (every layer, eval mode, the padding guard that keeps
batches exact) and checked to hold the very weights the cache was made with (its fingerprint)."""
from __future__ import annotations

from layerprobe.errors import UserError
from layerprobe.extract.encoder import Encoder


def load_encoder(model: str | None, attrs: dict, device: str) -> Encoder:
    """The encoder `model` (None: the cache's own `model` attribute) on `device` ("auto", "cpu", "cuda"); a
    UserError when its fingerprint is not the cache's `model_fingerprint`."""
    recorded = str(attrs.get("model_fingerprint", "") or "")
    if not recorded:
        raise UserError("the cache records no model_fingerprint, so the encoder cannot be checked: re-extract it "
                        "with a current extract-embeddings")
    model_id = model or str(attrs.get("model", ""))
    encoder = Encoder(model_id, None, device=device)
    if encoder.info.fingerprint != recorded:
        raise UserError(f"--model {model_id} is not the cache's encoder: its fingerprint {encoder.info.fingerprint[:12]} "
                        f"differs from the cache's {recorded[:12]}")
    return encoder
