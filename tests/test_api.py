"""The notebook API: plain functions with real signatures, their defaults the option groups', and
subpackages that never replace them."""
from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys

import pytest

import layerprobe
from layerprobe.errors import UserError
from layerprobe.extract.ray_engine import RayOptions
from layerprobe.options import (BaselineOptions, ColumnOptions, CompareOptions, CurveOptions, DetectionOptions,
                                EngineOptions, ExtractOptions, FinetuneOptions, FitOptions, LabelOptions, MdlOptions, ProbeOptions, ProtocolOptions)
from layerprobe.registries import known

DATA_ARGUMENTS = {"extract_embeddings": ["data", "out"], "probe": ["cache"], "run_baselines": ["cache"],
                  "run": ["data", "out"], "compare": ["inputs", "out"],
                  "run_finetune": ["source", "out"], "load_cache": ["path"]}
# Where each API keyword's default is defined; run names the baselines' classifiers baseline_classifiers.
GROUPS = {
    "extract_embeddings": [ExtractOptions, ColumnOptions, EngineOptions, RayOptions],
    "probe": [ProbeOptions, ProtocolOptions, FitOptions, LabelOptions, DetectionOptions, CurveOptions, MdlOptions],
    "run_baselines": [BaselineOptions, ProtocolOptions, FitOptions, LabelOptions, DetectionOptions, CurveOptions,
                      MdlOptions],
    "run": [ExtractOptions, ColumnOptions, EngineOptions, RayOptions, ProbeOptions, BaselineOptions, ProtocolOptions,
            FitOptions, LabelOptions, DetectionOptions, CurveOptions, MdlOptions],
    "compare": [CompareOptions, ProtocolOptions, FitOptions, LabelOptions, DetectionOptions],
    "run_finetune": [FinetuneOptions, ProtocolOptions, FitOptions, LabelOptions, EngineOptions, RayOptions],
}
RENAMED = {("run", "baseline_classifiers"): (BaselineOptions, "classifiers"),
           ("run", "probe_pooling"): (ProbeOptions, "pooling")}


@pytest.mark.parametrize("name", layerprobe.__all__)
def test_each_api_function_has_a_real_signature_keyword_only_after_its_data(name):
    function = getattr(layerprobe, name)
    assert inspect.isfunction(function)
    parameters = list(inspect.signature(function).parameters.values())
    positional = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == DATA_ARGUMENTS[name]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[len(positional):])
    # numpydoc: every parameter is described under "Parameters"
    doc = inspect.getdoc(function)
    described = doc.split("Parameters\n----------\n")[1].split("\n\n")[0]
    for parameter in parameters:
        assert parameter.name in described, f"{name}: {parameter.name} is not described"


@pytest.mark.parametrize("name", list(GROUPS))
def test_api_defaults_are_the_option_groups_defaults_and_cover_every_field(name):
    parameters = inspect.signature(getattr(layerprobe, name)).parameters
    covered = set()
    for parameter in parameters.values():
        group, field = RENAMED.get((name, parameter.name), (None, parameter.name))
        for candidate in [group] if group else GROUPS[name]:
            defaults = {f.name: f.default for f in dataclasses.fields(candidate)}
            if field in defaults:
                assert parameter.default == defaults[field], (name, parameter.name)
                covered.add((candidate, field))
                break
    # run probes every extracted layer, and its one --label-column is the manifest's (options.one_label_column);
    # an engine's settings are its own group's fields (RayOptions), not a keyword
    skipped = {(ProbeOptions, "layers"), (LabelOptions, "label_column")} if name == "run" else set()
    skipped |= {(EngineOptions, "settings")}
    if name == "run_finetune":  # the ladder takes the probes' fitting options but these two
        skipped |= {(FitOptions, "permutations"), (FitOptions, "n_jobs")}
    every = {(group, f.name) for group in GROUPS[name] for f in dataclasses.fields(group)}
    assert every - skipped == covered


def test_subpackages_stay_importable_and_never_replace_the_functions():
    code = (
        "import layerprobe, inspect\n"
        "import layerprobe.baselines.run, layerprobe.baselines.cli, layerprobe.extract.cli, layerprobe.probes.cli\n"
        "import layerprobe.report.cli, layerprobe.data.reader, layerprobe.pipeline, layerprobe.cli\n"
        "from layerprobe.baselines import compute, run\n"
        "from layerprobe.baselines.run import evaluate_baselines\n"
        "import sys\n"
        "assert sys.modules['layerprobe.baselines'].run is sys.modules['layerprobe.baselines.run']\n"
        "import layerprobe.baselines.run as r\n"
        "assert r is sys.modules['layerprobe.baselines.run'] and layerprobe.baselines.run.evaluate_baselines\n"
        "assert inspect.ismodule(layerprobe.baselines) and inspect.isfunction(layerprobe.run_baselines)\n"
        "assert all(inspect.isfunction(getattr(layerprobe, name)) for name in layerprobe.__all__)\n"
        "assert inspect.ismodule(layerprobe.extract) and inspect.ismodule(layerprobe.probes)\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"  # and importing every CPU stage does not import torch


STAGES = ["layerprobe.extract.runner:extract", "layerprobe.probes.sweep:sweep", "layerprobe.probes.study:study",
          "layerprobe.probes.stage:probe_stage", "layerprobe.baselines.run:evaluate_baselines",
          "layerprobe.probes.sweep:cache_folds", "layerprobe.pipeline:run",
          "layerprobe.probes.compare:compare_encoders"]
# Keywords of the stages that are no option of a group: how a stage reports, data with a default, and
# baselines' own --overwrite (a stored feature recomputed).
NOT_OPTIONS = {"progress", "progress_label", "command", "out", "overwrite", "random_init", "selections", "detection",
               "target"}


@pytest.mark.parametrize("stage", STAGES)
def test_stages_take_the_validated_groups_and_declare_no_option_default_again(stage):
    import importlib

    module, name = stage.split(":")
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    for parameter in parameters.values():
        every_group = tuple({group for groups in GROUPS.values() for group in groups})
        if parameter.default is inspect.Parameter.empty or isinstance(parameter.default, every_group):
            continue  # the data, or a group
        assert parameter.name in NOT_OPTIONS, f"{stage} declares the option {parameter.name} again"


def test_the_api_checks_a_value_as_the_command_line_does(tmp_path, capsys):
    from layerprobe.probes.cli import main

    with pytest.raises(UserError, match="^--folds: 1 is less than 2$"):
        layerprobe.probe(tmp_path / "c.h5", folds=1)
    assert main([str(tmp_path / "c.h5"), "--folds", "1"]) == 2
    assert capsys.readouterr().err == "error: probe: argument --folds: 1 is less than 2\n"
    with pytest.raises(UserError, match=r"^--cv: 'speaker': choose from auto, split"):
        layerprobe.run_baselines(tmp_path / "c.h5", cv="speaker")
    with pytest.raises(UserError, match="^--workers needs --engine ray$"):
        layerprobe.extract_embeddings(tmp_path, tmp_path / "c.h5", workers=2)
    with pytest.raises(UserError, match="^--n-jobs: 0: give a positive number of workers"):
        layerprobe.run(tmp_path, tmp_path / "run", n_jobs=0)
    assert not (tmp_path / "run").exists()  # refused before any work


def test_list_options_take_a_name_a_comma_list_a_sequence_or_all():
    def probe(**values):
        return ProbeOptions(**values).validated(known)

    assert probe(classifiers="ridge").classifiers == ("ridge",)
    assert probe(classifiers="ridge,logreg").classifiers == ("ridge", "logreg")
    assert probe(classifiers=["logreg"]).classifiers == ("logreg",)
    assert probe(classifiers="all").classifiers == ("logreg", "linear-svm", "ridge")
    assert BaselineOptions(classifiers="all").validated(known).classifiers == ("svm-rbf", "logreg", "linear-svm",
                                                                               "ridge")
    assert BaselineOptions(features="logmel").validated(known).features == ("logmel",)
    assert BaselineOptions(features="mfcc,logmel").validated(known).features == ("mfcc", "logmel")
    assert ExtractOptions(pooling="max,std").validated(known).pooling == ("mean", "std", "max")
    with pytest.raises(UserError, match="^--classifier: unknown classifier 'svm-rbf'; choose from logreg"):
        probe(classifiers="svm-rbf")
    with pytest.raises(UserError, match="layers '1-': use all"):
        probe(layers="1-")


def test_the_api_probe_returns_and_writes_what_the_probe_command_prints_and_writes(tmp_path, planted_probe_cache,
                                                                                   capsys):
    from layerprobe.probes.cli import main
    from layerprobe.probes.sweep import records_frame
    from layerprobe.results import Document, Record

    result = layerprobe.probe(planted_probe_cache, layers="1-2", classifiers="ridge,logreg", save_model=True,
                              out=tmp_path / "api", n_jobs=1, progress=False)
    capsys.readouterr()
    assert main([str(planted_probe_cache), "--layers", "1-2", "--classifier", "ridge,logreg", "--save-model",
                 "--format", "json", "--out", str(tmp_path / "cli"), "--n-jobs", "1", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    documents = [json.loads((tmp_path / side / "probe_results.json").read_text()) for side in ("api", "cli")]
    assert documents[0] == documents[1] == printed == json.loads(json.dumps(result.to_dict()))
    assert all(isinstance(record, Record) for record in result.results)
    assert result.protocol_reason == printed["protocol_reason"] and result.warnings == printed["warnings"]
    frame = result.frame()
    assert frame.equals(records_frame(Document.from_dict(documents[1]).results))
    assert frame["layer"].tolist() == [1, 1, 2, 2, "selected", "selected", "selected"]
    for side in ("api", "cli"):
        assert sorted(p.name for p in (tmp_path / side / "models").iterdir()) == [
            "layer01_logreg.npz", "layer01_ridge.npz", "layer02_logreg.npz", "layer02_ridge.npz", "selected.npz"]


def test_probe_on_a_cache_without_groups_raises_the_leak_as_a_python_warning(tmp_path):
    from conftest import planted_data, write_probe_cache

    from layerprobe.errors import LeakWarning

    labels, _, layers = planted_data()
    cache = write_probe_cache(tmp_path / "c.h5", {2: layers[2]}, labels)
    with pytest.warns(LeakWarning, match="^no groups: stratified CV may put clips of one speaker in both train"):
        result = layerprobe.probe(cache, layers=2, classifiers="ridge", n_jobs=1, progress=False)
    assert len(result.frame()) == 2 and result.leak in result.warnings


def test_user_error_is_a_value_error():
    assert issubclass(UserError, ValueError)
