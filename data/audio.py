"""Decode any clip to mono float32 at the encoder's rate, or say why it cannot be used."""
from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import re
import stat
from collections.abc import Iterator

import numpy as np
import soundfile as sf
import soxr

from layerprobe.data.clips import AudioSource

# libsndfile silently shortens a WAV/AIFF/AU whose data chunk is cut mid-way to the frames that
# are present, and only logs the header's claim, e.g. "data : 32000 (should be 15978)".
_SHORT_DATA_CHUNK = re.compile(r"^\s*(?:data|SSND|Data Size)\s*:\s*(\d+) \(should be (\d+)\)", re.M)
# Streaming writers (ffmpeg to a pipe, some recorders) leave the data size at 0xFFFFFFFF:
# an unknown length, not a truncation.
_UNKNOWN_LENGTH = 0xFFFFFFFF
# Sample rates of real recordings; a header outside says something false (a forged 1 Hz header
# turns 400 KB into 55 hours of audio).
MIN_RATE, MAX_RATE = 1_000, 768_000
MAX_SECONDS = 4 * 3600.0  # a bound on one clip's decoded length: longer is a broken header, not speech
BLOCK_FRAMES = 1 << 18  # frames decoded at a time: 2 MB of stereo float32


class ClipError(Exception):
    """A clip that cannot be used; the run records it as failed and goes on.

    reason: short category for the end-of-run summary ("unreadable", "empty", "truncated",
    "corrupt", "non-finite", "too-short", "bad-rate", "too-long", "out-of-memory"); detail: what
    exactly is wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(
    source: AudioSource,
    sample_rate: int,
    min_samples: int = 0,
    pad_short: bool = False,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:
    """Mono (mean of channels) float32 audio at sample_rate.

    Raises ClipError. Clips shorter than min_samples at sample_rate raise ClipError("too-short")
    unless pad_short, which zero-pads them at the end to min_samples. A clip longer than
    max_seconds (default 4 h), or whose header claims a rate outside 1-768 kHz, raises ClipError
    before it is decoded. No gain or mean normalization: the model's feature extractor does that.
    The file is decoded, mixed and resampled in blocks, so memory holds the result and one block.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    try:
        with _checked(source, max_seconds) as file:
            audio = _Growing(math.ceil(file.frames * sample_rate / file.samplerate) + 1)
            for block in _decode_blocks(file, sample_rate, max_seconds):
                audio.extend(block)
    except MemoryError:
        raise ClipError("out-of-memory", "decoding this clip needs more memory than there is") from None
    return _fit_length(audio.values(), sample_rate, min_samples, pad_short)


def audio_blocks(source: AudioSource, sample_rate: int, max_seconds: float = MAX_SECONDS) -> Iterator[np.ndarray]:
    """The clip's audio as decode() gives it, mono float32 at sample_rate, a block at a time, so
    that a clip of any length can be read in little memory. Raises decode()'s ClipErrors; the
    checks of the whole file (truncated, empty, non-finite) come after the last block."""
    with _checked(source, max_seconds) as file:
        yield from _decode_blocks(file, sample_rate, max_seconds)


def header_duration(source: AudioSource) -> float:
    """Seconds from the file header only (fast, no decoding); nan if unreadable or not a regular
    file (a FIFO would block the run until something writes into it)."""
    try:
        info = sf.info(_open(source))
    except Exception:  # any failure means "unknown"; decode() reports the reason later
        return math.nan
    return info.frames / info.samplerate if info.samplerate else math.nan


def _open(source: AudioSource) -> str | io.BytesIO:
    """The source opened, once its path is known to be a regular file that is not empty: a FIFO,
    device or socket is refused before it is opened (opening a FIFO waits for a writer), and a
    missing file, a directory and a symlink loop are each named for what they are."""
    try:
        opened = source.open()
    except OSError as error:
        raise ClipError("unreadable", str(error)) from error
    if isinstance(opened, io.BytesIO):
        size = opened.getbuffer().nbytes
    else:
        size = _regular_file_size(opened)
    if size == 0:
        raise ClipError("empty", "the file is 0 bytes")
    return opened


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _regular_file_size(path: str) -> int:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        broken = os.path.islink(path)
        raise ClipError("unreadable", f"{'a symlink to a missing file' if broken else 'file not found'}: {path}") from None
    except OSError as error:
        cause = "symlink loop" if error.errno == errno.ELOOP else os.strerror(error.errno) if error.errno else str(error)
        raise ClipError("unreadable", f"{cause}: {path}") from None
    if not stat.S_ISREG(found.st_mode):
        kind = next((name for test, name in _KINDS if test(found.st_mode)), "not a file")
        raise ClipError("unreadable", f"not a regular file: {path} is {kind}")
    return found.st_size


@contextlib.contextmanager
def _checked(source: AudioSource, max_seconds: float) -> Iterator[sf.SoundFile]:
    """The file opened for decoding, once its header says a plausible rate and length."""
    opened = _open(source)
    try:
        with sf.SoundFile(opened) as file:
            _check_data_chunk(file.extra_info)
            if not MIN_RATE <= file.samplerate <= MAX_RATE:
                raise ClipError("bad-rate", f"the header says {file.samplerate} Hz, outside {MIN_RATE}-{MAX_RATE} Hz")
            if file.frames > max_seconds * file.samplerate:
                raise ClipError("too-long", f"{file.frames / file.samplerate:.0f} s by its header, "
                                            f"above --max-seconds {max_seconds:g}")
            yield file
    except (sf.SoundFileError, RuntimeError, OSError) as error:
        raise ClipError("unreadable", str(error)) from error


def _decode_blocks(file: sf.SoundFile, sample_rate: int, max_seconds: float) -> Iterator[np.ndarray]:
    """Mono blocks at sample_rate; checks the file is whole and finite once all is read."""
    declared, rate = file.frames, file.samplerate
    limit = int(max_seconds * rate)
    resampler = _resampler(rate, sample_rate)
    decoded = non_finite = 0
    while True:
        try:
            # One frame past the limit tells a too-long clip whose header understates it.
            block = file.read(min(BLOCK_FRAMES, limit + 1 - decoded), dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as error:
            raise ClipError("corrupt", f"decoding failed part-way: {error}") from error
        if len(block) == 0:
            break
        decoded += len(block)
        if decoded > limit:
            raise ClipError("too-long", f"more than --max-seconds {max_seconds:g} decoded")
        non_finite += len(block) - int(np.isfinite(block).all(axis=1).sum())
        mono = block.mean(axis=1, dtype=np.float32)
        yield resampler.resample_chunk(mono) if resampler else mono
    if decoded < declared:
        # e.g. a cut MP3: the header promises more frames than the decoder finds.
        raise ClipError("truncated", f"header declares {declared} frames, only {decoded} decoded")
    if decoded == 0:
        raise ClipError("empty", "the file holds 0 audio frames")
    if non_finite:
        raise ClipError("non-finite", f"{non_finite} of {decoded} frames hold NaN or infinity")
    if resampler:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


class _Growing:
    """A float32 array filled block by block, allocated once at the expected length."""

    def __init__(self, expected: int) -> None:
        self._array = np.empty(expected, dtype=np.float32)
        self._filled = 0

    def extend(self, block: np.ndarray) -> None:
        end = self._filled + len(block)
        if end > len(self._array):  # the header understated the length
            self._array = np.resize(self._array, max(end, 2 * len(self._array)))
        self._array[self._filled:end] = block
        self._filled = end

    def values(self) -> np.ndarray:
        return self._array[: self._filled]


def _resampler(rate: int, sample_rate: int) -> soxr.ResampleStream | None:
    if rate == sample_rate:
        return None
    try:
        # VHQ (linear phase, 28-bit precision): resampling must not be a source of differences
        # between datasets recorded at different rates; its cost is negligible next to the encoder.
        return soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="VHQ")
    except (ValueError, RuntimeError) as error:
        raise ClipError("unreadable", f"cannot resample {rate} Hz to {sample_rate} Hz: {error}") from error


def _check_data_chunk(extra_info: str) -> None:
    for declared, present in _SHORT_DATA_CHUNK.findall(extra_info):
        if int(present) < int(declared) != _UNKNOWN_LENGTH:
            raise ClipError(
                "truncated", f"data chunk declares {declared} bytes, the file holds {present}"
            )


def _fit_length(audio: np.ndarray, sample_rate: int, min_samples: int, pad_short: bool) -> np.ndarray:
    if len(audio) == 0:
        raise ClipError("too-short", f"nothing left after resampling to {sample_rate} Hz")
    if len(audio) >= min_samples:
        return audio
    if pad_short:
        return np.pad(audio, (0, min_samples - len(audio)))
    raise ClipError(
        "too-short",
        f"{len(audio)} samples ({len(audio) / sample_rate:.3f} s) at {sample_rate} Hz, need {min_samples}",
    )
