"""A cache that breaks the contract is refused on open, in one line naming the dataset and what was
expected, by every opener; nothing is read from outside the cache and its parts folder."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from conftest import planted_data, write_probe_cache
from layerprobe.data.cache import CacheWriter, Settings, open_cache
from layerprobe.data.parts import Part, initial_value, read_parts, write_index
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.probes.cli import main as probe_main

N, DIM = 12, 4
TEXT = h5py.string_dtype()


@pytest.fixture
def plain(tmp_path):
    """A cache written whole with plain h5py, as a user or another tool writes one."""
    labels, groups, layers = planted_data(n_groups=2, per_cell=2, dim=DIM)
    return write_probe_cache(tmp_path / "c.h5", {0: layers[0], 1: layers[1]}, labels, groups)


def replace(name, values, dtype=None):
    def edit(f):
        del f[name]
        f.create_dataset(name, data=values, dtype=dtype)
    return edit


def outside(folder):
    with h5py.File(folder / "other.h5", "w") as other:
        other["x"] = np.zeros((N, DIM), np.float32)
    return str(folder / "other.h5")


def _folder(f):
    return Path(f.filename).parent


def external_link(f):
    del f["layers/01"]
    f["layers/01"] = h5py.ExternalLink(outside(_folder(f)), "x")


def external_storage(f):
    raw = _folder(f) / "raw.bin"
    raw.write_bytes(b"/etc/passwd\n" * N)
    del f["clips/id"]
    f.create_dataset("clips/id", shape=(N,), dtype="S12", external=[(str(raw), 0, 12 * N)])


def virtual(f):
    layout = h5py.VirtualLayout((N, DIM), np.float32)
    layout[:] = h5py.VirtualSource(outside(_folder(f)), "x", shape=(N, DIM))
    del f["layers/01"]
    f.create_virtual_dataset("layers/01", layout)


def set_rows(name, rows, value):
    def edit(f):
        for row in rows:
            f[name][row] = value
    return edit


def set_attr(key, value):
    def edit(f):
        f.attrs[key] = value
    return edit


MALFORMED = {
    "layers 1-D": (replace("layers/01", np.zeros(N, np.float32)),
                   r"layers/01 has shape \(12,\); expected \(clips, dims\), dims >= 1"),
    "layers 3-D": (replace("layers/01", np.zeros((N, 2, 3), np.float32)),
                   r"layers/01 has shape \(12, 2, 3\); expected \(clips, dims\)"),
    "layers of no dims": (replace("layers/01", np.zeros((N, 0), np.float32)), r"layers/01 has shape \(12, 0\)"),
    "layers of strings": (replace("layers/01", np.full((N, DIM), "a", dtype=object), TEXT),
                          "layers/01 holds text; expected float32 values"),
    "layers of ints": (replace("layers/01", np.zeros((N, DIM), np.int64)), "layers/01 holds int64; expected float32"),
    "layers a dataset": (lambda f: (f.__delitem__("layers"), f.create_dataset("layers", data=np.zeros(N))),
                         "layers is a dataset; expected a group"),
    "status int64": (replace("clips/status", np.zeros(N, np.int64)), "clips/status holds int64; expected text"),
    "status 2-D": (replace("clips/status", np.full((N, 2), b"ok")), r"clips/status has shape \(12, 2\); expected one per clip"),
    "status unknown": (set_rows("clips/status", [2, 5], b"done"),
                       "clips/status holds b'done' in 2 rows; expected ok, failed or pending"),
    "no label": (lambda f: f.__delitem__("clips/label"), "no dataset clips/label; a cache holds clips/id, "),
    "no status": (lambda f: f.__delitem__("clips/status"), "no dataset clips/status"),
    "no clips": (lambda f: f.__delitem__("clips"), "no dataset clips/id"),
    "label shorter": (replace("clips/label", np.array(["a"] * (N - 3), dtype=object), TEXT),
                      "damaged: clips/label has 9 rows, clips/status 12"),
    "layer longer": (replace("layers/00", np.zeros((N + 1, DIM), np.float32)), "layers/00 has 13 rows, clips/status 12"),
    "duration scalar": (replace("clips/duration", 1.0), r"clips/duration has shape \(\); expected one per clip"),
    "external link": (external_link, r"layers/01 is a link \(ExternalLink\); expected a dataset or group stored"),
    "soft link": (lambda f: (f.__delitem__("layers/01"), f.__setitem__("layers/01", h5py.SoftLink("/layers/00"))),
                  r"layers/01 is a link \(SoftLink\)"),
    "external storage": (external_storage, "clips/id is stored in an external file .*raw.bin.; expected its values"),
    "virtual dataset": (virtual, "layers/01 is a virtual dataset reading .*other.h5; expected only the part files"),
    "pooling without status": (lambda f: f.create_dataset("pooled/std/00", data=np.zeros((N, DIM), np.float32)),
                               "no dataset pooled/std/status; expected one beside its layers"),
    "pooled a dataset": (lambda f: f.create_dataset("pooled/std", data=np.zeros((N, DIM), np.float32)),
                         "pooled/std is a dataset; expected a group of layers"),
    "feature 1-D": (lambda f: f.create_dataset("features/mfcc", data=np.zeros(N, np.float32)),
                    r"features/mfcc has shape \(12,\)"),
    "sample_rate text": (set_attr("sample_rate", "16000"), "attribute sample_rate is str '16000'; expected an integer"),
    "layers attr scalar": (set_attr("layers", 3), "attribute layers is int64 3; expected a 1-D array of integers"),
    "model a number": (set_attr("model", 7), "attribute model is int64 7; expected text"),
    "pad_short text": (set_attr("pad_short", "no"), "attribute pad_short is str 'no'; expected true or false"),
    "attr not UTF-8": (lambda f: f.attrs.create("model", b"a\xff", dtype=TEXT), "attribute 'model' is not UTF-8 text"),
    "dataset attr not UTF-8": (lambda f: f["layers/00"].attrs.create("note", b"\xff", dtype=TEXT),
                               "attribute 'note' of layers/00 is not UTF-8 text"),
    # Unwritten storage: a few-KB file that a reader would have to allocate 12 GiB for.
    "declared far beyond the file": (lambda f: (f.__delitem__("layers/01"),
                                                f.create_dataset("layers/01", shape=(N, 2**28), dtype=np.float32)),
                                     r"layers/01 declares 12.0 GiB \(float32 \(12, 268435456\)\) in a file of \d+ bytes; "
                                     "expected its values stored in the file"),
}


# Values are checked where they are read: CacheReader (a writer never reads an ok row's values).
READ = {
    "label not text": (replace("clips/label", np.array([b"\xff\xfe"] * N)),
                       "clips/label holds bytes that are not ascii text"),
    "NaN in ok rows": (set_rows("layers/01", [3, 7], np.nan),
                       r"layers/01 has NaN or infinity in 2 of its 12 ok rows \(first: row 3\); expected finite values"),
    "Inf in an ok row": (set_rows("layers/00", [11], np.inf), "layers/00 has NaN or infinity in 1 of its 12 ok rows"),
    "float64 beyond float32": (replace("layers/00", np.full((N, DIM), 1e300)), "layers/00 has NaN or infinity in 12"),
    "NaN in a feature": (lambda f: f.create_dataset("features/mfcc", data=np.full((N, 2), np.nan, np.float32)),
                         "features/mfcc has NaN or infinity in 12 of its 12 ok rows"),
}


@pytest.mark.parametrize("case", [*MALFORMED, *READ])
def test_a_malformed_cache_is_one_line_naming_the_dataset(plain, case):
    edit, message = {**MALFORMED, **READ}[case]
    with h5py.File(plain, "a") as f:
        edit(f)
    for opening in (open_cache, CacheReader) if case in MALFORMED else (read_everything,):
        with pytest.raises(UserError, match=message) as refused:
            opening(plain)
        assert "\n" not in str(refused.value) and len(str(refused.value)) < 300


def read_everything(path):
    """Values are checked as they are read: read every layer and feature."""
    with CacheReader(path) as reader:
        for index in reader.layers:
            reader.layer(index)
        for name in reader.features:
            reader.feature(name)


def test_nan_in_a_later_layer_stops_probe_with_one_line(tmp_path, capsys):
    labels, groups, layers = planted_data()
    layers[2][5, 0] = np.nan
    cache = write_probe_cache(tmp_path / "c.h5", {1: layers[1], 2: layers[2]}, labels, groups)
    assert probe_main([str(cache), "--layers", "all", "--classifier", "ridge", "--n-jobs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"layers/02 has NaN or infinity in 1 of its {len(labels)} ok rows (first: row 5)" in err


def test_the_probe_command_exits_2_with_that_line_before_any_work(plain, capsys):
    with h5py.File(plain, "a") as f:
        replace("layers/01", np.zeros(N, np.float32))(f)
    assert probe_main([str(plain), "--layers", "all", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "layers/01 has shape (12,); expected (clips, dims)" in err


def test_values_of_rows_not_ok_are_not_checked(plain):
    with h5py.File(plain, "a") as f:
        f["clips/status"][3] = b"failed"
        f["layers/01"][3] = np.nan
    with CacheReader(plain) as reader:
        assert len(reader.clips) == N - 1


def clips(count):
    return [SimpleNamespace(id=f"c{i}", path=f"c{i}.wav", label="ab"[i % 2], group="g", split="") for i in range(count)]


def settings():
    return Settings(model="m", model_revision="", model_fingerprint="abc", model_type="wav2vec2", sample_rate=16000,
                    layers=(0, 1), hidden_size=DIM, dtype="float32", chunk_seconds=30.0, pad_short=False,
                    poolings=("mean", "std"))


@pytest.fixture
def written(tmp_path):
    """A cache as extract-embeddings writes it (an index of virtual datasets over parts), grown once."""
    path = tmp_path / "c.h5"
    rng = np.random.default_rng(0)
    with CacheWriter(path, clips(N), settings()) as cache:
        pooled = {name: rng.standard_normal((N, 2, DIM)).astype(np.float32) for name in ("mean", "std")}
        cache.write_ok(np.arange(N), pooled, np.ones(N))
    CacheWriter(path, clips(N + 2), settings()).close()
    return path


def test_a_cache_layerprobe_writes_opens_with_every_reader(written):
    with open_cache(written) as f:
        assert f["layers/00"].is_virtual and len(json.loads(f["clips"].attrs["parts"])) == 2
    with CacheReader(written) as reader:
        assert len(reader.clips) == N and reader.layer(1, "mean+std").shape == (N, 2 * DIM)


def forge_parts(edit):
    def forged(f):
        parts = json.loads(f["clips"].attrs["parts"])
        f["clips"].attrs["parts"] = edit(parts)
    return forged


WRITTEN_MALFORMED = {
    "part outside its folder": (forge_parts(lambda p: json.dumps([{**p[0], "file": "../victim.h5"}, *p[1:]])),
                                "attribute clips/parts names '../victim.h5'; expected part files named part-NNNNNN.h5"),
    "parts not JSON": (forge_parts(lambda p: "[{"), "attribute clips/parts is not a list of parts"),
    "parts rows beyond the cache": (forge_parts(lambda p: json.dumps([{**p[0], "stop": 99}, *p[1:]])),
                                    "attribute clips/parts lists rows 0-99 of part-000000.h5; expected rows within 0-14"),
    "parts datasets a string": (forge_parts(lambda p: json.dumps([{**p[0], "datasets": "clips/id"}, *p[1:]])),
                                "attribute clips/parts is not a list of parts \\(expected a list of"),
    "part name ending in a newline": (forge_parts(lambda p: json.dumps([{**p[0], "file": "part-000000.h5\n"}, *p[1:]])),
                                      "attribute clips/parts names 'part-000000.h5\\\\n'; expected part files"),
    "parts not covering a dataset": (forge_parts(lambda p: json.dumps(p[:1])),
                                     "its parts hold clips/duration incompletely"),
}


@pytest.mark.parametrize("case", WRITTEN_MALFORMED)
def test_a_forged_parts_list_is_refused(written, case):
    edit, message = WRITTEN_MALFORMED[case]
    with h5py.File(written, "a") as f:
        edit(f)
    with pytest.raises(UserError, match=message):
        CacheReader(written)
    with pytest.raises(UserError, match=message):  # a writer is refused before it writes anything
        CacheWriter(written, clips(N + 2), settings())


def test_a_part_that_is_not_hdf5_or_reads_elsewhere_is_refused(written, tmp_path):
    part = written.with_name("c.h5.parts") / "part-000001.h5"
    part.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="part-000001.h5 .a part of .*c.h5. is not a readable HDF5 file"):
        CacheReader(written)
    (written.with_name("c.h5.parts") / "part-000001.h5").unlink()
    with pytest.raises(UserError, match="lacks 1 of its part files"):
        CacheReader(written)


def test_a_part_dataset_linking_outside_is_refused(written, tmp_path):
    part = written.with_name("c.h5.parts") / "part-000000.h5"
    with h5py.File(part, "a") as f:
        del f["layers/01"]
        f["layers/01"] = h5py.ExternalLink(outside(tmp_path), "x")
    with pytest.raises(UserError, match=r"part-000000.h5: layers/01 is a link \(ExternalLink\)"):
        CacheReader(written)


def values_of(path, layer=1):
    with CacheReader(path) as reader:
        return reader.layer(layer)


def move_cache(source, target):
    os.rename(source, target)
    os.rename(source.with_name(source.name + ".parts"), target.with_name(target.name + ".parts"))


def another_cache(path):
    """A cache of the same clips and settings at `path`, grown like `written`, its values 7."""
    with CacheWriter(path, clips(N), settings()) as cache:
        cache.write_ok(np.arange(N), {name: np.full((N, 2, DIM), 7.0, np.float32) for name in ("mean", "std")}, np.ones(N))
    CacheWriter(path, clips(N + 2), settings()).close()


def test_a_renamed_cache_reads_its_own_rows_not_those_of_the_cache_now_under_its_old_name(written, tmp_path):
    before = values_of(written)
    move_cache(written, tmp_path / "v1.h5")
    another_cache(written)  # a new c.h5, its parts in c.h5.parts, where v1.h5's index still points
    with CacheReader(tmp_path / "v1.h5") as first, CacheReader(tmp_path / "v1.h5") as second:  # two at once
        assert np.array_equal(first.layer(1), before) and np.array_equal(second.layer(1), before)
    assert np.all(values_of(written) == 7.0)
    # Its next writer puts in place an index naming its own folder: plain h5py reads its rows too.
    CacheWriter(tmp_path / "v1.h5", clips(N + 2), settings()).close()
    with h5py.File(tmp_path / "v1.h5") as f:
        assert {source.file_name.split("/")[0] for source in f["layers/01"].virtual_sources()} == {"v1.h5.parts"}
        assert np.array_equal(f["layers/01"][:N], before)


def test_a_copied_cache_reads_its_own_parts_not_those_of_its_original(written, tmp_path):
    before = values_of(written)
    shutil.copy(written, tmp_path / "copy.h5")
    shutil.copytree(tmp_path / "c.h5.parts", tmp_path / "copy.h5.parts")
    shutil.rmtree(tmp_path / "c.h5.parts")
    assert np.array_equal(values_of(tmp_path / "copy.h5"), before)


def test_a_cache_beside_the_parts_of_another_is_refused_in_one_line(written, tmp_path):
    move_cache(written, tmp_path / "v1.h5")
    another_cache(written)
    shutil.rmtree(tmp_path / "v1.h5.parts")
    shutil.copytree(tmp_path / "c.h5.parts", tmp_path / "v1.h5.parts")  # the other cache's parts under v1's name
    with open_cache(written) as f:
        ours = f["clips"].attrs["cache_id"]
    for opening in (CacheReader, lambda path: CacheWriter(path, clips(N + 2), settings())):
        with pytest.raises(UserError, match=rf"v1.h5.parts/part-000000.h5 is a part of another cache \(id {ours}; "
                                            r"\S+v1.h5 has id [0-9a-f]{32}\): a cache is the file and the folder beside it"):
            opening(tmp_path / "v1.h5")


def without_ids(path):
    """The cache at `path` as a version before ids wrote it: no id in its index or its parts."""
    with h5py.File(path, "a") as f:
        del f["clips"].attrs["cache_id"]
    for part in path.with_name(path.name + ".parts").iterdir():
        with h5py.File(part, "a") as f:
            del f.attrs["cache_id"]


def test_a_cache_made_before_ids_opens_and_grows_as_before(written):
    before = values_of(written)
    without_ids(written)
    assert np.array_equal(values_of(written), before)
    CacheWriter(written, clips(N + 3), settings()).close()  # its new part has no id either
    with open_cache(written) as f:
        assert "cache_id" not in f["clips"].attrs and len(f["clips/id"]) == N + 3


def test_a_cache_made_before_ids_is_refused_once_renamed(written, tmp_path):
    without_ids(written)
    move_cache(written, tmp_path / "v1.h5")
    shutil.copytree(tmp_path / "v1.h5.parts", tmp_path / "c.h5.parts")
    with pytest.raises(UserError, match="v1.h5 reads its parts from c.h5.parts, not from v1.h5.parts beside it: it was "
                                        "renamed or copied, and it was made before a cache carried an id"):
        CacheReader(tmp_path / "v1.h5")


def rewritten_by_2726365(path, grow_by=0):
    """The index of the cache at `path` as commit 2726365 (or 2cede23) rewrites it when it grows a cache
    made since ids: its write_index, which knows no ids, over the parts as they are, plus, with
    grow_by, a part of new rows written without an id as that version writes parts."""
    folder = path.with_name(path.name + ".parts")
    with h5py.File(path) as index:
        attrs, listed, rows = dict(index.attrs), read_parts(index), len(index["clips/id"])
    if grow_by:
        with h5py.File(folder / "part-000009.h5", "w") as part:  # no id attr, as 2726365's _make_part
            for name in listed[0].datasets:
                with h5py.File(folder / listed[0].file) as first:
                    row_shape, dtype = first[name].shape[1:], first[name].dtype
                part.create_dataset(name, shape=(grow_by, *row_shape), dtype=dtype)
                if initial_value(name) is not None:  # pending, no error, NaN duration, as 2726365 writes
                    part[name][...] = initial_value(name)
            for row, clip in enumerate(clips(rows + grow_by)[rows:]):
                for column in ("id", "path", "label", "group", "split"):
                    part[f"clips/{column}"][row] = getattr(clip, column)
        listed.append(Part("part-000009.h5", rows, rows + grow_by, listed[0].datasets))
        rows += grow_by
    with h5py.File(path, "w") as index:
        index.attrs.update(attrs)
        index.create_group("clips")
        write_index(index, listed, rows, folder.name, {part.file: folder / part.file for part in listed}, None)


def test_a_cache_whose_index_an_older_version_rewrote_without_its_id_opens_and_gets_it_back(written):
    # Refused before: "c.h5.parts/part-000000.h5 is a part of another cache (id ...; c.h5 has id none)".
    before = values_of(written)
    with open_cache(written) as f:
        ours, rows = f["clips"].attrs["cache_id"], len(f["clips/id"])
    rewritten_by_2726365(written)
    assert np.array_equal(values_of(written), before)
    CacheWriter(written, clips(rows + 1), settings()).close()  # today's next writer: the id is back, on its part too
    with open_cache(written) as f:
        assert f["clips"].attrs["cache_id"] == ours and len(f["clips/id"]) == rows + 1
        newest = read_parts(f)[-1].file
    with h5py.File(written.with_name("c.h5.parts") / newest) as part:
        assert part.attrs["cache_id"] == ours
    assert np.array_equal(values_of(written), before)


def test_a_cache_an_older_version_grew_opens_and_grows_as_one_made_before_ids(written):
    before = values_of(written)
    with open_cache(written) as f:
        rows = len(f["clips/id"])
    rewritten_by_2726365(written, grow_by=2)  # its new part carries no id
    assert np.array_equal(values_of(written), before)  # the new rows are pending, not read
    CacheWriter(written, clips(rows + 3), settings()).close()
    with open_cache(written) as f:
        assert "cache_id" not in f["clips"].attrs and len(f["clips/id"]) == rows + 3
    assert np.array_equal(values_of(written), before)


def test_an_index_without_an_id_stays_refused_renamed_or_over_parts_of_two_caches(written, tmp_path):
    rewritten_by_2726365(written)
    with h5py.File(written.with_name("c.h5.parts") / "part-000001.h5", "a") as f:
        f.attrs["cache_id"] = "0" * 32  # one part of another cache
    with pytest.raises(UserError, match=r"part-00000[01].h5 is a part of another cache \(id [0-9a-f]{32}; \S+c.h5 "
                                        r"has id none\)"):
        CacheReader(written)
    with h5py.File(written.with_name("c.h5.parts") / "part-000001.h5", "a") as f:
        del f.attrs["cache_id"]
    move_cache(written, tmp_path / "v1.h5")
    with pytest.raises(UserError, match="v1.h5 reads its parts from c.h5.parts, not from v1.h5.parts beside it"):
        CacheReader(tmp_path / "v1.h5")


def test_a_part_without_the_id_of_its_cache_is_refused(written):
    with h5py.File(written.with_name("c.h5.parts") / "part-000001.h5", "a") as f:
        del f.attrs["cache_id"]
    with pytest.raises(UserError, match=r"part-000001.h5 is a part of another cache \(id none; "):
        CacheReader(written)


def test_a_part_declaring_far_more_than_its_file_holds_is_refused(written):
    """A forged pair: parts declaring 3 GiB of unwritten rows of layers/01, an index declaring them."""
    folder = written.with_name("c.h5.parts")
    with h5py.File(written) as f:
        attrs, parts, rows, cache_id = dict(f.attrs), read_parts(f), len(f["clips/id"]), f["clips"].attrs["cache_id"]
    for part in parts:
        with h5py.File(folder / part.file, "a") as f:
            del f["layers/01"]
            f.create_dataset("layers/01", shape=(part.stop - part.start, 2**26), dtype=np.float32)
    with h5py.File(written, "w") as index:
        index.attrs.update(attrs)
        write_index(index, parts, rows, folder.name, {part.file: folder / part.file for part in parts}, cache_id)
    with pytest.raises(UserError, match=r"part-000000.h5: layers/01 declares 3.0 GiB \(float32 \(12, 67108864\)\) in a "
                                        "file of .*; expected its values stored in the file"):
        CacheReader(written)
