"""The Task API (plugin contract 3): how one kind of job loads data, fits its preprocessing,
builds, trains, evaluates, predicts and exports, and what its runs are judged on.

A task subclass declares its options in ``OPTIONS`` (merged over :data:`COMMON_OPTIONS`), what it
is judged on in ``MONITOR`` and ``HEADLINE``, and implements the lifecycle below. The engine
(:mod:`zoo.engine`, not imported here: a task is a contract, not a runner) calls it in this order,
so every task gets seeds, checkpoints, ``--resume``, early stopping, mixed precision,
distribution, plugin callbacks and the same run directory:

1. :meth:`Task.check`: fail fast, before anything is written;
2. :meth:`Task.load_data`: read ``self.options["data"]`` into a :class:`TaskData`; options whose
   defaults depend on the data are resolved here and listed in ``TaskData.recipe``;
3. :meth:`Task.fit_preprocessor`: fit the :class:`Preprocessor` on the training split (on
   ``--resume`` the one saved with the run is loaded instead); it reaches the later steps as
   ``data.preprocessor`` and is saved in the run;
4. :meth:`Task.build_model`: a compiled Keras model (inside the strategy scope);
5. :meth:`Task.stages`, then :meth:`Task.callbacks`: the first point that sees the run;
6. training, then :meth:`Task.save` (``model.keras``) and :meth:`Task.evaluate` (metrics.json).

A trained run is used through :meth:`Task.evaluate`, :meth:`Task.predict` and
:meth:`Task.export_spec` (what ``zoo export``'s one pipeline needs: see :mod:`zoo.tasks.exports`)
on the task :meth:`Task.from_run` rebuilds from ``config.json``. The engine checks what each of
these returns and names the task and method when it is not what the contract says.

Importing this module never imports TensorFlow; the methods do, when they run.
"""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from zoo.errors import ZooError
from zoo.reports import Figure, Section, Table
from zoo.runs import METRICS, PREPROCESSOR, headline_figures
from zoo.saving import save_model

@dataclass(frozen=True)
class Option:
    """One option a task accepts: ``--name value`` on the CLI, ``name=value`` in Python.

    ``type`` converts a value given as text on the command line (``bool`` options are flags);
    ``choices`` limits the values (checked after conversion).
    """

    default: Any
    type: Callable[[Any], Any] = str
    help: str = ""
    choices: tuple = ()

    def convert(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            if self.type is bool and isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                value = value.lower() in ("1", "true", "yes", "on")
            else:
                value = self.type(value)
        except (TypeError, ValueError):
            kind = getattr(self.type, "__name__", "value").replace("_", " ")  # "positive int"
            raise ZooError(f"--{cli_name(name)} expects {kind}, got {value!r}") from None
        if self.choices and value not in self.choices:
            raise ZooError(f"--{cli_name(name)} must be one of "
                           f"{', '.join(map(str, self.choices))}, got {value!r}")
        return value


def cli_name(name: str) -> str:
    """``fine_tune_lr`` -> ``fine-tune-lr``: how an option is spelt on the command line."""
    return name.replace("_", "-")


def positive_int(value) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def non_negative_int(value) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def fraction(value) -> float:
    """A number in [0, 1)."""
    number = float(value)
    if not 0 <= number < 1:
        raise ValueError(value)
    return number


#: Options every task accepts; the engine reads them.
COMMON_OPTIONS: dict[str, Option] = {
    "data": Option(None, str, "where the training data is"),
    "epochs": Option(10, positive_int, "training epochs (per stage for staged tasks)"),
    "batch_size": Option(32, positive_int, "examples per training step"),
    "lr": Option(1e-3, float, "learning rate"),
    "optimizer": Option("adam", str, "adam, adamw, sgd, rmsprop or a Keras optimizer name"),
    "seed": Option(0, int, "random seed: the same seed gives the same result on CPU"),
    "out": Option(None, str, "run directory to write (default runs/<name>-<n>)"),
    "resume": Option(False, bool, "continue an interrupted run in --out from its last epoch, "
                                  "with the options it was started with (those given win)"),
    "mixed_precision": Option("auto", str, "auto (float16 on GPU, off on CPU), on or off",
                              ("auto", "on", "off")),
    "patience": Option(5, non_negative_int,
                       "stop after this many epochs without a better monitored figure "
                       "(0 never stops early)"),
    "strategy": Option("auto", str, "tf.distribute: auto, none, mirrored (GPUs of this machine) "
                                    "or multi_worker (TF_CONFIG); --batch-size is per replica",
                       ("auto", "none", "mirrored", "multi_worker")),
    "jit_compile": Option("auto", str, "XLA: auto (on a single GPU), on or off",
                          ("auto", "on", "off")),
}


@dataclass(frozen=True)
class Monitor:
    """The epoch figure that picks a run's best weights and stops it early.

    ``metric`` is a key of the epoch's logs (``val_accuracy``, ``val_loss``, ``frechet``: what the
    model's compiled metrics or a task callback put there); ``mode`` is ``max`` or ``min``.
    ``tie_break``, when the figure equals the best so far (accuracy on a few validation images
    often does), decides by a second figure.
    """

    metric: str
    mode: str = "max"
    tie_break: "Monitor | None" = None

    def __post_init__(self):
        if self.mode not in ("max", "min"):
            raise ZooError(f"Monitor({self.metric!r}) mode must be 'max' or 'min', got "
                           f"{self.mode!r}")

    def better(self, logs: dict, best: dict | None) -> bool:
        """Whether ``logs`` beat ``best`` (the logs of the best epoch so far; None: first)."""
        value = logs.get(self.metric)
        if value is None:
            return False
        if best is None or best.get(self.metric) is None:
            return True
        value, previous = float(value), float(best[self.metric])
        if value != previous:
            return value > previous if self.mode == "max" else value < previous
        return self.tie_break is not None and self.tie_break.better(logs, best)

    def figures(self) -> list[str]:
        """The metric and its tie-breakers, in order."""
        return [self.metric] + (self.tie_break.figures() if self.tie_break else [])

    def describe(self) -> str:
        text = f"{self.metric} ({'higher' if self.mode == 'max' else 'lower'} is better)"
        return text + (f", ties broken by {self.tie_break.describe()}" if self.tie_break else "")


#: ``Task.MONITOR`` of a task that declares none (contract 1 and 2 tasks): at the first epoch,
#: the first of these found in the logs.
AUTO_MONITORS = (Monitor("val_accuracy", "max"), Monitor("val_loss", "min"),
                 Monitor("loss", "min"))


@dataclass
class Substitute:
    """What a stage trains instead of the run's model: a model that shares the run's model's
    trainable layers, on its own data (e.g. a head on features a frozen backbone computed once).
    The run's model is what is checkpointed, saved and exported; its shared layers carry the
    substitute's training."""

    model: Any
    train: Any
    val: Any = None
    #: One line for the log: what the substitute is (``head on cached features of 40 images``).
    description: str = ""


@dataclass
class Stage:
    """One phase of training: ``epochs`` epochs after ``prepare(model)`` has run.

    ``prepare`` changes what trains and recompiles (e.g. unfreeze the backbone at a lower
    learning rate); it runs before the stage starts, and again when a resumed run re-enters it.
    ``substitute(model)``, when set, returns a :class:`Substitute` to train in this stage
    instead of ``model`` on the task's data (called when the stage starts, after ``prepare``).
    ``monitor`` and ``patience`` (None: the task's ``MONITOR`` and ``--patience``) stop this stage
    early; a stage always ends with its best weights by its monitor, and the run keeps its best
    weights by the task's monitor across stages.
    """

    name: str
    epochs: int
    prepare: Callable | None = None
    description: str = ""
    substitute: Callable | None = None
    monitor: Monitor | None = None
    patience: int | None = None


class Preprocessor:
    """Preprocessing state fitted on a run's training split that travels with the run.

    Modelled on keras-hub's Preprocessor: the fitted state (a vocabulary, normalisation
    statistics, ...) lives in one object. :meth:`Task.fit_preprocessor` returns it, the task's
    later steps read it as ``data.preprocessor``, and it is saved in the run as
    ``preprocessor.json`` (its :meth:`get_config`) plus any asset files (:meth:`save_assets`),
    then restored by ``--resume`` and by :meth:`Task.preprocessor` for evaluate, predict and
    export. A subclass keeps small state in ``get_config`` (constructor arguments, JSON-ready)
    and large state (a vocabulary) in assets.
    """

    def get_config(self) -> dict:
        """The constructor arguments that recreate this object, JSON-ready."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Preprocessor":
        return cls(**config)

    def save_assets(self, directory: Path) -> None:
        """Write large state as files in ``directory`` (the run directory)."""

    def load_assets(self, directory: Path) -> None:
        """Read back what :meth:`save_assets` wrote."""

    def save(self, run) -> None:
        """Assets first, then ``preprocessor.json``: the file that says the state is complete."""
        self.save_assets(run.path)
        run.write(PREPROCESSOR, {"class": f"{type(self).__module__}:{type(self).__qualname__}",
                                 "config": self.get_config()})

    @classmethod
    def load(cls, run) -> "Preprocessor":
        saved = run.read(PREPROCESSOR)
        preprocessor = cls.from_config(saved.get("config", {}))
        preprocessor.load_assets(run.path)
        return preprocessor


@dataclass
class TaskData:
    """What :meth:`Task.load_data` returns: datasets plus what the run directory records.

    ``train``/``val``/``test`` are whatever the task's model trains on (usually ``tf.data``
    datasets yielding ``(x, y)`` batches); ``test`` may be None. ``classes`` is the output
    order for classification tasks (written to labels.json; None for a regressor or a
    generator). ``info`` goes to config.json's ``data`` (path, counts, ...). ``splits`` is
    written to splits.json when not None. ``recipe`` lists the options whose defaults the task
    resolved from the data (name -> value, already in ``task.options``; :meth:`Task.fill_defaults`
    sets both) and ``recipe_basis`` says from what (``"40 training images in 4 classes"``): the
    engine logs them in one line and stores them in config.json, and ``--resume`` reads them
    back. ``preprocessor`` is filled in
    by the engine from :meth:`Task.fit_preprocessor`. A task that needs more (raw arrays,
    vocabularies) subclasses TaskData and adds fields.
    """

    train: Any
    val: Any = None
    test: Any = None
    classes: list[str] | None = None
    info: dict = field(default_factory=dict)
    splits: dict | None = None
    class_weight: dict | None = None
    preprocessor: Preprocessor | None = None
    recipe: dict = field(default_factory=dict)
    recipe_basis: str = ""


class Task:
    """One kind of job. Subclass it, set ``name`` and ``OPTIONS``, declare ``MONITOR`` and
    ``HEADLINE``, implement the lifecycle.

    An instance holds validated options (``self.options``; ``self.given`` names those passed
    explicitly), for ``zoo train NAME`` the model name (``self.model_name``) whose spec named
    this task, ``self.log`` (where progress lines go) and ``self.strategy`` (the
    ``tf.distribute`` strategy the engine trains under, None for the default device).
    """

    #: The name written to config.json's ``task`` (a built-in name or ``"module:attr"``).
    name: str = ""
    #: Task-specific options, merged over :data:`COMMON_OPTIONS`.
    OPTIONS: dict[str, Option] = {}
    #: What picks the best weights and stops early: a :class:`Monitor`, or None when no epoch
    #: figure says which weights are best (the last epoch's are kept and ``--patience`` is
    #: refused). ``"auto"`` (the default, for tasks written before contract 3): the first of
    #: :data:`AUTO_MONITORS` the first epoch logs.
    MONITOR: Monitor | None | str = "auto"
    #: The metrics.json keys a run is judged on (shell wildcards allowed: ``top*_accuracy``):
    #: what ``zoo evaluate``, the end of ``zoo train``, ``zoo runs`` and report.html show first.
    #: Empty: every top-level number :meth:`evaluate` returns.
    HEADLINE: tuple[str, ...] = ()
    #: The :class:`Preprocessor` subclass :meth:`fit_preprocessor` returns (None: nothing fitted).
    preprocessor_class: type[Preprocessor] | None = None
    #: What ``zoo export`` offers for this task's runs: format -> quantizations it allows.
    #: Empty: the runs cannot be exported, and ``zoo export`` says :attr:`NOT_EXPORTED`.
    EXPORTS: dict[str, tuple[str, ...]] = {}
    #: Why runs of a task without EXPORTS cannot be exported (``{title}``: :attr:`title`).
    NOT_EXPORTED = "{title} runs cannot be exported"

    def __init__(self, model_name: str | None = None, log: Callable[[str], None] = print,
                 **options):
        self.model_name = model_name
        self.log = log
        self.strategy = None
        self.given = {name.lstrip("-").replace("-", "_") for name in options}
        self.options = self.resolve_options(options)

    @property
    def title(self) -> str:
        """How messages name this task's runs: the model's name, else the task's."""
        return self.model_name or self.name or type(self).__name__

    # -- options ----------------------------------------------------------------------------
    @classmethod
    def all_options(cls) -> dict[str, Option]:
        return {**COMMON_OPTIONS, **cls.OPTIONS}

    @classmethod
    def train_options(cls) -> dict[str, Option]:
        """The options ``zoo train MODEL`` offers for a model of this task (``--help``)."""
        return cls.all_options()

    @classmethod
    def resolve_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, values converted; an unknown name gets a "did you mean"."""
        known = cls.all_options()
        resolved = {name: option.default for name, option in known.items()}
        for raw_name, value in given.items():
            name = raw_name.lstrip("-").replace("-", "_")
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f"; did you mean --{cli_name(close[0])}?" if close else \
                    f"; it accepts {', '.join('--' + cli_name(n) for n in known)}"
                raise ZooError(f"task {cls.name or cls.__name__} has no option "
                               f"--{cli_name(name)}{hint}")
            resolved[name] = known[name].convert(name, value)
        return resolved

    def fill_defaults(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """Set the options still at None to ``defaults`` (a recipe read from the data) and
        return those it set: what goes in ``TaskData.recipe``. A given option keeps its value."""
        resolved = {name: value for name, value in defaults.items()
                    if name in self.options and self.options[name] is None}
        self.options.update(resolved)
        return resolved

    @property
    def replicas(self) -> int:
        """Model replicas training in sync under ``self.strategy`` (1 without one)."""
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    @property
    def global_batch_size(self) -> int:
        """Examples per training step across all replicas: ``--batch-size`` is per replica."""
        return self.options["batch_size"] * self.replicas

    def model_options(self) -> dict[str, Any]:
        """The options meant for the model builder: those this task declares, minus common ones."""
        return {k: v for k, v in self.options.items() if k in self.OPTIONS}

    # -- the lifecycle a task implements, in the order the engine calls it -------------------
    def check(self) -> None:
        """Fail fast, before anything is written: validate options, fetch weights."""

    def load_data(self) -> TaskData:
        """Read ``self.options["data"]`` into datasets; bad data raises ZooError before training."""
        raise NotImplementedError

    def fit_preprocessor(self, data: TaskData) -> Preprocessor | None:
        """Fit preprocessing on ``data``'s training split (an instance of
        :attr:`preprocessor_class`), or None. Not called on ``--resume``: the run's saved one is."""
        return None

    def build_model(self, data: TaskData):
        """A compiled ``keras.Model`` for ``data``. Called inside the strategy scope."""
        raise NotImplementedError

    def stages(self, model, data: TaskData) -> list[Stage]:
        """The training stages; default: one stage of ``--epochs``."""
        return [Stage("train", self.options["epochs"])]

    def callbacks(self, run, model, data: TaskData) -> list:
        """Keras callbacks for this run (sample writers, extra figures); the first point that
        sees the run directory. They run before the run's own bookkeeping each epoch, so a
        figure they add to ``logs`` lands in history.csv and can be the monitored one."""
        return []

    def save(self, run, model, data: TaskData) -> None:
        """Write the trained model into the run (default: ``model.keras``, float32)."""
        save_model(model, run.model_path)

    def evaluate(self, run, data: Any = None) -> dict:
        """Metrics of ``run``'s model on held-out data (``data`` None: the run's own held-out
        split, else a path or the TaskData of training). A JSON-ready dict with at least one
        number; ``count`` (examples scored) and ``data`` (what they were) are shown with it."""
        raise NotImplementedError

    def predict(self, run, inputs: Any, **options) -> list:
        """One JSON-ready result per input (e.g. ``{"path", "top": [[class, prob], ...]}``)."""
        raise NotImplementedError

    def export_spec(self, run, format: str, examples: int):
        """What the export pipeline needs for ``format`` (one of :attr:`EXPORTS`): a
        :class:`zoo.tasks.ExportSpec`, or a list of them for several artifacts. ``examples`` caps
        the held-out examples the artifact is compared on."""
        raise ZooError(self.NOT_EXPORTED.format(title=self.title))

    def report_sections(self, run) -> list:
        """This task's parts of ``report.html`` (``zoo report RUN``), after the training summary
        and curves the core writes for every run, and before the export report and the settings:
        a list of :class:`zoo.reports.Section` built from its blocks (``Table``, ``Figure``,
        ``Text``, ``Examples``).

        The default shows ``metrics.json``: its headline figures first, then every other figure
        (a recommender's baselines, a forecaster's errors), the per-class table and the
        confusion matrix of a classifier. A classifier adds the examples it gets most wrong (see
        the image and text tasks).
        """
        metrics = run.metrics if run.has(METRICS) else {}

        def flat(prefix: str, value) -> list:  # {"baselines": {"popular": {"recall@10": ..}}}
            if isinstance(value, dict):
                return [row for key, item in value.items()
                        for row in flat(f"{prefix}.{key}" if prefix else str(key), item)]
            return [[prefix, value]] if isinstance(value, (int, float, str)) else []

        headline = headline_figures(metrics)
        rows = [[key, value] for key, value in headline.items()] + flat("", {
            key: value for key, value in metrics.items() if key not in headline and key not in (
                "training", "headline", "per_class", "confusion_matrix", "confusion_png")})
        sections = [Section("Held-out metrics", [Table(["metric", "value"], rows)])]
        per_class = metrics.get("per_class") or {}
        if per_class:
            sections.append(Section("Per class", [Table(
                ["class", "precision", "recall", "support"],
                [[name, row.get("precision"), row.get("recall"), row.get("support")]
                 for name, row in per_class.items()])]))
        if run.confusion_path.is_file():
            sections.append(Section("Confusion matrix", [
                Figure(run.confusion_path, "rows: true class, columns: predicted class")]))
        return sections

    def config_extra(self, data: TaskData) -> dict:
        """Task-specific top-level config.json fields (image tasks add backbone, image_size...)."""
        return {}

    def run_name(self) -> str:
        """The ``runs/<name>-<n>`` stem for the default ``--out``."""
        return self.model_name or self.name

    # -- reading a run back -----------------------------------------------------------------
    def preprocessor(self, run) -> Preprocessor | None:
        """The preprocessor saved with ``run`` (None when this task fits none)."""
        if self.preprocessor_class is None or not run.has(PREPROCESSOR):
            return None
        return self.preprocessor_class.load(run)

    @classmethod
    def from_run(cls, run) -> "Task":
        """The task that trained ``run``, with the options it was trained with."""
        config = run.config
        known = cls.all_options()
        options = {k: v for k, v in config.get("options", {}).items() if k in known}
        return cls(model_name=config.get("model"), **options)


def sample_rows(rows: list, size: int, seed: int = 0) -> list:
    """A fixed (seeded) random subset of ``rows`` in their original order; all when they fit.
    How tasks pick the held-out examples an export is compared on."""
    if len(rows) <= size:
        return list(rows)
    keep = sorted(random.Random(seed).sample(range(len(rows)), size))
    return [rows[i] for i in keep]
