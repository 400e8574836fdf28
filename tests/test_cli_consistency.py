"""One CLI: the same flags mean the same on every command, with the API's defaults."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from layerprobe import cli, pipeline
from layerprobe.extract.engines import engine_options_from_args
from layerprobe.extract.ray_engine import RayOptions
from layerprobe.options import (BaselineOptions, ColumnOptions, CompareOptions, CurveOptions, ExtractOptions,
                                FinetuneOptions, FitOptions, LabelOptions, MdlOptions, ProbeOptions, ProtocolOptions)
from layerprobe.registries import known

MINIMAL = {"run": ["data", "--out", "o"], "extract": ["data", "--out", "c.h5"], "probe": ["c.h5"],
           "baselines": ["c.h5"], "report": ["o"], "demo": [],
           "compare": ["a.h5", "b.h5", "--out", "o"], "finetune": ["run", "--out", "o"]}
GROUPS = {
    "run": [ColumnOptions, ExtractOptions, ProbeOptions, BaselineOptions, ProtocolOptions, FitOptions, CurveOptions,
            MdlOptions],
    "extract": [ColumnOptions, ExtractOptions],
    "probe": [ProbeOptions, ProtocolOptions, FitOptions, CurveOptions, MdlOptions],
    "baselines": [ColumnOptions, BaselineOptions, ProtocolOptions, FitOptions, CurveOptions, MdlOptions],
    "report": [],
    "demo": [ProbeOptions, BaselineOptions, ProtocolOptions, FitOptions, CurveOptions, MdlOptions],
    "compare": [CompareOptions, ProtocolOptions, FitOptions],
    "finetune": [FinetuneOptions, ProtocolOptions, FitOptions, LabelOptions],
}
LAYERED = ["run", "extract", "probe", "demo", "compare"]  # the commands that choose layers (baselines and report have none)


def parse(command: str, *flags: str) -> argparse.Namespace:
    return cli.build_parser().parse_args([command, *MINIMAL[command], *flags])


def subparser(command: str) -> argparse.ArgumentParser:
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[command]


@pytest.mark.parametrize("command", list(MINIMAL))
def test_cli_defaults_are_the_option_groups_defaults(command):
    args = parse(command)
    for group in GROUPS[command]:
        assert group.from_args(args, known) == group().validated(known) == group()
    if command in ("run", "extract", "demo", "finetune"):
        assert engine_options_from_args(args, known).engine == "process"


@pytest.mark.parametrize("command", ["run", "extract", "demo", "finetune"])
def test_the_ray_engine_takes_its_own_flags_everywhere(command, tmp_path):
    pytest.importorskip("ray")
    args = parse(command, "--engine", "ray", "--ray-address", "auto", "--workers", "3", "--cpus-per-worker", "2")
    engine = engine_options_from_args(args, known)
    assert engine.settings == RayOptions(ray_address="auto", workers=3, cpus_per_worker=2.0)


@pytest.mark.parametrize("command", list(MINIMAL))
def test_help_shows_every_default_and_quiet_is_everywhere(command):
    parser = subparser(command)
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert "default" in action.help, (command, action.option_strings)
    assert parse(command, "--quiet").quiet is True


@pytest.mark.parametrize("command", LAYERED)
def test_layers_with_layer_as_its_alias(command):
    group = {"probe": ProbeOptions, "compare": CompareOptions}.get(command, ExtractOptions)
    for flag in ("--layers", "--layer"):
        assert group.from_args(parse(command, flag, "0,3-4"), known).layers == "0,3-4"


@pytest.mark.parametrize("command", LAYERED)
def test_an_open_range_is_one_error_line(command, tmp_path, capsys):
    argv = [command, *MINIMAL[command], "--layers", "1-"]
    if command == "demo":
        argv += ["--out", str(tmp_path / "demo")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == "error: layers '1-': use all, N, N,M or N-M (e.g. 0,6,12 or 3-9)\n"
    assert not (tmp_path / "demo").exists()  # refused before any work


@pytest.mark.parametrize("command, flag, group", [
    ("probe", "--classifier", ProbeOptions), ("baselines", "--classifier", BaselineOptions),
    ("run", "--classifier", ProbeOptions), ("run", "--baseline-classifier", BaselineOptions),
    ("demo", "--classifier", ProbeOptions), ("demo", "--baseline-classifier", BaselineOptions),
    ("compare", "--classifier", CompareOptions),
])
def test_classifier_is_a_list_everywhere(command, flag, group):
    assert group.from_args(parse(command, flag, "logreg,ridge"), known).classifiers == ("logreg", "ridge")
    every = group(classifiers="all").validated(known).classifiers
    assert group.from_args(parse(command, flag, "all"), known).classifiers == every


def test_run_passes_every_probe_baseline_protocol_and_encoder_option(monkeypatch, tmp_path):
    calls = []

    def fake_run(data, out, **options):
        calls.append((data, out, options))
        return {"report.html": Path(out) / "report.html"}

    monkeypatch.setattr(pipeline, "run", fake_run)
    monkeypatch.setattr(pipeline, "print_headline", lambda run_dir: None)
    assert cli.main(["run", "data.csv", "--out", str(tmp_path), "--model", "m", "--layers", "0-2", "--dtype", "float16",
                     "--group-column", "spk", "--classifier", "ridge", "--save-model", "--features", "mfcc,logmel",
                     "--baseline-classifier", "logreg", "--cv", "loso", "--folds", "3", "--seed", "4",
                     "--refit", "train+validation", "--class-weight", "balanced", "--permutations", "9",
                     "--n-jobs", "1", "--learning-curve", "1,0.25,0.5", "--curve-unit", "groups",
                     "--curve-repeats", "2", "--mdl", "--mdl-orders", "2", "--quiet"]) == 0
    [(data, out, options)] = calls
    assert options["extract"] == ExtractOptions(model="m", layers="0-2", dtype="float16")
    assert options["columns"] == ColumnOptions(group_column="spk")
    assert options["probe"] == ProbeOptions(classifiers=("ridge",), save_model=True)
    assert options["baseline"] == BaselineOptions(features=("mfcc", "logmel"), classifiers=("logreg",))
    assert options["protocol"] == ProtocolOptions(cv="loso", folds=3, seed=4, refit="train+validation")
    assert options["fit"] == FitOptions(class_weight="balanced", permutations=9, n_jobs=1)
    assert options["curve"] == CurveOptions(learning_curve=(0.25, 0.5, 1.0), curve_unit="groups", curve_repeats=2)
    assert options["mdl"] == MdlOptions(mdl=True, mdl_orders=2)
    assert options["progress"] is False


def test_every_registry_an_option_names_publishes_its_names():
    import dataclasses

    from layerprobe import options
    from layerprobe.extract.engines import ENGINES
    from layerprobe.probes.classifiers import CLASSIFIERS

    groups = [value for value in vars(options).values()
              if isinstance(value, type) and issubclass(value, options.OptionGroup)]
    named = {spec.metadata["choices"].registry for group in groups for spec in dataclasses.fields(group)
             if isinstance(spec.metadata.get("choices"), options.Registered)}
    assert named == {"protocol", "refit", "class weight", "classifier", "baseline classifier", "pooling", "engine",
                     "solver", "rung"}
    assert all(known(name) for name in named)
    assert known("classifier") == (*CLASSIFIERS, "mlp", "weighted-sum") and known("classifier in all") == tuple(CLASSIFIERS)
    assert known("engine") == tuple(ENGINES) == ("process", "ray") and known("solver") == ("fast", "reference")
    assert known("rung") == ("frozen-head", "top-k", "lora", "full")


def test_finetune_takes_its_lists_as_the_api_does():
    args = parse("finetune", "--rungs", "lora,top-k", "--learning-rates", "1e-3", "--lora-targets", "q_proj")
    assert FinetuneOptions.from_args(args, known) == FinetuneOptions(rungs=("lora", "top-k"), learning_rates=(1e-3,),
                                                                     lora_targets=("q_proj",))
    validated = FinetuneOptions(rungs="lora,top-k", learning_rates=1e-3, lora_targets="q_proj").validated(known)
    assert validated == FinetuneOptions.from_args(args, known)
