"""Every option group, defined once: its fields and defaults, its command-line flags, its API keywords.

Each group is a frozen dataclass. `add_arguments(parser, Group)` derives the flags from its fields
(the help shows each default), `Group.from_args(namespace)` reads them back, and the API functions
in layerprobe.api take the same fields as keyword-only parameters whose defaults are the group's
(`cv: str = ProtocolOptions.cv`), so the CLI, the API and the group cannot disagree.

A new option is one more field here (with its help), or one more group that the commands add.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from layerprobe.data.audio import MAX_SECONDS
from layerprobe.errors import UserError
from layerprobe.layer_spec import parse_layers

if TYPE_CHECKING:
    from layerprobe.extract.ray_engine import RayEngine

Group = TypeVar("Group", bound="OptionGroup")
ENGINES = ("process", "ray")


# --- argparse types: a bad value is refused before any work starts -------------------------------

def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An integer >= minimum."""

    def integer(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is less than {minimum}")
        return value

    return integer


def seed_number(text: str) -> int:
    """A seed numpy accepts everywhere (0 .. 2**32 - 1)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text} is not in 0..{2**32 - 1}")
    return value


def worker_count(text: str) -> int:
    """joblib's n_jobs: a positive count or -1 (all cores)."""
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of workers, or -1 for all cores")
    return value


def positive_number(text: str) -> float:
    """A positive finite number."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return value


def non_negative_number(text: str) -> float:
    """A finite number >= 0."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def precision_value(text: str) -> float:
    """A precision in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def pooling_names(text: str) -> tuple[str, ...]:
    """extract's poolings: "std,max" -> ("mean", "std", "max") (mean is always stored)."""
    from layerprobe.extract.pooling import parse_poolings  # no torch: only the names

    try:
        return parse_poolings(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--pooling ")) from None


def name_list(text: str) -> tuple[str, ...]:
    """A comma-separated list: "mfcc, logmel" -> ("mfcc", "logmel")."""
    return tuple(name for name in text.replace(" ", "").split(",") if name)


# --- the choices, read from the modules that own them only when a parser or a check needs them ---
# (importing them costs seconds of scikit-learn and librosa; `import layerprobe` stays light)

def protocols() -> list[str]:
    from layerprobe.probes.protocols import PROTOCOLS

    return ["auto", *PROTOCOLS]


def refits() -> list[str]:
    from layerprobe.probes.protocols import REFITS

    return list(REFITS)


def class_weights() -> list[str]:
    from layerprobe.probes.spec import CLASS_WEIGHTS

    return list(CLASS_WEIGHTS)


def probe_classifiers() -> list[str]:
    from layerprobe.probes.registry import probe_names

    return probe_names()


def solvers() -> list[str]:
    from layerprobe.probes.registry import SOLVERS

    return list(SOLVERS)


def baseline_classifiers() -> list[str]:
    from layerprobe.baselines.classifiers import BASELINE_CLASSIFIERS

    return list(BASELINE_CLASSIFIERS)


def option(default: Any, help: str, *, flags: Sequence[str] = (), type: Callable | None = None,
           choices: Callable[[], list[str]] | None = None, metavar: str | None = None) -> Any:
    """A dataclass field that is also a flag: --NAME (or `flags`), its help, its argparse type and choices."""
    return field(default=default, metadata={"help": help, "flags": tuple(flags), "type": type, "choices": choices,
                                            "metavar": metavar})


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_arguments(parser: argparse.ArgumentParser, group: type[OptionGroup], *, skip: Sequence[str] = (),
                  flags: Mapping[str, Sequence[str]] | None = None) -> None:
    """Add the group's fields as flags, in an argument group titled by the group's docstring.

    skip: fields this command does not take (they keep their defaults in from_args). flags: other
    flag names for some fields in this command (`run` says --baseline-classifier where `baselines`
    says --classifier). A store_true flag is a field whose default is False.
    """
    section = parser.add_argument_group(group.title, group.__doc__)
    for spec in fields(group):
        if spec.name in skip:
            continue
        meta = spec.metadata
        flag_names = tuple((flags or {}).get(spec.name, ())) or meta["flags"] or (f"--{spec.name.replace('_', '-')}",)
        shown = "" if spec.default is None or spec.default is False else f" (default: {_shown(spec.default)})"
        kwargs: dict[str, Any] = dict(dest=group.dest(spec.name), default=spec.default, help=meta["help"] + shown)
        if spec.default is False:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = meta["type"]
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]()
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
    def from_args(cls: type[Group], args: argparse.Namespace) -> Group:
        """The group as a command parsed it; a field the command skipped keeps its default."""
        return cls(**{spec.name: getattr(args, cls.dest(spec.name), spec.default) for spec in fields(cls)})

    def to_dict(self) -> dict:
        return asdict(self)


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
                                          type=int, choices=lambda: [12, 35])


@dataclass(frozen=True)
class ExtractOptions(OptionGroup):
    """The encoder and how it is run over the clips."""

    title = "encoder"
    model: str = option("facebook/wav2vec2-base", "hub id or local folder holding the model")
    revision: str | None = option(None, "hub branch, tag or commit of --model")
    layers: str | int | Sequence[int] = option(
        "all", "hidden_states indices: all, N, N,M or N-M; the transformer runs only as deep as the highest",
        flags=("--layers", "--layer"))
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    dtype: str = option("float32", "compute precision; half precision runs under autocast",
                        choices=lambda: ["float32", "float16", "bfloat16"])
    chunk_seconds: float = option(30.0, "longer clips are encoded in windows of this length, frame-weighted",
                                  type=positive_number)
    batch_seconds: float | None = option(None, "padded audio seconds per batch (default: 4 on CPU, 256 on GPU)",
                                         type=positive_number)
    pooling: str | Sequence[str] = option(
        ("mean",), "poolings over each clip's frames, comma-separated, all from one encoder pass: mean, std, max; "
        "mean is always stored, in layers/NN, the others in pooled/NAME/NN", type=pooling_names, metavar="NAMES")
    pad_short: bool = option(False, "zero-pad clips shorter than the encoder's receptive field instead of failing them")
    max_seconds: float = option(MAX_SECONDS, "a longer clip fails as too-long, before it is decoded", type=positive_number)
    strict: bool = option(False, "stop at the first clip that fails")
    overwrite: bool = option(False, "replace a cache made with other settings")
    trust_remote_code: bool = option(False, "allow a hub model's own code")

    def __post_init__(self) -> None:
        from layerprobe.extract.pooling import parse_poolings  # no torch: only the names

        layer_indices(self.layers)  # "1-" or "two" is refused before the encoder loads
        object.__setattr__(self, "pooling", parse_poolings(self.pooling))

    def runner_kwargs(self) -> dict:
        """As keyword arguments of layerprobe.extract.runner.extract (layers as indices, None for all)."""
        return {**self.to_dict(), "layers": layer_indices(self.layers)}


@dataclass(frozen=True)
class EngineOptions(OptionGroup):
    """Where the encoder runs: this process, or a Ray cluster (pip install 'layerprobe[ray]')."""

    title = "engine"
    engine: str = option("process", "process: decode and encode here; ray: Ray Data tasks decode and an actor pool "
                                    "encodes, this process writes the cache", choices=lambda: list(ENGINES))
    ray_address: str | None = option(None, "join this Ray cluster (auto, HOST:6379, ray://HOST:10001); default: a "
                                           "local one", metavar="ADDRESS")
    workers: int | None = option(None, "encoder actors (default: one per --gpus-per-worker GPUs of the cluster, 1 "
                                       "without GPUs)", type=integer_at_least(1), metavar="N")
    gpus_per_worker: float | None = option(None, "GPUs per encoder actor (default: 1 where the cluster has GPUs, "
                                                 "else 0)", type=non_negative_number, metavar="G")
    cpus_per_worker: float | None = option(None, "CPUs per encoder actor, its torch threads on the CPU (default: 1)",
                                           type=positive_number, metavar="C")

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise UserError(f"unknown engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        given = [spec.name for spec in fields(self) if spec.name != "engine" and getattr(self, spec.name) is not None]
        if self.engine == "process" and given:
            raise UserError(f"--{given[0].replace('_', '-')} needs --engine ray")

    def ray_engine(self) -> RayEngine | None:
        """None for this process, else the RayEngine asked for (it says how to install Ray if absent)."""
        if self.engine == "process":
            return None
        from layerprobe.extract.ray_engine import RayEngine

        return RayEngine(address=self.ray_address, workers=self.workers, gpus_per_worker=self.gpus_per_worker,
                         cpus_per_worker=self.cpus_per_worker or 1.0)


@dataclass(frozen=True)
class ProtocolOptions(OptionGroup):
    """How the clips are split into training and test parts: probe, baselines and run share it, so they pair."""

    title = "evaluation protocol"
    cv: str = option("auto", "auto uses the dataset's train/(validation/)test split when its train and test share no "
                             "group, else speaker-grouped CV over all clips, else stratified CV", choices=protocols)
    folds: int = option(5, "outer folds of the k-fold protocols", type=integer_at_least(2))
    fold_column: str | None = option(None, "a column of predefined folds (clips/COL in the cache, else the manifest's "
                                           "column): each value is one test fold", metavar="COL")
    seed: int = option(0, "seed of every split, shuffle and solver", type=seed_number)
    refit: str = option("train", "with a validation split, refit the chosen hyperparameters on train or "
                                 "train+validation", choices=refits)

    def sweep_kwargs(self) -> dict:
        """As keyword arguments of probes.sweep.sweep and baselines.run.evaluate_baselines (their cv=None is auto)."""
        return {**self.to_dict(), "cv": None if self.cv == "auto" else self.cv}


@dataclass(frozen=True)
class FitOptions(OptionGroup):
    """How each classifier is fitted and tested, for the probes and the baselines alike."""

    title = "fitting"
    class_weight: str = option("none", "none, balanced, or sqrt: min(sqrt(max_count/count), 3)",
                               choices=class_weights)
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
                                               flags=("--layers", "--layer"))
    pooling: str = option("mean", "the stored pooling probed: mean, std, max, or several joined by + (mean+std: "
                                  "their vectors concatenated, statistics pooling)", metavar="NAME[+NAME]")
    classifiers: str | Sequence[str] = option(
        ("logreg", "linear-svm", "ridge"), "linear classifiers, comma-separated (or all), each in a Pipeline with "
        "StandardScaler", flags=("--classifier", "--classifiers"), type=name_list, metavar="NAMES")
    save_model: bool = option(False, "also refit each probe on all clips and save it as "
                                     "OUT/models/layerNN_CLASSIFIER.npz, and the selected one as "
                                     "OUT/models/selected.npz")
    solver: str = option("fast", "fast: the probes' own solvers; reference: the scikit-learn fits they are tested "
                                 "against (slower; mlp is scikit-learn's either way)",
                         choices=solvers)

    def __post_init__(self) -> None:
        from layerprobe.probes.registry import all_probe_names

        layer_indices(self.layers)
        object.__setattr__(self, "classifiers", chosen(self.classifiers, probe_classifiers(), "classifier",
                                                       every=all_probe_names()))
        chosen(self.solver, solvers(), "solver")


@dataclass(frozen=True)
class BaselineOptions(OptionGroup):
    """The hand-made baselines: which features and classifiers (chance is always added)."""

    title = "baselines"
    features: str | Sequence[str] = option(("mfcc",), "hand-made features, comma-separated: mfcc, logmel, egemaps "
                                                      "(egemaps needs the egemaps extra)", type=name_list, metavar="NAMES")
    # The probes' own linear classifiers by default, which fit Speech Commands size in minutes
    # (bench/baselines_scale.py). svm-rbf, the MFCC + SVM baseline, fits a 30-point grid of kernel
    # SVMs whose cost grows with the square of the clips or faster: the former default took 1,765 s
    # of FSDD's run (3,000 clips), and hours at 105,000.
    classifiers: str | Sequence[str] = option(
        ("logreg", "linear-svm", "ridge"), "baseline classifiers, comma-separated (or all): logreg, linear-svm, "
        "ridge, and svm-rbf (the RBF SVM over C x gamma, on request: its time grows with the square of the clips "
        "or faster); majority and stratified-random chance are always added", flags=("--classifier", "--classifiers"),
        type=name_list, metavar="NAMES")

    def __post_init__(self) -> None:
        features = name_list(self.features) if isinstance(self.features, str) else tuple(self.features)
        if not features:
            raise UserError("--features names no feature; give one or more of mfcc, logmel, egemaps")
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "classifiers", chosen(self.classifiers, baseline_classifiers(), "classifier"))


@dataclass(frozen=True)
class LabelOptions(OptionGroup):
    """Which labels are probed: clips/label, another clips/ column, or a label table joined to the clips by id."""

    title = "labels"
    labels: str | None = option(None, "a CSV/TSV label table joined to the cache's clips by id (else path), the cache "
                                      "unchanged; clips missing from it are left out and counted", metavar="TABLE")
    label_column: str | None = option(None, "the labels probed: a column of --labels, else a clips/ column of the "
                                            "cache such as group, the speaker confound check (default: label)",
                                      metavar="COL")
    id_column: str | None = option(None, "the --labels column matched to clips/id, then clips/path (default: id, "
                                         "else path)", metavar="COL")

    def __post_init__(self) -> None:
        if self.labels is not None:
            object.__setattr__(self, "labels", str(self.labels))


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


def layer_indices(layers: str | int | Sequence[int]) -> list[int] | None:
    """"all" -> None; 3 -> [3]; "0,3-5" or [0, 3, 4, 5] -> [0, 3, 4, 5]. Raises UserError on "1-" and the like."""
    if isinstance(layers, str):
        return parse_layers(layers)
    if isinstance(layers, int):
        return [layers]
    return sorted({int(layer) for layer in layers})


def chosen(value: str | Sequence[str], known: list[str], what: str, *,
           every: Sequence[str] | None = None) -> tuple[str, ...]:
    """Names from a list option: "all" (`every`, default all known), one name, "a,b" or a sequence;
    an unknown one is a UserError."""
    wanted = name_list(value) if isinstance(value, str) else tuple(value)
    if wanted == ("all",):
        return tuple(known if every is None else every)
    if not wanted:
        raise UserError(f"no {what} given; choose from {', '.join(known)}, all")
    for name in wanted:
        if name not in known:
            raise UserError(f"unknown {what} {name!r}; choose from {', '.join(known)}, all")
    return tuple(dict.fromkeys(wanted))
