"""librosa's centred STFT frames of a signal that arrives in blocks, cut into overlapping segments.

librosa frames a clip with center=True: the signal is zero-padded by n_fft // 2 on each side and
frame t starts at sample t * hop of the padded signal, 1 + len // hop frames in all. A segment
here is a stretch of that padded signal which, framed with center=False, gives consecutive frames
of the whole clip exactly: its `lead` frames of context before and up to `context` after overlap
the neighbouring segments (so a filter spanning +-context frames, like the deltas, sees the same
neighbours as on the whole clip), and each frame is new in exactly one segment.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


def framed_segments(blocks: Iterable[np.ndarray], *, n_fft: int, hop: int, frames: int, context: int
                    ) -> Iterator[tuple[np.ndarray, int, int]]:
    """(samples, lead, count) for consecutive segments of the centred, padded signal in `blocks`.

    blocks: the clip's mono samples, in pieces of any size. frames: new frames per segment (the
    last has fewer). context: frames of overlap on each side. Framing `samples` with center=False
    gives frames first - lead .. first + count (+ up to `context`) of the clip, of which
    [lead, lead + count) are new: frame `first` follows the previous segment's last new frame.
    """
    pad = np.zeros(n_fft // 2, dtype=np.float32)
    held, first, new = pad, 0, 0  # held: padded samples from frame `first` on; `new`: next new frame

    def available() -> int:
        return 0 if len(held) < n_fft else 1 + (len(held) - n_fft) // hop

    for block in blocks:
        held = np.concatenate([held, block])
        while available() >= new - first + frames + context:
            end = new + frames + context
            yield held[:(end - 1 - first) * hop + n_fft], new - first, frames
            new += frames
            start = max(0, new - context)
            held, first = held[(start - first) * hop:], start
    held = np.concatenate([held, pad])
    total = first + available()
    if total > new:
        yield held[:(total - 1 - first) * hop + n_fft], new - first, total - new
