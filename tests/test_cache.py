"""The HDF5 cache: contract names, resume, append, refusal of other settings, the writer lock."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from layerprobe.data.cache import CacheWriter, Settings
from layerprobe.errors import UserError


def clips(*ids: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=i, path=f"{i}.wav", label=i[0], group="g", split="") for i in ids]


def settings(**changes) -> Settings:
    base = dict(model="m", model_revision="", model_fingerprint="abc", model_type="wav2vec2", sample_rate=16000,
                layers=(0, 1, 2), hidden_size=4, dtype="float32", chunk_seconds=30.0, pad_short=False)
    return Settings(**{**base, **changes})


def test_new_cache_follows_the_contract(tmp_path):
    path = tmp_path / "c.h5"
    with CacheWriter(path, clips("a1", "b1", "a2"), settings()) as cache:
        assert cache.pending().tolist() == [0, 1, 2]
        cache.write_ok(np.array([2, 0]), {"mean": np.arange(24, dtype=np.float32).reshape(2, 3, 4)}, np.array([1.5, 2.5]))
        cache.write_failed(1, "unreadable: not audio", float("nan"))
    with h5py.File(path, "r") as f:
        assert f.attrs["layerprobe_format"] == 1 and f.attrs["pooling"] == "mean"
        assert f.attrs["layers"].tolist() == [0, 1, 2]
        assert sorted(f["layers"]) == ["00", "01", "02"]
        assert f["clips/id"].asstr()[()].tolist() == ["a1", "b1", "a2"]
        assert f["clips/label"].asstr()[()].tolist() == ["a", "b", "a"]
        assert f["clips/status"].asstr()[()].tolist() == ["ok", "failed", "ok"]
        assert f["clips/error"].asstr()[()].tolist() == ["", "unreadable: not audio", ""]
        np.testing.assert_array_equal(f["layers/01"][2], [4, 5, 6, 7])  # rows were given in order 2, 0
        np.testing.assert_array_equal(f["layers/01"][0], [16, 17, 18, 19])
        assert f["clips/duration"][0] == pytest.approx(2.5)


def test_resume_keeps_finished_rows_and_appends_new_clips(tmp_path):
    path = tmp_path / "c.h5"
    with CacheWriter(path, clips("a1", "b1"), settings()) as cache:
        cache.write_ok(np.array([0]), {"mean": np.ones((1, 3, 4), np.float32)}, np.array([1.0]))
    with CacheWriter(path, clips("a1", "b1", "c1"), settings()) as cache:
        assert cache.pending().tolist() == [1, 2]
        assert cache.ids.tolist() == ["a1", "b1", "c1"]
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["layers/02"][0], np.ones(4))
        assert f["clips/status"].asstr()[()].tolist() == ["ok", "pending", "pending"]


def test_clips_missing_from_the_manifest_stay_and_are_counted(tmp_path):
    path = tmp_path / "c.h5"
    CacheWriter(path, clips("a1", "b1"), settings()).close()
    with CacheWriter(path, clips("b1"), settings()) as cache:
        assert cache.unlisted == 1 and cache.ids.tolist() == ["a1", "b1"]


@pytest.mark.parametrize("change", [{"model_fingerprint": "zzz"}, {"sample_rate": 8000}, {"layers": (0, 1)},
                                    {"dtype": "bfloat16"}])
def test_other_settings_are_refused_unless_overwrite(tmp_path, change):
    path = tmp_path / "c.h5"
    CacheWriter(path, clips("a1"), settings()).close()
    key = next(iter(change))
    with pytest.raises(UserError, match=f"other settings: {key}"):
        CacheWriter(path, clips("a1"), settings(**change))
    CacheWriter(path, clips("a1"), settings(**change), overwrite=True).close()
    with h5py.File(path, "r") as f:
        assert np.array_equal(f.attrs[key], np.asarray(change[key]))


def test_a_file_that_is_not_a_cache_is_refused(tmp_path):
    path = tmp_path / "c.h5"
    path.write_text("hello")
    with pytest.raises(UserError, match="not an HDF5 file"):
        CacheWriter(path, clips("a1"), settings())
    with h5py.File(path, "w") as f:
        f["x"] = 1
    with pytest.raises(UserError, match="not a layerprobe cache"):
        CacheWriter(path, clips("a1"), settings())


def test_a_cache_where_no_file_can_be_made_says_so_not_that_another_process_writes_it():
    with pytest.raises(UserError, match=r"^cannot write /proc/x.h5.lock: No such file or directory \(/proc is a folder "
                                        "that takes no new files\)$"):
        CacheWriter(Path("/proc/x.h5"), clips("a1"), settings())


def test_a_second_writer_is_refused(tmp_path):
    path = tmp_path / "c.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, filelock; l = filelock.FileLock(sys.argv[1] + '.lock'); l.acquire(); "
         "print('held', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match="being written by another process"):
            CacheWriter(path, clips("a1"), settings())
    finally:
        holder.kill()
        holder.wait()
    CacheWriter(path, clips("a1"), settings()).close()  # the lock died with its holder


def test_features_are_added_resumed_and_refused_when_computed_otherwise(tmp_path):
    from layerprobe.data.feature_writer import FeatureWriter

    path = tmp_path / "c.h5"
    with CacheWriter(path, clips("a1", "b1", "a2"), settings()) as cache:
        cache.write_ok(np.array([0]), {"mean": np.ones((1, 3, 4), np.float32)}, np.array([1.0]))
    with FeatureWriter(path, "mfcc", 5, {"n_mfcc": 40}) as features:
        assert features.pending().tolist() == [0, 1, 2]
        features.write_ok(np.array([2, 0]), np.array([[2.0] * 5, [0.0] * 5], np.float32))
        features.write_failed(1, "unreadable: x")
    with FeatureWriter(path, "mfcc", 5, {"n_mfcc": 40}) as features:
        assert features.pending().tolist() == [1]
    with pytest.raises(UserError, match="computed with"):
        FeatureWriter(path, "mfcc", 5, {"n_mfcc": 20})
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["features/mfcc"][2], [2.0] * 5)
        assert f["features/mfcc"].attrs["n_mfcc"] == 40
        assert f["feature_status/mfcc"].asstr()[()].tolist() == ["ok", "failed", "ok"]
        np.testing.assert_array_equal(f["layers/00"][0], np.ones(4))  # the embeddings survived the copy
    with FeatureWriter(path, "mfcc", 3, {"n_mfcc": 20}, overwrite=True) as features:
        assert features.pending().tolist() == [0, 1, 2]
    with h5py.File(path, "r") as f:
        assert f["features/mfcc"].shape == (3, 3) and f["features/mfcc"].attrs["n_mfcc"] == 20


def test_clips_appended_after_a_feature_have_it_pending(tmp_path):
    from layerprobe.data.feature_writer import FeatureWriter

    path = tmp_path / "c.h5"
    CacheWriter(path, clips("a1"), settings()).close()
    with FeatureWriter(path, "mfcc", 2, {}) as features:
        features.write_ok(np.array([0]), np.ones((1, 2), np.float32))
    CacheWriter(path, clips("a1", "b1", "c1"), settings()).close()
    with h5py.File(path, "r") as f:
        assert f["feature_status/mfcc"].asstr()[()].tolist() == ["ok", "pending", "pending"]
