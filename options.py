"""Every option group, defined once: its fields and defaults, its command-line flags, its API keywords,
and how each value is checked.

Each group is a frozen dataclass of plain data. Its fields declare their checks (`option(type=...,
choices=...)`): `add_arguments(parser, Group, known)` turns them into flags that argparse checks as
it parses, and `group.validated(known)` applies the same checks to values given to the API. Both
happen once, at the boundary (the commands and layerprobe.api); the stages take validated groups.

A field whose choices are a stage's registry (the classifiers, the protocols, the engines) names it
(`Registered("classifier")`): `known` says what each registry holds (layerprobe.registries asks the
stages), so that this module imports no stage.

The API functions take the same fields as keyword-only parameters whose defaults are the group's
(`cv: str = ProtocolOptions.cv`), so the CLI, the API and the group cannot disagree. A new option is
one more field here (with its help), or one more group that the commands add.
"""
from __future__ import annotations

import argparse
import math
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, asdict, dataclass, field, fields, replace
from typing import Any, TypeVar

from layerprobe.data.audio import MAX_SECONDS
from layerprobe.errors import UserError
from layerprobe.layer_spec import parse_layers

Group = TypeVar("Group", bound="OptionGroup")
# The names a registry publishes, by the registry's key ("classifier", "protocol", ...).
Known = Callable[[str], Sequence[str]]


# --- converters: argparse applies them to a flag's text, validated() to an API value --------------

def _integer(value: Any) -> int:
    return int(value) if isinstance(value, str) else operator.index(value)  # 2.5 is refused, not truncated


def integer_at_least(minimum: int) -> Callable[[Any], int]:
    """An integer >= minimum."""

    def integer(text: Any) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is less than {minimum}")
        return value

    return integer


def seed_number(text: Any) -> int:
    """A seed numpy accepts everywhere (0 .. 2**32 - 1)."""
    value = _integer(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text} is not in 0..{2**32 - 1}")
    return value


def worker_count(text: Any) -> int:
    """joblib's n_jobs: a positive count or -1 (all cores)."""
    value = _integer(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of workers, or -1 for all cores")
    return value


def positive_number(text: Any) -> float:
    """A positive finite number."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return value


def non_negative_number(text: Any) -> float:
    """A finite number >= 0."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def precision_value(text: Any) -> float:
    """A precision in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def positive_numbers(value: str | float | Sequence[float]) -> tuple[float, ...]:
    """One or more positive finite numbers: "1e-4,1e-3", 0.001 or a sequence -> (0.0001, 0.001)."""
    items = name_list(value) if isinstance(value, str) else (value,) if isinstance(value, (int, float)) else value
    numbers = tuple(positive_number(item) for item in items)
    if not numbers:
        raise argparse.ArgumentTypeError("give at least one number")
    return numbers


def name_list(value: str | Sequence[str]) -> tuple[str, ...]:
    """A comma-separated list or a sequence: "mfcc, logmel" -> ("mfcc", "logmel")."""
    names = value.replace(" ", "").split(",") if isinstance(value, str) else [str(name) for name in value]
    return tuple(name for name in names if name)


def layer_syntax(layers: Any) -> Any:
    """The layers as given, once "1-" or "two" has been refused (a UserError naming the syntax)."""
    layer_indices(layers)
    return layers


def layer_indices(layers: str | int | Sequence[int]) -> list[int] | None:
    """"all" -> None; 3 -> [3]; "0,3-5" or [0, 3, 4, 5] -> [0, 3, 4, 5]. Raises UserError on "1-" and the like."""
    if isinstance(layers, str):
        return parse_layers(layers)
    if isinstance(layers, int):
        return [layers]
    return sorted({int(layer) for layer in layers})


def chosen(value: str | Sequence[str], known: Sequence[str], what: str, *,
           every: Sequence[str] | None = None) -> tuple[str, ...]:
    """Names from a list option: "all" (`every`, default every known name), one name, "a,b" or a
    sequence; an unknown one is refused."""
    wanted = name_list(value)
    if wanted == ("all",):
        return tuple(known if every is None else every)
    if not wanted:
        raise argparse.ArgumentTypeError(f"no {what} given; choose from {', '.join(known)}, all")
    for name in wanted:
        if name not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {name!r}; choose from {', '.join(known)}, all")
    return tuple(dict.fromkeys(wanted))


# --- fields ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Registered:
    """The choices of a field are the names a stage's registry publishes (see Known)."""

    registry: str
    every: str | None = None  # the registry of the names "all" stands for (default: every name)


def option(default: Any, help: str, *, flags: Sequence[str] = (), type: Callable | None = None,
           choices: Sequence | Registered | None = None, many: bool = False, check: Callable | None = None,
           metavar: str | None = None) -> Any:
    """A dataclass field that is also a flag: --NAME (or `flags`), its help, and its checks.

    type: converts a flag's text (and checks an API value). choices: the values allowed, or the
    registry holding them. many: a comma-separated list of those choices (or a sequence), "all" for
    every one. check: a check after parsing that raises UserError itself (the layers' syntax).
    """
    return field(default=default, metadata={"help": help, "flags": tuple(flags), "type": type, "choices": choices,
                                            "many": many, "check": check, "metavar": metavar})


def _names(choices: Sequence | Registered | None, known: Known) -> tuple | None:
    return tuple(known(choices.registry)) if isinstance(choices, Registered) else choices and tuple(choices)


def _converter(spec: Field, known: Known) -> Callable[[Any], Any] | None:
    """What turns a flag's text or an API value into the field's value, raising on a bad one."""
    meta = spec.metadata
    if meta["many"]:
        names = _names(meta["choices"], known)
        what = spec.name.removesuffix("s")
        every = meta["choices"].every if isinstance(meta["choices"], Registered) else None
        return name_list if names is None else lambda value: chosen(value, names, what,
                                                                    every=every and known(every))
    return meta["type"]


def _flag(spec: Field) -> str:
    return (spec.metadata["flags"] or (f"--{spec.name.replace('_', '-')}",))[0]


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_arguments(parser: argparse.ArgumentParser, group: type[OptionGroup], known: Known, *,
                  skip: Sequence[str] = (), flags: Mapping[str, Sequence[str]] | None = None) -> None:
    """Add the group's fields as flags, in an argument group titled by the group's docstring.

    known: the names each registry holds (layerprobe.registries.known). skip: fields this command
    does not take (they keep their defaults in from_args). flags: other flag names for some fields in
    this command (`run` says --baseline-classifier where `baselines` says --classifier). A store_true
    flag is a field whose default is False.
    """
    specs = [spec for spec in fields(group) if "help" in spec.metadata and spec.name not in skip]
    if not specs:
        return
    section = parser.add_argument_group(group.title, group.__doc__)
    for spec in specs:
        meta = spec.metadata
        flag_names = tuple((flags or {}).get(spec.name, ())) or meta["flags"] or (f"--{spec.name.replace('_', '-')}",)
        shown = "" if spec.default is None or spec.default is False else f" (default: {_shown(spec.default)})"
        kwargs: dict[str, Any] = dict(dest=group.dest(spec.name), default=spec.default, help=meta["help"] + shown)
        if spec.default is False:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = _converter(spec, known)
            if meta["choices"] and not meta["many"]:
                kwargs["choices"] = list(_names(meta["choices"], known))
            else:
                kwargs["metavar"] = meta["metavar"] or spec.name.upper()
        section.add_argument(*flag_names, **kwargs)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """--quiet, the same on every command (the API's progress=False)."""
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars and no 'wrote FILE' lines; warnings and results still show")


@dataclass(frozen=True)
class OptionGroup:
    """The shared behaviour of the groups below."""

    title = ""

    @classmethod
    def dest(cls, name: str) -> str:
        # Qualified, so that two groups of one command may hold fields of one name (run: classifiers).
        return f"{cls.__name__}.{name}"

    @classmethod
    def from_args(cls: type[Group], args: argparse.Namespace, known: Known) -> Group:
        """The group as a command parsed it, validated; a field the command skipped keeps its default.

        argparse has converted each flag already; validated() adds the checks after parsing (the
        layers' syntax, and the group's own rules) and leaves converted values as they are.
        """
        values = {spec.name: getattr(args, cls.dest(spec.name), spec.default) for spec in fields(cls)
                  if "help" in spec.metadata}
        return cls(**values).validated(known)

    def validated(self: Group, known: Known) -> Group:
        """The group with every field checked and normalized as its declaration says (a name list as a
        tuple, "all" as every name); a bad value is a UserError naming its flag."""
        values = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if "help" not in spec.metadata or (value is None and spec.default is None):
                continue
            values[spec.name] = _checked(spec, value, known)
        return replace(self, **values)._consistent(known)

    def _consistent(self: Group, known: Known) -> Group:
        """The rules between fields, and normalizations that need the registries (none by default)."""
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def _checked(spec: Field, value: Any, known: Known) -> Any:
    flag = _flag(spec)
    if spec.default is False:
        if not isinstance(value, bool):
            raise UserError(f"{flag}: {value!r} is not True or False")
        return value
    meta = spec.metadata
    convert = _converter(spec, known)
    try:
        if convert is not None:
            value = convert(value)
        names = None if meta["many"] else _names(meta["choices"], known)
        if names is not None and value not in names:
            raise argparse.ArgumentTypeError(f"{value!r}: choose from {', '.join(map(str, names))}")
    except UserError:
        raise
    except (argparse.ArgumentTypeError, ValueError, TypeError) as error:
        raise UserError(f"{flag}: {error}") from None
    return meta["check"](value) if meta["check"] else value


@dataclass(frozen=True)
class ColumnOptions(OptionGroup):
    """Which manifest columns hold the clips' path, label, group and split (None: found by name); how a Speech
    Commands folder (keyword folders beside its validation and testing lists) is read."""

    title = "reading DATA"
    path_column: str | None = option(None, "manifest column with audio paths (default: path)", metavar="COL")
    label_column: str | None = option(None, "manifest column with labels (default: label)", metavar="COL")
    group_column: str | None = option(None, "speaker/actor/session column (default: group, else speaker, speaker_id, "
                                            "client_id, actor)", metavar="COL")
    split_column: str | None = option(None, "train/validation/test column (default: split if present)", metavar="COL")
    split_lists: str | None = option(None, "a Speech Commands folder's validation and testing lists, relative to DATA "
                                           "(default: validation_list.txt,testing_list.txt)",
                                     metavar="VALIDATION.txt,TESTING.txt")
    speech_commands_classes: int = option(35, "Speech Commands: 35, every keyword folder a class, or 12, SUPERB's "
                                              "(10 keywords, _unknown_, _silence_ cut from _background_noise_)",
                                          type=int, choices=(12, 35))


@dataclass(frozen=True)
class ExtractOptions(OptionGroup):
    """The encoder and how it is run over the clips."""

    title = "encoder"
    model: str = option("facebook/wav2vec2-base", "hub id or local folder holding the model")
    revision: str | None = option(None, "hub branch, tag or commit of --model")
    layers: str | int | Sequence[int] = option(
        "all", "hidden_states indices: all, N, N,M or N-M; the transformer runs only as deep as the highest",
        flags=("--layers", "--layer"), check=layer_syntax)
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    dtype: str = option("float32", "compute precision; half precision runs under autocast",
                        choices=("float32", "float16", "bfloat16"))
    chunk_seconds: float = option(30.0, "longer clips are encoded in windows of this length, frame-weighted",
                                  type=positive_number)
    batch_seconds: float | None = option(None, "padded audio seconds per batch (default: 4 on CPU, 256 on GPU)",
                                         type=positive_number)
    pooling: str | Sequence[str] = option(
        ("mean",), "poolings over each clip's frames, comma-separated, all from one encoder pass: mean, std, max; "
        "mean is always stored, in layers/NN, the others in pooled/NAME/NN", choices=Registered("pooling"), many=True,
        metavar="NAMES")
    pad_short: bool = option(False, "zero-pad clips shorter than the encoder's receptive field instead of failing them")
    max_seconds: float = option(MAX_SECONDS, "a longer clip fails as too-long, before it is decoded", type=positive_number)
    strict: bool = option(False, "stop at the first clip that fails")
    overwrite: bool = option(False, "replace a cache made with other settings")
    trust_remote_code: bool = option(False, "allow a hub model's own code")

    @property
    def layer_indices(self) -> list[int] | None:
        """The layers asked for as indices; None for all."""
        return layer_indices(self.layers)

    def _consistent(self, known: Known) -> ExtractOptions:
        # mean is always stored (layers/NN is what every reader expects), the poolings in their registry's order
        poolings = tuple(name for name in known("pooling") if name in self.pooling or name == "mean")
        return replace(self, pooling=poolings)


@dataclass(frozen=True)
class EngineOptions(OptionGroup):
    """Where the work runs: this process, or a Ray cluster (its own flags follow)."""

    title = "engine"
    engine: str = option("process", "process: everything here; ray: on a Ray cluster (extract: Ray Data tasks decode "
                                    "and an actor pool encodes; finetune: each (rung, fold) unit a task), this "
                                    "process the only writer of the cache or results (pip install 'layerprobe[ray]')",
                         choices=Registered("engine"))
    settings: OptionGroup = field(default_factory=OptionGroup)


@dataclass(frozen=True)
class ProtocolOptions(OptionGroup):
    """How the clips are split into training and test parts: probe, baselines and run share it, so they pair."""

    title = "evaluation protocol"
    cv: str = option("auto", "auto uses the dataset's train/(validation/)test split when its train and test share no "
                             "group, else speaker-grouped CV over all clips, else stratified CV",
                     choices=Registered("protocol"))
    folds: int = option(5, "outer folds of the k-fold protocols", type=integer_at_least(2))
    fold_column: str | None = option(None, "a column of predefined folds (clips/COL in the cache, else the manifest's "
                                           "column): each value is one test fold", metavar="COL")
    seed: int = option(0, "seed of every split, shuffle and solver", type=seed_number)
    refit: str = option("train", "with a validation split, refit the chosen hyperparameters on train or "
                                 "train+validation", choices=Registered("refit"))


@dataclass(frozen=True)
class FitOptions(OptionGroup):
    """How each classifier is fitted and tested, for the probes and the baselines alike."""

    title = "fitting"
    class_weight: str = option("none", "none, balanced, or sqrt: min(sqrt(max_count/count), 3)",
                               choices=Registered("class weight"))
    permutations: int = option(0, "label permutations for a p-value per record and a family-wise one (0: none)",
                               type=integer_at_least(0))
    n_jobs: int = option(-1, "parallel workers (-1: all cores)", type=worker_count)

    def result_dict(self) -> dict:
        """The fields the results depend on (not n_jobs): for result documents and the run's stage keys."""
        return {"class_weight": self.class_weight, "permutations": self.permutations}


@dataclass(frozen=True)
class ProbeOptions(OptionGroup):
    """The linear probes: which layers and classifiers, and whether to keep the fitted probes."""

    title = "probes"
    layers: str | int | Sequence[int] = option("all", "layers to probe: all, 11, 3,6,9 or 3-9",
                                               flags=("--layers", "--layer"), check=layer_syntax)
    pooling: str = option("mean", "the stored pooling probed: mean, std, max, or several joined by + (mean+std: "
                                  "their vectors concatenated, statistics pooling)", metavar="NAME[+NAME]")
    classifiers: str | Sequence[str] = option(
        ("logreg", "linear-svm", "ridge"), "probes, comma-separated (or all: logreg, linear-svm, ridge), each after "
        "a StandardScaler fitted on the fitting rows; by name also mlp, and weighted-sum: softmax weights over the "
        "chosen layers (each standardized) and a logistic head trained jointly (SUPERB's protocol), one record "
        "'all' with its layer weights per fold", flags=("--classifier", "--classifiers"),
        choices=Registered("classifier", every="classifier in all"), many=True, metavar="NAMES")
    save_model: bool = option(False, "also refit each probe on all clips and save it as "
                                     "OUT/models/layerNN_CLASSIFIER.npz, and the selected one as "
                                     "OUT/models/selected.npz")
    solver: str = option("fast", "fast: the probes' own solvers; reference: the scikit-learn fits they are tested "
                                 "against (slower; mlp is scikit-learn's either way)",
                         choices=Registered("solver"))

    @property
    def layer_indices(self) -> list[int] | None:
        """The layers asked for as indices; None for every layer of the cache."""
        return layer_indices(self.layers)


@dataclass(frozen=True)
class BaselineOptions(OptionGroup):
    """The hand-made baselines: which features and classifiers (chance is always added)."""

    title = "baselines"
    features: str | Sequence[str] = option(("mfcc",), "hand-made features, comma-separated: mfcc, logmel, egemaps "
                                                      "(egemaps needs the egemaps extra)", many=True, metavar="NAMES")
    # The probes' own linear classifiers by default, which fit Speech Commands size in minutes
    # (bench/baselines_scale.py). svm-rbf, the MFCC + SVM baseline, fits a 30-point grid of kernel
    # SVMs whose cost grows with the square of the clips or faster: the former default took 1,765 s
    # of FSDD's run (3,000 clips), and hours at 105,000.
    classifiers: str | Sequence[str] = option(
        ("logreg", "linear-svm", "ridge"), "baseline classifiers, comma-separated (or all): logreg, linear-svm, "
        "ridge, and svm-rbf (the RBF SVM over C x gamma, on request: its time grows with the square of the clips "
        "or faster); majority and stratified-random chance are always added", flags=("--classifier", "--classifiers"),
        choices=Registered("baseline classifier"), many=True, metavar="NAMES")

    def _consistent(self, known: Known) -> BaselineOptions:
        if not self.features:
            raise UserError("--features names no feature; give one or more of mfcc, logmel, egemaps")
        return self


@dataclass(frozen=True)
class LabelOptions(OptionGroup):
    """Which labels are probed: clips/label, another clips/ column, or a label table joined to the clips by id."""

    title = "labels"
    labels: str | None = option(None, "a CSV/TSV label table joined to the cache's clips by id (else path), the cache "
                                      "unchanged; clips missing from it are left out and counted", type=os.fspath,
                                metavar="TABLE")
    label_column: str | None = option(None, "the labels probed: a column of --labels, else a clips/ column of the "
                                            "cache such as group, the speaker confound check (default: label)",
                                      metavar="COL")
    id_column: str | None = option(None, "the --labels column matched to clips/id, then clips/path (default: id, "
                                         "else path)", metavar="COL")


def one_label_column(columns: ColumnOptions, labels: LabelOptions, *, manifest: bool = True
                     ) -> tuple[ColumnOptions, LabelOptions]:
    """run and baselines take one --label-column for the manifest and the probed labels alike.

    From a manifest (manifest True) it names the manifest's label column, which becomes clips/label,
    unless a --labels table is given: then it names the table's column and the manifest's label
    column is found by its default name. On a cache (manifest False) it names the labels probed, as
    for probe.
    """
    if manifest and labels.labels is None:
        return columns, labels
    return replace(columns, label_column=None), replace(labels, label_column=columns.label_column)


@dataclass(frozen=True)
class DetectionOptions(OptionGroup):
    """The detection figures of two classes (ROC-AUC and average precision are always reported)."""

    title = "detection"
    positive_class: str | None = option(None, "two classes: the class whose ROC-AUC, average precision and recall "
                                              "are reported (default: the second in sorted order)", metavar="NAME")
    at_precision: float | None = option(None, "two classes: also report the positive class's recall at precision P, "
                                              "e.g. 0.9", type=precision_value, metavar="P")



@dataclass(frozen=True)
class MdlOptions(OptionGroup):
    """The labels' minimum description length per layer: the online code of Voita & Titov 2020, coded by logreg."""

    title = "minimum description length"
    mdl: bool = option(False, "also give each layer's logreg record the online codelength of its labels (bits), the "
                              "uniform codelength and their ratio, the compression")
    mdl_orders: int = option(3, "--mdl: seeded orderings of the clips the codelength is averaged over",
                             type=integer_at_least(1))

    def _consistent(self, known: Known) -> MdlOptions:
        if self.mdl_orders != MdlOptions.mdl_orders and not self.mdl:
            raise UserError(f"--mdl-orders {self.mdl_orders} needs --mdl")
        return self

    def result_dict(self) -> dict:
        """The fields a result depends on: none without --mdl, so a run without it keeps its results and keys."""
        return self.to_dict() if self.mdl else {}


def fraction_list(value: str | float | Sequence[float]) -> tuple[float, ...]:
    """Training fractions, each in (0, 1]: "0.1,0.5,1", 0.5 or [0.1, 0.5, 1] -> (0.1, 0.5, 1.0), sorted, once each."""
    texts = value.replace(" ", "").split(",") if isinstance(value, str) else \
        [value] if isinstance(value, (int, float)) else list(value)
    fractions = []
    for text in texts:
        try:
            fraction = float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; give fractions in (0, 1] such as "
                                             "0.1,0.25,0.5,1") from None
        if not 0 < fraction <= 1:
            raise argparse.ArgumentTypeError(f"{text} is not a fraction in (0, 1]")
        fractions.append(fraction)
    if not fractions:
        raise argparse.ArgumentTypeError("no fraction given; give fractions in (0, 1] such as 0.1,0.25,0.5,1")
    return tuple(sorted(set(fractions)))


@dataclass(frozen=True)
class CurveOptions(OptionGroup):
    """Learning curves: each outer training part subsampled, the probe tuned and fitted on the subsample,
    scored on the full outer test part."""

    title = "learning curve"
    learning_curve: Sequence[float] | None = option(
        None, "training fractions in (0, 1], e.g. 0.05,0.1,0.25,0.5,1: each outer training part is subsampled to "
        "each fraction and every probe is tuned, fitted and tested again (the cost of the sweep per fraction and "
        "repeat)", type=fraction_list, metavar="FRACTIONS")
    curve_unit: str = option("clips", "what a learning curve subsamples: clips (stratified by class) or groups "
                                      "(whole speakers, stratified by their majority class)",
                             choices=("clips", "groups"))
    curve_repeats: int = option(3, "subsamples drawn per fraction (seeded from --seed); the whole training part "
                                   "is drawn once", type=integer_at_least(1))

    def result_dict(self) -> dict:
        """The fields the results depend on; empty without a curve, so that a run without one keeps the
        documents and stage keys it had before curves existed."""
        return {} if self.learning_curve is None else self.to_dict()


def same_option(group: type[OptionGroup], name: str, **changes: Any) -> Any:
    """Another group's field of that name, declared once there: its flag, help and checks, with `changes`
    (a `default`) applied; for a command that takes it with a default of its own."""
    spec = next(spec for spec in fields(group) if spec.name == name)
    return field(default=changes.pop("default", spec.default), metadata={**spec.metadata, **changes})


@dataclass(frozen=True)
class CompareOptions(OptionGroup):
    """The probes of every compared encoder: probe's --layers, --pooling, --classifier and --solver, with logreg
    and the learned weighted sum of the layers by default."""

    title = "probes of each encoder"
    layers: str | int | Sequence[int] = same_option(ProbeOptions, "layers")
    pooling: str = same_option(ProbeOptions, "pooling")
    classifiers: str | Sequence[str] = same_option(ProbeOptions, "classifiers", default=("logreg", "weighted-sum"))
    solver: str = same_option(ProbeOptions, "solver")

    @property
    def layer_indices(self) -> list[int] | None:
        """The layers asked for as indices (every encoder's); None for every layer of each cache."""
        return layer_indices(self.layers)


@dataclass(frozen=True)
class FinetuneOptions(OptionGroup):
    """The adaptation ladder: which rungs train, and how, on the probes' own outer folds (the inner split of each
    training part chooses the learning rate and the stopping epoch)."""

    title = "fine-tuning"
    rungs: str | Sequence[str] = option(
        ("frozen-head", "top-k", "lora", "full"), "rungs of the ladder, comma-separated (or all): frozen-head (learned "
        "weighted sum of the frozen layers + linear head), top-k (the top --unfreeze blocks train), lora, full",
        choices=Registered("rung"), many=True, metavar="NAMES")
    model: str | None = option(None, "the encoder's folder or hub id (default: the cache's model); its fingerprint "
                                     "must be the cache's", metavar="ID|DIR")
    unfreeze: int = option(2, "top-k: the transformer blocks trained, counted from the top", type=integer_at_least(1))
    lora_rank: int = option(8, "lora: the rank of each adapter", type=integer_at_least(1))
    lora_alpha: float = option(16.0, "lora: the adapters' scaling alpha", type=positive_number)
    lora_targets: str | Sequence[str] = option(("q_proj", "v_proj"), "lora: the modules adapted, comma-separated "
                                               "(the wav2vec2 family's attention projections q_proj, k_proj, v_proj, "
                                               "out_proj)", many=True, metavar="NAMES")
    train_feature_encoder: bool = option(False, "full: train the CNN feature encoder too (frozen by default, as the "
                                                "Hugging Face recipe does)")
    learning_rates: float | Sequence[float] = option((1e-4, 1e-3), "the grid the inner split chooses from, "
                                                                   "comma-separated", type=positive_numbers,
                                                     metavar="LRS")
    epochs: int = option(10, "epochs at most; the inner split chooses the stopping epoch", type=integer_at_least(1))
    batch_size: int = option(8, "clips per training batch", type=integer_at_least(1))
    max_grad_norm: float = option(1.0, "gradients clipped to this norm", type=positive_number)
    schedule: str = option("linear-warmup", "learning-rate schedule: linear-warmup (10%% warm-up, then linear decay) "
                                            "or tri-stage (10%% warm-up, 40%% hold, 50%% decay)",
                           choices=("linear-warmup", "tri-stage"))
    device: str = option("auto", "auto (cuda when there is one), cpu or cuda; mixed precision (bfloat16) on cuda only",
                         choices=("auto", "cpu", "cuda"))
    bottom_gb: float = option(20.0, "the most disk stored frames may take, in GB: top-k's frozen bottom's (beyond "
                                    "it, an error), lora's and full's frozen CNN's (beyond it, the CNN runs every "
                                    "step)", type=positive_number)

    def _consistent(self, known: Known) -> FinetuneOptions:
        if not self.lora_targets:
            raise UserError("--lora-targets names no module; give e.g. q_proj,v_proj")
        return self
