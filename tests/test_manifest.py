import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_files import write_text, write_tone

from layerprobe.data.audio import ClipError, decode
from layerprobe.data.manifest import load_manifest
from layerprobe.errors import UserError


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _clips_as_rows(manifest):
    return [(c.id, c.path, c.label, c.group, c.split) for c in manifest.clips]


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Three short WAVs under tmp_path/audio, at different frequencies."""
    (tmp_path / "audio").mkdir()
    for i, frequency in enumerate([300, 500, 700]):
        write_tone(tmp_path / "audio" / f"{i}.wav", sample_rate=8000, duration=0.1, frequency=frequency)
    return tmp_path


def test_csv_with_default_columns(dataset):
    table = _write_csv(
        dataset / "manifest.csv",
        "path,label,speaker,split,gender\n"
        "audio/0.wav,yes,ann,train,f\naudio/1.wav,no,bob,train,m\naudio/2.wav,yes,bob,test,m\n",
    )
    manifest = load_manifest(table)
    assert _clips_as_rows(manifest) == [
        ("audio/0.wav", "audio/0.wav", "yes", "ann", "train"),
        ("audio/1.wav", "audio/1.wav", "no", "bob", "train"),
        ("audio/2.wav", "audio/2.wav", "yes", "bob", "test"),
    ]
    assert manifest.description == (
        "manifest.csv: 3 clips, 2 labels, group column 'speaker' (2 groups), split column 'split' (test 1, train 2)"
    )


def test_clip_sources_open_the_listed_files_wherever_the_process_runs(dataset, tmp_path_factory, monkeypatch):
    table = _write_csv(dataset / "list.csv", "path,label\naudio/2.wav,x\n")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    audio = decode(load_manifest(table).clips[0].source, 8000)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 8000 / len(audio) == pytest.approx(700, abs=10)


def test_tsv_is_read_by_extension_with_cells_and_bom_stripped(dataset):
    table = dataset / "list.tsv"
    table.write_text("\ufeffpath\t label\naudio/0.wav\t yes \n\naudio/1.wav\tno\n", encoding="utf-8")
    manifest = load_manifest(table)
    assert [(c.id, c.label) for c in manifest.clips] == [("audio/0.wav", "yes"), ("audio/1.wav", "no")]
    assert manifest.description == "list.tsv: 2 clips, 2 labels, no group column, no split column"


@pytest.mark.parametrize("column", ["file", "filename", "audio"])
def test_other_usual_path_column_names(dataset, column):
    table = _write_csv(dataset / "m.csv", f"{column},label\naudio/0.wav,a\n")
    assert load_manifest(table).clips[0].id == "audio/0.wav"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [("group,speaker", "group"), ("speaker,actor", "speaker"), ("client_id,actor", "client_id"), ("actor", "actor")],
)
def test_group_column_defaults_in_order_and_is_named(dataset, header, chosen):
    cells = ",".join(f"{name}-value" for name in header.split(","))
    table = _write_csv(dataset / "m.csv", f"path,label,{header}\naudio/0.wav,a,{cells}\n")
    manifest = load_manifest(table)
    assert manifest.clips[0].group == f"{chosen}-value"
    assert f"group column '{chosen}' (1 groups)" in manifest.description


def test_explicit_columns_are_used(dataset):
    table = _write_csv(dataset / "m.csv", "wav,digit,who,fold\naudio/0.wav,3,ann,dev\n")
    manifest = load_manifest(table, path_column="wav", label_column="digit", group_column="who", split_column="fold")
    assert _clips_as_rows(manifest) == [("audio/0.wav", "audio/0.wav", "3", "ann", "dev")]


def test_an_explicit_column_that_does_not_exist_lists_the_available_ones(dataset):
    table = _write_csv(dataset / "m.csv", "path,label,speaker\naudio/0.wav,a,ann\n")
    with pytest.raises(UserError, match="m.csv has no group column 'spk'; its columns are 'path', 'label', 'speaker'"):
        load_manifest(table, group_column="spk")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("path,label\n", "has a header but no rows"),
        ("file_name,label\na.wav,x\n", "has no path column"),
        ("path,class\naudio/0.wav,x\n", "has no label column"),
        ("path,label\naudio/0.wav,\n", "line 2: empty 'label'"),
        ("path,label\n,x\n", "line 2: empty 'path'"),
        ("path,label\naudio/0.wav,x\n./audio/0.wav,y\n", "lists audio/0.wav twice \\(lines 2 and 3\\)"),
        ("path,label,label\naudio/0.wav,x,y\n", "repeats column 'label'"),
        # An unbalanced quote would take the rows after it into one label.
        ('path,label\naudio/0.wav,a\naudio/1.wav,"b\naudio/2.wav,c\n',
         "^m.csv line 3: a quote opens a cell that never closes; close it"),
        ('path,label\naudio/0.wav,"a\naudio/1.wav,b"\naudio/2.wav,c\n',
         "^m.csv line 2: its 'label' cell holds a line break, from a quote that opens there and closes on a later"),
        ('path,label\naudio/0.wav,"a"b\n', "^m.csv line 2: text follows a quoted cell's closing quote"),
        ("path,label,speaker\naudio/0.wav,a,ann\naudio/1.wav,b\n", "^m.csv line 3 has 2 cells, its header 3"),
        ("path,label\naudio/0.wav,a,extra\n", "^m.csv line 2 has 3 cells, its header 2"),
    ],
)
def test_unusable_manifests_are_user_errors(dataset, text, message):
    with pytest.raises(UserError, match=message):
        load_manifest(_write_csv(dataset / "m.csv", text))


def test_a_line_break_in_a_quoted_cell_of_another_column_is_text(dataset):
    table = _write_csv(dataset / "m.csv", 'path,label,transcript\naudio/0.wav,a,"two\nlines"\naudio/1.wav,b,one\n')
    manifest = load_manifest(table)
    assert [c.label for c in manifest.clips] == ["a", "b"] and manifest.others["transcript"] == ["two\nlines", "one"]


def test_a_listed_file_that_is_missing_fails_at_decode_not_at_load(dataset):
    table = _write_csv(dataset / "m.csv", "path,label\naudio/0.wav,a\naudio/gone.wav,b\n")
    clips = load_manifest(table).clips
    with pytest.raises(ClipError, match="unreadable: file not found: .*audio/gone.wav"):
        decode(clips[1].source, 16000)


def test_absolute_paths_inside_the_folder_get_relative_ids(dataset, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "x.wav"
    write_tone(outside)
    table = _write_csv(dataset / "m.csv", f"path,label\n{dataset / 'audio/0.wav'},a\n{outside},b\n")
    clips = load_manifest(table).clips
    assert [c.id for c in clips] == ["audio/0.wav", outside.as_posix()]
    assert clips[0].path == str(dataset / "audio/0.wav")
    assert len(decode(clips[1].source, 16000)) == 8000


def test_a_folder_holding_a_manifest_uses_it(dataset):
    _write_csv(dataset / "manifest.tsv", "path\tlabel\naudio/1.wav\tb\n")
    assert [c.id for c in load_manifest(dataset).clips] == ["audio/1.wav"]
    _write_csv(dataset / "manifest.csv", "path,label\naudio/1.wav,b\n")
    with pytest.raises(UserError, match="both manifest.csv and manifest.tsv"):
        load_manifest(dataset)


def test_label_folders(tmp_path):
    root = tmp_path / "data"
    for relative in ["yes/b.wav", "yes/deep/a.FLAC", "no/c.ogg", "no/.hidden.wav", ".git/x.wav"]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        write_tone(root / relative, duration=0.05)
    write_text(root / "no" / "notes.txt")
    manifest = load_manifest(root)
    assert _clips_as_rows(manifest) == [
        ("no/c.ogg", "no/c.ogg", "no", "", ""),
        ("yes/b.wav", "yes/b.wav", "yes", "", ""),
        ("yes/deep/a.FLAC", "yes/deep/a.FLAC", "yes", "", ""),
    ]
    assert manifest.description == (
        "data/: 3 clips, 2 labels, no group column, no split column; ignored 1 other files (.txt)"
    )
    assert len(decode(manifest.clips[2].source, 16000)) == 800


def test_split_folders_above_label_folders_fill_the_split(tmp_path):
    for relative in ["train/yes/a.wav", "train/no/b.wav", "dev/yes/c.wav", "test/no/d.wav"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        write_tone(tmp_path / relative, duration=0.05)
    manifest = load_manifest(tmp_path)
    assert [(c.id, c.label, c.split) for c in manifest.clips] == [
        ("dev/yes/c.wav", "yes", "dev"),
        ("test/no/d.wav", "no", "test"),
        ("train/no/b.wav", "no", "train"),
        ("train/yes/a.wav", "yes", "train"),
    ]
    assert manifest.description.endswith("splits from folders (dev 1, test 1, train 2)")


def test_audio_beside_the_label_folders_is_a_user_error(tmp_path):
    (tmp_path / "yes").mkdir()
    write_tone(tmp_path / "yes" / "a.wav")
    write_tone(tmp_path / "loose.wav")
    with pytest.raises(UserError, match="loose.wav is not inside a label folder"):
        load_manifest(tmp_path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "no such file or folder"),
        (lambda root: root.mkdir(), "holds no label folders"),
        (lambda root: (root / "yes").mkdir(parents=True), "holds no audio files"),
        (lambda root: write_text(root), "not a manifest"),
    ],
)
def test_missing_or_unrecognized_data_is_a_user_error(tmp_path, make, message):
    make(tmp_path / "data")
    with pytest.raises(UserError, match=message):
        load_manifest(tmp_path / "data")


def test_column_flags_on_a_label_folder_are_refused(tmp_path):
    (tmp_path / "yes").mkdir()
    write_tone(tmp_path / "yes" / "a.wav")
    with pytest.raises(UserError, match="drop --label-column"):
        load_manifest(tmp_path, label_column="digit")


def test_reading_a_csv_does_not_import_datasets(dataset):
    _write_csv(dataset / "manifest.csv", "path,label\naudio/0.wav,a\n")
    code = (
        "import sys; from layerprobe.data.manifest import load_manifest; "
        f"load_manifest({str(dataset)!r}); assert 'datasets' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _saved_dataset(tmp_path: Path, as_dict: bool) -> Path:
    """Four 0.1 s clips at 8 kHz with a ClassLabel label and a speaker, saved with save_to_disk."""
    datasets = pytest.importorskip("datasets")
    paths = []
    for i, frequency in enumerate([300, 500, 700, 900]):
        paths.append(str(tmp_path / f"{i}.wav"))
        write_tone(paths[-1], sample_rate=8000, duration=0.1, frequency=frequency)
    table = {"audio": paths, "label": [0, 1, 1, 0], "speaker": ["ann", "ann", "bob", "bob"]}
    dataset = (
        datasets.Dataset.from_dict(table)
        .cast_column("audio", datasets.Audio())
        .cast_column("label", datasets.ClassLabel(names=["no", "yes"]))
    )
    saved = tmp_path / "saved"
    if as_dict:
        dataset = datasets.DatasetDict(train=dataset.select([0, 1, 2]), test=dataset.select([3]))
    dataset.save_to_disk(str(saved))
    for path in paths:  # save_to_disk embedded the bytes: decoding must not need the files
        Path(path).unlink()
    return saved


def _peak_frequency(audio: np.ndarray, rate: int) -> float:
    return np.argmax(np.abs(np.fft.rfft(audio))) * rate / len(audio)


def test_saved_dataset_rows_become_clips_read_lazily(tmp_path):
    manifest = load_manifest(_saved_dataset(tmp_path, as_dict=False))
    assert _clips_as_rows(manifest) == [
        ("0", "0.wav", "no", "ann", ""),
        ("1", "1.wav", "yes", "ann", ""),
        ("2", "2.wav", "yes", "bob", ""),
        ("3", "3.wav", "no", "bob", ""),
    ]
    assert manifest.description == "saved/: 4 clips, 2 labels, group column 'speaker' (2 groups), no split column"
    assert _peak_frequency(decode(manifest.clips[2].source, 8000), 8000) == pytest.approx(700, abs=10)
    assert [round(_peak_frequency(decode(c.source, 16000), 16000)) for c in manifest.clips] == [300, 500, 700, 900]


def test_saved_dataset_dict_splits_fill_the_split(tmp_path):
    manifest = load_manifest(_saved_dataset(tmp_path, as_dict=True))
    assert [(c.id, c.label, c.split) for c in manifest.clips] == [
        ("train/0", "no", "train"),
        ("train/1", "yes", "train"),
        ("train/2", "yes", "train"),
        ("test/0", "no", "test"),
    ]
    assert manifest.description.endswith("splits of the DatasetDict (test 1, train 3)")
    assert _peak_frequency(decode(manifest.clips[3].source, 8000), 8000) == pytest.approx(900, abs=10)


def test_saved_dataset_column_flags_are_checked(tmp_path):
    saved = _saved_dataset(tmp_path, as_dict=True)
    with pytest.raises(UserError, match="no Audio column 'speaker'"):
        load_manifest(saved, path_column="speaker")
    with pytest.raises(UserError, match="has no label column 'digit'; its columns are 'audio', 'label', 'speaker'"):
        load_manifest(saved, label_column="digit")
    with pytest.raises(UserError, match="drop --split-column"):
        load_manifest(saved, split_column="speaker")
    assert load_manifest(saved, label_column="speaker").clips[0].label == "ann"
