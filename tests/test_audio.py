import io
import math
import struct

import numpy as np
import pytest
import soundfile as sf
from audio_files import (
    sine,
    write_header_only_wav,
    write_random_bytes,
    write_signal,
    write_text,
    write_tone,
    write_truncated,
    write_zero_bytes,
)

from layerprobe.data.audio import ClipError, decode, header_duration
from layerprobe.data.clips import FileSource

EDGE = 200  # resampling filters ring at the ends of a clip; compare the middle


def _file(path) -> FileSource:
    return FileSource(str(path))


def _reason(source, **kwargs) -> ClipError:
    with pytest.raises(ClipError) as caught:
        decode(source, 16000, **kwargs)
    return caught.value


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("target", [16000, 24000])
def test_resampled_sine_matches_the_analytic_sine_at_the_target_rate(tmp_path, rate, target):
    path = tmp_path / "tone.wav"
    write_tone(path, sample_rate=rate, duration=1.0, subtype="FLOAT")
    audio = decode(_file(path), target)
    expected = sine(target, target)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == target
    middle = slice(EDGE, -EDGE)
    assert np.corrcoef(audio[middle], expected[middle])[0, 1] > 0.9999
    assert np.max(np.abs(audio[middle] - expected[middle])) < 1e-3


@pytest.mark.parametrize(
    ("name", "subtype", "tolerance"),
    [
        ("a.wav", "PCM_U8", 1 / 64),
        ("a.wav", "PCM_16", 1e-4),
        ("a.wav", "PCM_24", 1e-6),
        ("a.wav", "PCM_32", 1e-6),
        ("a.wav", "FLOAT", 1e-7),
        ("a.wav", "DOUBLE", 1e-7),
        ("a.flac", "PCM_S8", 1 / 64),
        ("a.flac", "PCM_16", 1e-4),
        ("a.flac", "PCM_24", 1e-6),
    ],
)
def test_every_pcm_and_float_subtype_decodes_to_the_written_samples(tmp_path, name, subtype, tolerance):
    path = tmp_path / name
    written = write_tone(path, sample_rate=16000, subtype=subtype)
    audio = decode(_file(path), 16000)
    assert audio.dtype == np.float32
    np.testing.assert_allclose(audio, written[:, 0], atol=tolerance)


def test_ogg_vorbis_decodes_close_to_the_written_tone(tmp_path):
    path = tmp_path / "a.ogg"
    written = write_tone(path, sample_rate=16000, duration=1.0)
    audio = decode(_file(path), 16000)
    assert len(audio) == len(written)
    assert np.corrcoef(audio, written[:, 0])[0, 1] > 0.99


def test_mp3_decodes_where_libsndfile_reads_it(tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 support")
    path = tmp_path / "a.mp3"
    written = write_tone(path, sample_rate=16000, duration=1.0)
    audio = decode(_file(path), 16000)
    assert len(audio) == len(written)
    assert np.corrcoef(audio, written[:, 0])[0, 1] > 0.99


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channels_are_averaged_to_mono(tmp_path, channels):
    path = tmp_path / "a.wav"
    written = write_tone(path, channels=channels, subtype="FLOAT")
    audio = decode(_file(path), 16000)
    assert audio.shape == (len(written),)
    np.testing.assert_allclose(audio, written[:, 0], atol=1e-6)


def test_opposite_phase_stereo_averages_to_silence(tmp_path):
    path = tmp_path / "a.wav"
    tone = sine(8000, 16000)
    write_signal(path, np.stack([tone, -tone], axis=1), 16000, subtype="FLOAT")
    audio = decode(_file(path), 16000)
    assert np.abs(tone).max() > 0.4
    assert np.abs(audio).max() < 1e-6


def test_no_gain_or_offset_is_applied(tmp_path):
    path = tmp_path / "a.wav"
    write_signal(path, np.full(1600, 0.25), 16000, subtype="FLOAT")
    np.testing.assert_array_equal(decode(_file(path), 16000), np.full(1600, 0.25, dtype=np.float32))


def test_in_memory_bytes_decode_like_the_file(tmp_path):
    path = tmp_path / "a.flac"
    write_tone(path, sample_rate=8000)

    class Bytes:
        def open(self):
            return io.BytesIO(path.read_bytes())

    np.testing.assert_array_equal(decode(Bytes(), 16000), decode(_file(path), 16000))
    assert header_duration(Bytes()) == pytest.approx(0.5)


def test_a_missing_file_is_unreadable_and_named(tmp_path):
    error = _reason(_file(tmp_path / "gone.wav"))
    assert error.reason == "unreadable"
    assert error.detail == f"file not found: {tmp_path / 'gone.wav'}"
    assert str(error) == f"unreadable: {error.detail}"


@pytest.mark.parametrize("write", [write_random_bytes, write_text])
def test_bytes_that_are_not_audio_are_unreadable(tmp_path, write):
    path = tmp_path / "a.wav"
    write(path)
    assert _reason(_file(path)).reason == "unreadable"


def test_a_zero_byte_file_is_empty(tmp_path):
    write_zero_bytes(tmp_path / "a.wav")
    assert _reason(_file(tmp_path / "a.wav")).reason == "empty"


def test_a_header_only_wav_is_empty(tmp_path):
    write_header_only_wav(tmp_path / "a.wav")
    assert _reason(_file(tmp_path / "a.wav")).reason == "empty"


@pytest.mark.parametrize("keep_fraction", [0.02, 0.5, 0.99])
def test_a_wav_cut_mid_data_chunk_is_truncated(tmp_path, keep_fraction):
    path = tmp_path / "a.wav"
    write_truncated(path, keep_fraction, subtype="PCM_16")
    error = _reason(_file(path))
    assert error.reason == "truncated"
    assert "data chunk declares 16000 bytes" in error.detail


@pytest.mark.parametrize("name", ["a.aiff", "a.au"])
def test_aiff_and_au_cut_mid_data_are_truncated(tmp_path, name):
    write_truncated(tmp_path / name, 0.5, subtype="PCM_16")
    assert _reason(_file(tmp_path / name)).reason == "truncated"


def test_a_wav_of_unknown_length_from_a_stream_is_not_truncated(tmp_path):
    path = tmp_path / "a.wav"
    written = write_tone(path, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    size_at = data.find(b"data") + 4
    data[size_at : size_at + 4] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    np.testing.assert_allclose(decode(_file(path), 16000), written[:, 0], atol=1e-4)


def test_a_cut_mp3_is_truncated(tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 support")
    path = tmp_path / "a.mp3"
    write_truncated(path, 0.5, duration=1.0)
    assert _reason(_file(path)).reason == "truncated"


def test_a_cut_flac_is_corrupt(tmp_path):
    path = tmp_path / "a.flac"
    write_truncated(path, 0.5, duration=1.0, subtype="PCM_16")
    assert _reason(_file(path)).reason == "corrupt"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinity_in_a_float_wav_is_non_finite(tmp_path, bad):
    path = tmp_path / "a.wav"
    signal = np.stack([sine(1600, 16000)] * 2, axis=1)
    signal[800, 1] = bad
    write_signal(path, signal, 16000, subtype="FLOAT")
    error = _reason(_file(path))
    assert error.reason == "non-finite"
    assert error.detail.startswith("1 of 1600 frames")


def test_a_clip_shorter_than_min_samples_is_too_short(tmp_path):
    path = tmp_path / "a.wav"
    write_signal(path, sine(100, 16000), 16000, subtype="FLOAT")
    error = _reason(_file(path), min_samples=400)
    assert error.reason == "too-short"
    assert "100 samples" in error.detail
    assert len(decode(_file(path), 16000, min_samples=100)) == 100


def test_min_samples_counts_samples_at_the_target_rate(tmp_path):
    path = tmp_path / "a.wav"
    write_signal(path, sine(300, 48000), 48000, subtype="FLOAT")  # 100 samples at 16 kHz
    assert _reason(_file(path), min_samples=101).reason == "too-short"
    assert len(decode(_file(path), 16000, min_samples=100)) == 100


def test_pad_short_zero_pads_at_the_end(tmp_path):
    path = tmp_path / "a.wav"
    tone = sine(100, 16000)
    write_signal(path, tone, 16000, subtype="FLOAT")
    audio = decode(_file(path), 16000, min_samples=400, pad_short=True)
    assert audio.dtype == np.float32 and len(audio) == 400
    np.testing.assert_allclose(audio[:100], tone, atol=1e-7)
    assert not audio[100:].any()


@pytest.mark.parametrize(("name", "rate", "seconds"), [("a.wav", 22050, 0.5), ("a.flac", 8000, 1.25)])
def test_header_duration_is_frames_over_rate(tmp_path, name, rate, seconds):
    write_tone(tmp_path / name, sample_rate=rate, duration=seconds)
    assert header_duration(_file(tmp_path / name)) == pytest.approx(seconds)


def test_header_duration_is_nan_when_unreadable(tmp_path):
    write_text(tmp_path / "a.wav")
    assert math.isnan(header_duration(_file(tmp_path / "a.wav")))
    assert math.isnan(header_duration(_file(tmp_path / "gone.wav")))


def test_a_non_positive_target_rate_is_a_programming_error(tmp_path):
    write_tone(tmp_path / "a.wav")
    with pytest.raises(ValueError):
        decode(_file(tmp_path / "a.wav"), 0)

