"""The cache grows without copying: an append writes a part for the new rows and a new index, never
the stored rows; a writer killed while growing leaves the cache as it was, and the next one completes it."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from layerprobe.data.cache import CacheWriter, Settings, open_cache
from layerprobe.data.feature_writer import FeatureWriter
from layerprobe.data.parts import parts_folder, read_parts
from layerprobe.errors import UserError

HIDDEN, LAYERS = 64, (0, 1, 2, 3, 4)


def clips(count: int, start: int = 0) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=f"spk{i % 7}/clip{i:06d}.wav", path=f"/data/spk{i % 7}/clip{i:06d}.wav",
                            label=f"label{i % 3}", group=f"spk{i % 7}", split="") for i in range(start, start + count)]


def settings(**changes) -> Settings:
    base = dict(model="m", model_revision="", model_fingerprint="abc", model_type="wav2vec2", sample_rate=16000,
                layers=LAYERS, hidden_size=HIDDEN, dtype="float32", chunk_seconds=30.0, pad_short=False)
    return Settings(**{**base, **changes})


def filled_cache(path, count: int) -> dict[str, np.ndarray]:
    """A cache of `count` clips, every row ok with random values; returns its layers."""
    rng = np.random.default_rng(count)
    values = rng.standard_normal((count, len(LAYERS), HIDDEN)).astype(np.float32)
    with CacheWriter(path, clips(count), settings()) as cache:
        cache.write_ok(np.arange(count), {"mean": values}, np.ones(count))
    return {f"layers/{i:02d}": values[:, position] for position, i in enumerate(LAYERS)}


def part_files(path) -> dict[str, tuple[int, int, str]]:
    """Each file in the cache's parts folder: (inode, size, hash of its bytes). Not its time: HDF5
    writes a file's superblock again, unchanged, when it closes a file opened for writing."""
    found = {}
    for part in sorted(parts_folder(path).iterdir()):
        found[part.name] = (part.stat().st_ino, part.stat().st_size, hashlib.blake2b(part.read_bytes()).hexdigest())
    return found


def append_cost(path, count: int, appended: int) -> tuple[int, int]:
    """Append `appended` clips to a cache of `count`; returns (bytes of the new part, bytes of the new index),
    after checking that no stored part was touched."""
    before = part_files(path)
    CacheWriter(path, clips(count + appended), settings()).close()
    after = part_files(path)
    assert {name: after[name] for name in before} == before  # the same file, the same bytes
    (new,) = set(after) - set(before)
    return (parts_folder(path) / new).stat().st_size, path.stat().st_size


def test_an_append_writes_bytes_in_proportion_to_the_appended_rows_not_to_the_cache(tmp_path):
    small, large = tmp_path / "small.h5", tmp_path / "large.h5"
    filled_cache(small, 200)
    stored = filled_cache(large, 4000)
    value_bytes = len(LAYERS) * HIDDEN * 4 + 4 + 8 + 256  # layers, duration, status, error

    part_small, index_small = append_cost(small, 200, 100)
    part_large, index_large = append_cost(large, 4000, 100)
    part_double, index_double = append_cost(large, 4100, 200)
    assert part_small == part_large  # the same 100 rows cost the same, whatever the cache holds
    per_row = (part_double - part_large) / 100
    assert value_bytes <= per_row <= value_bytes + 300  # their values and five short strings
    assert part_large - 100 * per_row < 64 * 1024  # plus a fixed cost
    # The index maps rows to parts: it grows with the number of parts, not of clips.
    assert abs(index_large - index_small) < 1024 and index_double - index_large < 16 * 1024

    with h5py.File(large, "r") as f:  # the contract's reading, through the index
        assert len(f["clips/status"]) == 4300 and f["layers/03"].shape == (4300, HIDDEN)
        np.testing.assert_array_equal(f["layers/03"][:4000], stored["layers/03"])
        assert (f["clips/status"][4000:] == b"pending").all() and (f["clips/status"][:4000] == b"ok").all()
        assert np.isnan(f["clips/duration"][4000:]).all()


def test_adding_a_feature_or_a_pooling_writes_only_its_own_part(tmp_path):
    path = tmp_path / "c.h5"
    stored = filled_cache(path, 300)
    before = part_files(path)
    with FeatureWriter(path, "mfcc", 10, {"n_mfcc": 10}) as features:
        features.write_ok(np.arange(300), np.ones((300, 10), np.float32))
    with CacheWriter(path, clips(300), settings(poolings=("mean", "max"))) as cache:
        assert cache.pending().tolist() == list(range(300))
    after = part_files(path)
    assert {name: after[name] for name in before} == before
    with h5py.File(path, "r") as f:
        new = [list(part.datasets) for part in read_parts(f)[1:]]
        assert new[0] == ["features/mfcc", "feature_status/mfcc", "feature_error/mfcc"]
        assert new[1] == [f"pooled/max/{i:02d}" for i in LAYERS] + ["pooled/max/status"]
        np.testing.assert_array_equal(f["layers/04"][()], stored["layers/04"])
        assert f["features/mfcc"].attrs["n_mfcc"] == 10 and (f["features/mfcc"][()] == 1).all()


def test_a_cache_written_whole_becomes_its_own_first_part_without_a_copy(tmp_path):
    path = tmp_path / "c.h5"
    stored = filled_cache(path, 50)
    # Rewrite it in the layout of earlier versions: one file, every dataset in it.
    with h5py.File(path, "r") as index, h5py.File(tmp_path / "whole.h5", "w") as whole:
        whole.attrs.update(index.attrs)
        for name in ("clips/id", "clips/path", "clips/label", "clips/group", "clips/split", "clips/duration",
                     "clips/status", "clips/error", *stored):
            whole.create_dataset(name, data=index[name][()], dtype=index[name].dtype)
    path.unlink()
    for part in parts_folder(path).iterdir():
        part.unlink()
    parts_folder(path).rmdir()
    (tmp_path / "whole.h5").rename(path)
    inode = path.stat().st_ino

    CacheWriter(path, clips(60), settings()).close()
    assert (parts_folder(path) / "part-000000.h5").stat().st_ino == inode  # a second name, not a copy
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["layers/02"][:50], stored["layers/02"])
        assert (f["clips/status"][50:] == b"pending").all() and len(f["clips/id"]) == 60


def test_a_missing_part_is_named_not_read_as_values(tmp_path):
    path = tmp_path / "c.h5"
    filled_cache(path, 20)
    CacheWriter(path, clips(30), settings()).close()
    (parts_folder(path) / "part-000001.h5").unlink()
    with pytest.raises(UserError, match=r"lacks 1 of its part files .* \(first: part-000001.h5\); a cache is the file and that folder"):
        open_cache(path)
    with h5py.File(path, "r") as f:  # plain h5py: the lost rows read as NaN, never as plausible values
        assert np.isnan(f["layers/00"][20:]).all()


# Dies (as kill -9 would: no cleanup, no flush) at the n-th file rename of a CacheWriter that
# appends 40 clips and the std pooling: renames 1-2 put the two new parts in place, 3 the index.
DIE_AT_RENAME = """
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
from test_cache_growth import clips, settings
from layerprobe.data.cache import CacheWriter
renames, die_at = [0], int(sys.argv[3])
real = os.replace
def replace(source, target):
    renames[0] += 1
    if renames[0] == die_at:
        os._exit(9)
    real(source, target)
os.replace = replace
CacheWriter(sys.argv[2], clips(100), settings(poolings=("mean", "std"))).close()
"""


@pytest.mark.parametrize("die_at", [1, 2, 3])
def test_a_writer_killed_while_the_cache_grows_leaves_it_as_it_was_and_the_next_one_completes_it(
        tmp_path, die_at):
    path = tmp_path / "c.h5"
    stored = filled_cache(path, 60)
    before = part_files(path)
    died = subprocess.run([sys.executable, "-c", DIE_AT_RENAME, __file__, str(path), str(die_at)],
                          capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    with open_cache(path) as f:  # the old index is the cache: its rows and values, nothing more
        assert len(f["clips/id"]) == 60 and (f["clips/status"][()] == b"ok").all() and "pooled" not in f
        np.testing.assert_array_equal(f["layers/01"][()], stored["layers/01"])
    assert set(part_files(path)) > set(before)  # what the killed writer left: a temporary or an unlisted part

    with CacheWriter(path, clips(100), settings(poolings=("mean", "std"))) as cache:
        assert cache.pending().tolist() == list(range(100))  # std for every row, all for the 40 new ones
    with h5py.File(path, "r") as f:
        listed = sorted(part.file for part in read_parts(f))
        assert sorted(part_files(path)) == listed  # the leftovers were removed
        np.testing.assert_array_equal(f["layers/01"][:60], stored["layers/01"])
        assert (f["pooled/std/status"][()] == b"pending").all() and len(f["clips/id"]) == 100


READ_WHILE_WRITTEN = """
import sys
import numpy as np
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
with CacheReader(sys.argv[1]) as reader:
    np.save(sys.argv[2], reader.layer(3))
    try:
        reader.layer(3, "std")
    except UserError as error:
        print(error)
"""


def test_the_cache_stays_readable_while_a_pooling_is_added(tmp_path):
    path = tmp_path / "c.h5"
    stored = filled_cache(path, 50)
    rng = np.random.default_rng(1)
    with CacheWriter(path, clips(50), settings(poolings=("mean", "std"))) as cache:
        spread = rng.standard_normal((10, len(LAYERS), HIDDEN)).astype(np.float32)
        cache.write_ok(np.arange(10), {"mean": spread, "std": spread}, np.ones(10))  # the mean is kept
        read = subprocess.run([sys.executable, "-c", READ_WHILE_WRITTEN, str(path), str(tmp_path / "mean.npy")],
                              capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "mean.npy"), stored["layers/03"])
    assert read.stdout.startswith("pooling std is missing for 40 of the 50 ok clips")
