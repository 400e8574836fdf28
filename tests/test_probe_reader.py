import h5py
import numpy as np
import pytest
from conftest import write_probe_cache

from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError


def _cache_with_failed_rows(tmp_path):
    layer = np.arange(12, dtype=np.float32).reshape(6, 2)
    layer[[1, 4]] = np.nan  # failed rows hold garbage; they must never be read as data
    return write_probe_cache(
        tmp_path / "c.h5", {0: layer, 7: layer * 2}, labels=list("aabbab"), groups=["s1", "s1", "s2", "s2", "s3", "s3"],
        status=["ok", "failed", "ok", "ok", "pending", "ok"], features={"mfcc": layer[:, :1]})


def test_only_ok_rows_are_visible(tmp_path):
    with CacheReader(_cache_with_failed_rows(tmp_path)) as reader:
        assert reader.clips["id"].tolist() == ["clip0000.wav", "clip0002.wav", "clip0003.wav", "clip0005.wav"]
        assert reader.clips["label"].tolist() == ["a", "b", "b", "b"]
        assert reader.clips["group"].tolist() == ["s1", "s2", "s2", "s3"]
        assert reader.layers == [0, 7]
        np.testing.assert_array_equal(reader.layer(7), np.array([[0, 2], [8, 10], [12, 14], [20, 22]], dtype=np.float32))
        assert reader.layer(0).dtype == np.float32
        np.testing.assert_array_equal(reader.feature("mfcc")[:, 0], [0, 4, 6, 10])
        assert reader.attrs["model"] == "synthetic/encoder"


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.h5", "cache not found"),
    (lambda p: (p / "text.h5").write_text("hello") and p / "text.h5", "not an HDF5 file"),
    (lambda p: h5py.File(p / "plain.h5", "w").close() or p / "plain.h5", "not a layerprobe cache"),
    (lambda p: write_probe_cache(p / "none_ok.h5", {0: np.zeros((2, 2))}, ["a", "b"], status=["failed", "pending"]),
     "no clip has status 'ok'"),
])
def test_unreadable_caches_are_user_errors(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        CacheReader(make(tmp_path))


def test_unknown_layer_and_feature_name_what_is_stored(tmp_path):
    with CacheReader(_cache_with_failed_rows(tmp_path)) as reader:
        with pytest.raises(UserError, match=r"layer 3 is not in the cache; stored layers: 0,7"):
            reader.layer(3)
        with pytest.raises(UserError, match=r"feature 'wavlm' .* \['mfcc'\]"):
            reader.feature("wavlm")


def test_nan_in_an_ok_row_is_reported(tmp_path):
    layer = np.zeros((3, 2))
    layer[0, 1] = np.nan
    path = write_probe_cache(tmp_path / "nan.h5", {0: layer}, ["a", "b", "a"])
    with pytest.raises(UserError, match="layers/00 has NaN or infinity in 1 of its 3 ok rows"), CacheReader(path) as reader:
        reader.layer(0)
