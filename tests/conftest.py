"""Shared fixtures: tiny random-init encoders saved and loaded by path, as a user's hub id would be;
caches written with plain h5py following docs/design.md's contract, with planted signal for the probes."""
from __future__ import annotations

import os
from pathlib import Path

# One thread per process for torch's and BLAS's kernels, set before numpy or torch is imported and
# inherited by the command-line runs the tests start: the tests' tensors are tiny, and on a shared
# 2-core machine their worker threads spin more than they compute (30 clips through the tiny
# encoder: 5.6 s of CPU on torch's default 2 threads, 0.4 s on one). A value already set is kept.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

TINY = dict(
    hidden_size=32,
    num_hidden_layers=4,
    num_attention_heads=2,
    intermediate_size=37,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


def save_tiny_model(folder, stable_layer_norm: bool, model_type: str = "wav2vec2", feature_extractor: bool = True,
                    num_hidden_layers: int = 4):
    """A 4-block (or num_hidden_layers) encoder of the given family: group-norm (wav2vec2-base style) or
    layer-norm (large-lv60 style)."""
    import torch
    from transformers import AutoModel, Wav2Vec2FeatureExtractor
    from transformers import (
        Data2VecAudioConfig, HubertConfig, UniSpeechConfig, UniSpeechSatConfig, Wav2Vec2Config, WavLMConfig,
    )

    configs = {"wav2vec2": Wav2Vec2Config, "hubert": HubertConfig, "wavlm": WavLMConfig,
               "unispeech": UniSpeechConfig, "unispeech-sat": UniSpeechSatConfig}
    if model_type == "data2vec-audio":
        config = Data2VecAudioConfig(**{**TINY, "num_conv_pos_embeddings": 3}, conv_pos_kernel_size=5)
    else:
        norm = "layer" if stable_layer_norm else "group"
        config = configs[model_type](**{**TINY, "num_hidden_layers": num_hidden_layers},
                                     do_stable_layer_norm=stable_layer_norm, feat_extract_norm=norm)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    if feature_extractor:
        Wav2Vec2FeatureExtractor(return_attention_mask=stable_layer_norm).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def whisper_model(tmp_path_factory) -> str:
    """A 2-block, 64-wide Whisper (its 30 s window kept), with its feature extractor."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    folder = tmp_path_factory.mktemp("whisper")
    config = WhisperConfig(d_model=64, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=80,
                           vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                           decoder_start_token_id=3, max_target_positions=16, suppress_tokens=None,
                           begin_suppress_tokens=None)
    torch.manual_seed(0)
    WhisperModel(config).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def group_norm_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("w2v-group"), stable_layer_norm=False)


@pytest.fixture(scope="session")
def layer_norm_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("w2v-layer"), stable_layer_norm=True)


def fill_disk(disk: Path, leave: int) -> None:
    """Take all of the disk's free space but `leave` bytes."""
    import shutil

    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as file:
        file.write(b"\0" * max(free - leave, 0))


def session_processes(session: int) -> list[str]:
    """Command lines of the live processes of a session (the driver's and the Ray processes it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError, IndexError):
            continue
    return found


def mounted_tmpfs(tmp_path: Path, size: str, why: str):
    """A fresh tmpfs of `size` at tmp_path/disk, unmounted after the test; skips where mounting is refused."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs {why} (needs root): {mounted.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def write_probe_cache(path: Path, layers: dict[int, np.ndarray], labels, groups=None, split=None,
                      status=None, features: dict[str, np.ndarray] | None = None) -> Path:
    """Write a cache with the given layers (each (N, D)) and clip columns; returns `path`."""
    n = len(labels)
    str_dtype = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        f.attrs["layerprobe_format"] = 1
        f.attrs["model"] = "synthetic/encoder"
        f.attrs["layers"] = np.array(sorted(layers), dtype=np.int64)
        clips = f.create_group("clips")
        clips.create_dataset("id", data=np.array([f"clip{i:04d}.wav" for i in range(n)], dtype=object), dtype=str_dtype)
        clips.create_dataset("path", data=np.array([f"/audio/clip{i:04d}.wav" for i in range(n)], dtype=object),
                             dtype=str_dtype)
        clips.create_dataset("label", data=np.asarray(labels, dtype=object), dtype=str_dtype)
        clips.create_dataset("group", data=np.asarray(groups if groups is not None else [""] * n, dtype=object),
                             dtype=str_dtype)
        clips.create_dataset("split", data=np.asarray(split if split is not None else [""] * n, dtype=object),
                             dtype=str_dtype)
        clips.create_dataset("duration", data=np.ones(n, dtype=np.float32))
        # status/error are fixed-length strings in the contract's writer.
        clips.create_dataset("status", data=np.array(status if status is not None else ["ok"] * n, dtype="S7"))
        clips.create_dataset("error", data=np.array([""] * n, dtype="S32"))
        group = f.create_group("layers")
        for index, values in layers.items():
            group.create_dataset(f"{index:02d}", data=np.asarray(values, dtype=np.float32))
        for name, values in (features or {}).items():
            f.create_dataset(f"features/{name}", data=np.asarray(values, dtype=np.float32))
    return path


def planted_data(seed: int = 0, n_groups: int = 8, n_classes: int = 3, per_cell: int = 6, dim: int = 32):
    """Labels, groups and four layers: 0 pure noise, 1 and 2 class signal (2 stronger),
    3 a class signal that is different for every group (learnable only from a seen speaker)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"spk{g}" for g in range(n_groups)], n_classes * per_cell)
    y_index = np.tile(np.repeat(np.arange(n_classes), per_cell), n_groups)
    g_index = np.repeat(np.arange(n_groups), n_classes * per_cell)
    labels = np.array([f"class{c}" for c in y_index])
    class_means = rng.normal(size=(n_classes, dim))
    group_class_means = rng.normal(size=(n_groups, n_classes, dim)) * 3
    noise = lambda: rng.normal(size=(len(labels), dim))  # noqa: E731
    layers = {
        0: noise(),
        1: noise() + 1.0 * class_means[y_index],
        2: noise() + 3.0 * class_means[y_index],
        3: noise() + group_class_means[g_index, y_index],
    }
    return labels, groups, layers


@pytest.fixture
def planted_probe_cache(tmp_path: Path) -> Path:
    """A grouped cache (8 speakers x 3 classes x 6 clips, 32 dims) with planted signal: see planted_data."""
    labels, groups, layers = planted_data()
    return write_probe_cache(tmp_path / "planted.h5", layers, labels, groups)


def validated(group, **values):
    """An option group as the commands and the API validate it: the stages take validated groups."""
    from layerprobe.registries import known

    return group(**values).validated(known)


def grouped(keywords: dict, *groups) -> list:
    """The keywords split among option groups by field name, each group validated (as layerprobe.api does)."""
    from dataclasses import fields

    names = {spec.name: group for group in groups for spec in fields(group)}
    unknown = set(keywords) - set(names)
    assert not unknown, f"no option group holds {unknown}"
    return [validated(group, **{k: v for k, v in keywords.items() if names[k] is group}) for group in groups]


def run_sweep(cache, **keywords):
    """probes.sweep.sweep with its options as keywords (progress=... passes through)."""
    from layerprobe.options import (CurveOptions, DetectionOptions, FitOptions, LabelOptions, ProbeOptions,
                                    ProtocolOptions)
    from layerprobe.probes.sweep import sweep

    progress = keywords.pop("progress", False)
    return sweep(cache, *grouped(keywords, ProbeOptions, ProtocolOptions, FitOptions, LabelOptions, DetectionOptions,
                                 CurveOptions), progress=progress)


def run_baseline_sweep(cache, **keywords):
    """baselines.run.evaluate_baselines with its options as keywords (progress and overwrite pass through)."""
    from layerprobe.baselines.run import evaluate_baselines
    from layerprobe.options import (BaselineOptions, CurveOptions, DetectionOptions, FitOptions, LabelOptions,
                                    ProtocolOptions)

    passed = {name: keywords.pop(name) for name in ("progress", "overwrite") if name in keywords}
    return evaluate_baselines(cache, *grouped(keywords, BaselineOptions, ProtocolOptions, FitOptions, LabelOptions,
                                              DetectionOptions, CurveOptions), **passed)


def run_extract(data, out, *, progress: bool = True, command: str = "", **keywords):
    """extract.runner.extract with its options as keywords."""
    from layerprobe.extract.runner import extract
    from layerprobe.options import ColumnOptions, ExtractOptions

    return extract(str(data), str(out), *grouped(keywords, ExtractOptions, ColumnOptions), command=command,
                   progress=progress)


def evaluate_record(X, labels, folds, spec, layer, **options) -> dict:
    """The record of one feature matrix with one probe on `folds` (the engine's study, one source), as
    it is written (JSON)."""
    from layerprobe.options import FitOptions
    from layerprobe.probes.study import study

    return study([(layer, lambda: X)], [spec], labels, folds,
                 validated(FitOptions, n_jobs=1, **options)).records[0].to_dict()


def fold_task(X, labels, fold, **options):
    """A FoldTask for the observed labels of one outer fold (class codes from sorted labels)."""
    from layerprobe.probes.spec import FoldTask

    classes, codes = np.unique(labels, return_inverse=True)
    return FoldTask(X, codes[None, :], len(classes), fold.fit, fold.test, fold.selection, **options)


def write_fold_manifest(path: Path, labels, groups, folds, path_column: str = "path") -> Path:
    """A manifest of write_probe_cache's clips (clip0000.wav, ...) with a speaker and an actor_fold column."""
    path.write_text(f"{path_column},label,speaker,actor_fold\n" + "".join(
        f"clip{i:04d}.wav,{label},{group},{fold}\n" for i, (label, group, fold) in enumerate(zip(labels, groups, folds))))
    return path


def owl_cache(path: Path, *, every: int, shift: float, second_layer: bool = False) -> Path:
    """8 speakers x 24 clips, one clip in `every` an owl among birds, the owls shifted by `shift` on three of
    16 dims (layer 0; layer 1, when asked for, a noisier copy)."""
    rng = np.random.default_rng(4)
    groups = np.repeat([f"spk{g}" for g in range(8)], 24)
    labels = np.where(np.arange(len(groups)) % every == 0, "owl", "bird")
    X = rng.normal(size=(len(labels), 16))
    X[labels == "owl", :3] += shift
    layers = {0: X, 1: X * 0.5 + rng.normal(size=X.shape)} if second_layer else {0: X}
    return write_probe_cache(path, layers, labels, groups)


def bare_record(layer: int | str = 0, classifier: str = "logreg", **fields):
    """A Record holding only the `fields` a test reads (layer: its JSON value), the rest empty."""
    from layerprobe.results import Metric, PerClass, Record, Source

    empty = Metric(value=None, ci=None, ci_method=None, folds=[], std=None)
    defaults = dict(protocol="p", selection="inner-cv", class_weight="none", n_clips=0, n_tested=0, split_counts={},
                    classes=[], accuracy=empty, balanced_accuracy=empty, macro_f1=empty,
                    per_class=PerClass([], [], [], []), confusion_matrix=[], chance={}, params=[], predictions=[])
    return Record(layer=Source.of(layer), classifier=classifier, **{**defaults, **fields})


def report_headline(markdown: str) -> str:
    """The headline of a report.md: the bullets right below the one-glance table, which follows the title."""
    blocks = markdown.split("\n\n")
    assert blocks[1].startswith("|  | UAR (95% interval) |"), blocks[1]
    assert all(line.startswith("- ") for line in blocks[2].splitlines()), blocks[2]
    return blocks[2]
