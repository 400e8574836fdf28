"""Speech Commands as it is distributed, on a generated miniature: rows, splits, speakers, the noise
folder, --split-lists, the 12 SUPERB classes with their silence cuts, and extract + probe end to end."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from layerprobe.data.audio import decode
from layerprobe.data.manifest import load_manifest
from layerprobe.data.speech_commands import KEYWORDS
from layerprobe.errors import UserError

RATE = 16000
SPEAKERS = ("0a7c2a8d", "1b3d5f7a", "2c4e6a8b", "3d5f7b9c", "4e6a8c0d")  # the last two: validation, test
WORDS = (*KEYWORDS, "cat", "dog")
NOISE = {"running_tap.wav": 25.5, "white_noise.wav": 10.2}  # seconds: 25 and 10 one-second windows


def write_miniature(root: Path, words=WORDS) -> Path:
    """root/<word>/<speaker>_nohash_0.wav (0.2 s, a tone per word), the 0a7c2a8d speaker saying yes
    twice; validation_list.txt holds speaker 3d5f7b9c's clips, testing_list.txt 4e6a8c0d's; and
    _background_noise_/ with two noise recordings and a README."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.2 * RATE)) / RATE
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True)
        for speaker in SPEAKERS:
            takes = 2 if (speaker, word) == (SPEAKERS[0], "yes") else 1
            for take in range(takes):
                tone = 0.3 * np.sin(2 * np.pi * (200 + 60 * w) * t) + 0.05 * rng.standard_normal(len(t))
                sf.write(root / word / f"{speaker}_nohash_{take}.wav", tone, RATE, subtype="PCM_16")
    listed = lambda speaker: "".join(f"{word}/{speaker}_nohash_0.wav\n" for word in words)  # noqa: E731
    (root / "validation_list.txt").write_text(listed(SPEAKERS[3]))
    (root / "testing_list.txt").write_text(listed(SPEAKERS[4]))
    noise = root / "_background_noise_"
    noise.mkdir()
    for name, seconds in NOISE.items():
        sf.write(noise / name, 0.1 * rng.standard_normal(int(seconds * RATE)), RATE, subtype="PCM_16")
    (noise / "README.md").write_text("noise recordings\n")
    return root


@pytest.fixture
def miniature(tmp_path) -> Path:
    return write_miniature(tmp_path / "speech_commands")


def test_rows_are_folders_speakers_and_the_official_split(miniature):
    manifest = load_manifest(miniature)
    clips = {clip.id: clip for clip in manifest.clips}
    assert len(clips) == len(WORDS) * len(SPEAKERS) + 1
    assert [clip.id for clip in manifest.clips] == sorted(clips)  # folder by folder, sorted
    clip = clips["yes/0a7c2a8d_nohash_1.wav"]
    assert (clip.label, clip.group, clip.split, clip.path) == ("yes", "0a7c2a8d", "train", "yes/0a7c2a8d_nohash_1.wav")
    assert clip.source.open() == str(miniature / "yes" / "0a7c2a8d_nohash_1.wav")
    assert (clips["cat/3d5f7b9c_nohash_0.wav"].split, clips["dog/4e6a8c0d_nohash_0.wav"].split) == ("validation", "test")
    assert Counter(clip.split for clip in manifest.clips) == {"train": 37, "validation": 12, "test": 12}
    assert {clip.label for clip in manifest.clips} == set(WORDS)  # _background_noise_ is no class
    assert not any(clip.id.startswith("_background_noise_") for clip in manifest.clips)
    assert manifest.group_column == "speaker"
    assert manifest.description.split("\n") == [
        "speech_commands/ (Speech Commands layout): 61 clips, 12 labels, groups: 5 speakers from the file names, "
        "splits from validation_list.txt and testing_list.txt (test 12, train 37, validation 12)",
        "_background_noise_/: left out (2 noise recordings, not a keyword)",
        "validation_list.txt and testing_list.txt are speaker-disjoint: no speaker is in two of train (3 speakers), "
        "validation (1) and test (1)",
    ]


def test_lists_that_share_a_speaker_say_so(miniature):
    with open(miniature / "testing_list.txt", "a") as lists:
        lists.write("no/0a7c2a8d_nohash_0.wav\n")
    line = load_manifest(miniature).description.split("\n")[2]
    assert line == ("validation_list.txt and testing_list.txt are not speaker-disjoint: speakers in two splits: "
                    "train/test 1 (e.g. 0a7c2a8d)")


def test_split_lists_name_other_list_files(miniature):
    for name in ("validation_list.txt", "testing_list.txt"):
        (miniature / name).rename(miniature / f"old_{name}")
    (miniature / "lists").mkdir()
    (miniature / "lists" / "val.txt").write_text("yes/0a7c2a8d_nohash_0.wav\n\nno/1b3d5f7a_nohash_0.wav\n")
    (miniature / "lists" / "test.txt").write_text("up/2c4e6a8b_nohash_0.wav\n")
    manifest = load_manifest(miniature, split_lists="lists/val.txt, lists/test.txt")
    split = {clip.id: clip.split for clip in manifest.clips}
    assert {clip_id for clip_id, name in split.items() if name != "train"} == {
        "yes/0a7c2a8d_nohash_0.wav", "no/1b3d5f7a_nohash_0.wav", "up/2c4e6a8b_nohash_0.wav"}
    assert (split["no/1b3d5f7a_nohash_0.wav"], split["up/2c4e6a8b_nohash_0.wav"]) == ("validation", "test")
    assert "splits from val.txt and test.txt" in manifest.description
    # Without the flag the folder has no lists: read as label folders, as before
    assert "_background_noise_" in {clip.label for clip in load_manifest(miniature).clips}
    with pytest.raises(UserError, match=r"^--split-lists: .*lists/none.txt is not a file$"):
        load_manifest(miniature, split_lists="lists/val.txt,lists/none.txt")
    with pytest.raises(UserError,
                       match=r"^--split-lists 'lists/val.txt': give two list files, VALIDATION.txt,TESTING.txt$"):
        load_manifest(miniature, split_lists="lists/val.txt")


def test_twelve_classes_map_other_keywords_to_unknown_and_cut_silence(miniature):
    manifest = load_manifest(miniature, speech_commands_classes=12)
    labels = Counter(clip.label for clip in manifest.clips)
    assert labels == {**{word: 5 for word in KEYWORDS}, "yes": 6, "_unknown_": 10, "_silence_": 35}
    silence = [clip for clip in manifest.clips if clip.label == "_silence_"]
    # 25 windows: the last 2 test, the 2 before validation; 10 windows: 1 and 1
    assert [(clip.id, clip.split) for clip in silence[21:25]] == [
        ("_background_noise_/running_tap.wav#21", "validation"), ("_background_noise_/running_tap.wav#22", "validation"),
        ("_background_noise_/running_tap.wav#23", "test"), ("_background_noise_/running_tap.wav#24", "test")]
    assert Counter(clip.split for clip in silence) == {"train": 29, "validation": 3, "test": 3}
    assert {clip.group for clip in silence if clip.path == "_background_noise_/white_noise.wav"} == {
        "_background_noise_/white_noise.wav:train", "_background_noise_/white_noise.wav:validation",
        "_background_noise_/white_noise.wav:test"}
    assert manifest.description.split("\n")[1] == ("_background_noise_/: not a keyword; its 2 audio files cut into 35 "
                                                   "one-second _silence_ clips (test 3, train 29, validation 3)")
    # window k is exactly seconds k to k + 1 of its recording, as the whole file decodes
    window = silence[25 + 3]
    assert (window.id, window.path) == ("_background_noise_/white_noise.wav#3", "_background_noise_/white_noise.wav")
    recording, _ = sf.read(miniature / "_background_noise_" / "white_noise.wav", dtype="float32")
    np.testing.assert_array_equal(decode(window.source, RATE), recording[3 * RATE:4 * RATE])


def test_what_the_layout_cannot_be_read_with_is_one_line(miniature, tmp_path):
    with pytest.raises(UserError, match=r"^.*speech_commands is a Speech Commands folder \(keyword folders beside its "
                                        r"list files\), which has no columns: drop --group-column$"):
        load_manifest(miniature, group_column="speaker")
    table = tmp_path / "clips.csv"
    table.write_text("path,label\nspeech_commands/yes/0a7c2a8d_nohash_0.wav,yes\n")
    with pytest.raises(UserError, match=r"^--speech-commands-classes 12 applies to a Speech Commands folder"):
        load_manifest(table, speech_commands_classes=12)
    with pytest.raises(UserError, match=r"^--split-lists applies to a folder of keyword folders beside its list files"):
        load_manifest(table, split_lists="a.txt,b.txt")
    sf.write(miniature / "go" / "nospeaker.wav", np.zeros(RATE), RATE)
    with pytest.raises(UserError, match=r"^go/nospeaker.wav is not named <speaker>_nohash_<n>.wav, so its speaker is "
                                        r"unknown$"):
        load_manifest(miniature)


def test_a_clip_in_both_lists_and_missing_keywords_are_refused(tmp_path):
    root = write_miniature(tmp_path / "sc", words=("yes", "cat"))
    with pytest.raises(UserError, match=r"^--speech-commands-classes 12 needs the folders yes, no, .*; .* lacks no, up, "):
        load_manifest(root, speech_commands_classes=12)
    with open(root / "testing_list.txt", "a") as lists:
        lists.write("yes/3d5f7b9c_nohash_0.wav\n")
    with pytest.raises(UserError, match=r"^yes/3d5f7b9c_nohash_0.wav is in both validation_list.txt and testing_list.txt$"):
        load_manifest(root)


def test_extract_then_probe_uses_the_official_split_selecting_on_validation(miniature, tmp_path, group_norm_model,
                                                                           capsys):
    import layerprobe
    from layerprobe.baselines.compute import compute_features
    from layerprobe.extract.cli import main

    cache = tmp_path / "cache.h5"
    assert main([str(miniature), "--out", str(cache), "--model", group_norm_model, "--device", "cpu",
                 "--speech-commands-classes", "12", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "_background_noise_/: not a keyword; its 2 audio files cut into 35 one-second _silence_ clips" in err
    assert "validation_list.txt and testing_list.txt are speaker-disjoint" in err
    with h5py.File(cache, "r") as f:
        ids = f["clips/id"].asstr()[()].tolist()
        split = f["clips/split"].asstr()[()]
        assert (f["clips/status"][()] == b"ok").all()
        assert f["clips/duration"][ids.index("_background_noise_/white_noise.wav#3")] == 1.0
    layerprobe.probe(cache, layers=[2], classifiers="logreg", n_jobs=1, out=tmp_path / "probe", progress=False)
    doc = json.loads((tmp_path / "probe" / "probe_results.json").read_text())
    assert (doc["protocol"], doc["selection"], doc["leak"]) == ("split", "validation", None)
    assert doc["protocol_reason"] == "the dataset's own train/test split (its train and test share no group)"
    assert doc["split_counts"] == {"test": 15, "train": 66, "validation": 15}
    assert doc["fold_sizes"] == [{"fit": 66, "test": 15}]  # refit on train, chosen on validation
    [record] = [r for r in doc["results"] if r["layer"] == 2]
    [fold] = record["predictions"]
    tested = [doc["clip_ids"][i] for i in fold["index"]]
    assert sorted(tested) == sorted(np.asarray(ids)[split == "test"].tolist())  # each test clip once
    # the baselines find every clip's audio again, the silence windows included, through the cache's own record
    summary = compute_features(cache, ["mfcc"], progress=False)
    assert (summary.computed["mfcc"], sum(summary.failed["mfcc"].values())) == (96, 0)


def test_the_api_reads_other_split_lists(miniature, tmp_path, group_norm_model):
    import layerprobe

    (miniature / "testing_list.txt").rename(miniature / "other_test.txt")
    layerprobe.extract_embeddings(miniature, tmp_path / "c.h5", model=group_norm_model, device="cpu", layers=[1],
                                  split_lists="validation_list.txt,other_test.txt", progress=False)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert Counter(f["clips/split"].asstr()[()]) == {"train": 37, "validation": 12, "test": 12}
        assert set(f["clips/group"].asstr()[()]) == set(SPEAKERS)


@pytest.mark.parametrize("command", ["extract", "run", "baselines"])
def test_every_command_that_reads_data_takes_the_flags(command):
    from layerprobe import cli
    from layerprobe.options import ColumnOptions
    from layerprobe.registries import known

    args = cli.build_parser().parse_args([command, "sc", "--out", "o", "--split-lists", "a.txt,b.txt",
                                          "--speech-commands-classes", "12"])
    assert ColumnOptions.from_args(args, known) == ColumnOptions(split_lists="a.txt,b.txt", speech_commands_classes=12)
