"""The Task API (plugin contract 2): how one kind of job loads data, fits its preprocessing,
builds, trains, evaluates, predicts and exports.

A task subclass declares its options in ``OPTIONS`` (merged over :data:`COMMON_OPTIONS`) and
implements the lifecycle below. :meth:`Task.train` calls it in this order, through the shared
loop in :mod:`zoo.training`, so every task gets seeds, checkpoints, ``--resume``, early stopping,
mixed precision, distribution, plugin callbacks and the same run directory:

1. :meth:`Task.check`: fail fast, before the run directory exists;
2. :meth:`Task.load_data`: read ``self.options["data"]`` into a :class:`TaskData`;
3. :meth:`Task.fit_preprocessor`: fit the :class:`Preprocessor` on the training split (on
   ``--resume`` the one saved with the run is loaded instead); it reaches the later steps as
   ``data.preprocessor`` and is saved in the run;
4. :meth:`Task.build_model`: a compiled Keras model (inside the strategy scope);
5. :meth:`Task.stages`, then :meth:`Task.callbacks`: the first point that sees the run;
6. training, then :meth:`Task.save` (``model.keras``) and :meth:`Task.evaluate` (metrics.json).

A trained run is used through :meth:`Task.evaluate`, :meth:`Task.predict` and
:meth:`Task.export_spec` (what ``zoo export``'s one pipeline needs: see :mod:`zoo.tasks.exports`)
on the task :meth:`Task.from_run` rebuilds from ``config.json``.

Importing this module never imports TensorFlow; the methods do, when they run.
"""

from __future__ import annotations

import difflib
import platform
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from zoo.errors import ZooError

PREPROCESSOR_FILE = "preprocessor.json"


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


#: Options every task accepts; the shared training loop reads them.
COMMON_OPTIONS: dict[str, Option] = {
    "data": Option(None, str, "where the training data is"),
    "epochs": Option(10, positive_int, "training epochs (per stage for staged tasks)"),
    "batch_size": Option(32, positive_int, "examples per training step"),
    "lr": Option(1e-3, float, "peak learning rate"),
    "optimizer": Option("adam", str, "adam, adamw, sgd, rmsprop or a Keras optimizer name"),
    "seed": Option(0, int, "random seed: the same seed gives the same result on CPU"),
    "out": Option(None, str, "run directory to write (default runs/<name>-<n>)"),
    "resume": Option(False, bool, "continue an interrupted run in --out from its last epoch"),
    "mixed_precision": Option("auto", str, "auto (float16 on GPU, off on CPU), on or off",
                              ("auto", "on", "off")),
    "patience": Option(5, non_negative_int,
                       "stop after this many epochs without validation improvement "
                       "(0 never stops early)"),
    "strategy": Option("auto", str, "tf.distribute: auto, none, mirrored (GPUs of this machine) "
                                    "or multi_worker (TF_CONFIG); --batch-size is per replica",
                       ("auto", "none", "mirrored", "multi_worker")),
    "jit_compile": Option("auto", str, "XLA: auto (on a single GPU), on or off",
                          ("auto", "on", "off")),
}


@dataclass
class Stage:
    """One phase of training: ``epochs`` epochs after ``prepare(model)`` has run.

    ``prepare`` changes what trains and recompiles (e.g. unfreeze the backbone at a lower
    learning rate); it runs before the stage starts, and again when a resumed run re-enters it.
    """

    name: str
    epochs: int
    prepare: Callable | None = None
    description: str = ""


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
        run.write(PREPROCESSOR_FILE, {"class": f"{type(self).__module__}:{type(self).__qualname__}",
                                      "config": self.get_config()})

    @classmethod
    def load(cls, run) -> "Preprocessor":
        saved = run.read(PREPROCESSOR_FILE)
        preprocessor = cls.from_config(saved.get("config", {}))
        preprocessor.load_assets(run.path)
        return preprocessor


@dataclass
class TaskData:
    """What :meth:`Task.load_data` returns: datasets plus what the run directory records.

    ``train``/``val``/``test`` are whatever the task's model trains on (usually ``tf.data``
    datasets yielding ``(x, y)`` batches); ``test`` may be None. ``classes`` is the output
    order for classification tasks (written to labels.json). ``info`` goes to config.json's
    ``data`` (path, counts, ...). ``splits`` is written to splits.json when not None.
    ``preprocessor`` is filled in by :meth:`Task.train` from :meth:`Task.fit_preprocessor`.
    A task that needs more (raw arrays, vocabularies) subclasses TaskData and adds fields.
    """

    train: Any
    val: Any = None
    test: Any = None
    classes: list[str] | None = None
    info: dict = field(default_factory=dict)
    splits: dict | None = None
    class_weight: dict | None = None
    preprocessor: Preprocessor | None = None


class Task:
    """One kind of job. Subclass it, set ``name`` and ``OPTIONS``, implement the lifecycle.

    An instance holds validated options (``self.options``) and, for ``zoo train NAME``, the
    model name (``self.model_name``) whose spec named this task.
    """

    #: The name written to config.json's ``task`` (a built-in name or ``"module:attr"``).
    name: str = ""
    #: Task-specific options, merged over :data:`COMMON_OPTIONS`.
    OPTIONS: dict[str, Option] = {}
    #: The :class:`Preprocessor` subclass :meth:`fit_preprocessor` returns (None: nothing fitted).
    preprocessor_class: type[Preprocessor] | None = None
    #: What ``zoo export`` offers for this task's runs: format -> quantizations it allows.
    #: Empty: the runs cannot be exported, and ``zoo export`` says :attr:`NOT_EXPORTED`.
    EXPORTS: dict[str, tuple[str, ...]] = {}
    #: Why runs of a task without EXPORTS cannot be exported (``{title}``: :attr:`title`).
    NOT_EXPORTED = "{title} runs cannot be exported"
    #: Where progress lines go (``train(log=...)`` sets it); a task reports through ``self.log``.
    log: Callable[[str], None] = staticmethod(print)
    #: A ``tf.distribute`` strategy to build and train under (None: the default device).
    strategy: Any = None

    def __init__(self, model_name: str | None = None, **options):
        self.model_name = model_name
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

    @property
    def global_batch_size(self) -> int:
        """Examples per training step across all replicas: ``--batch-size`` is per replica."""
        from zoo.distribute import replicas

        return self.options["batch_size"] * replicas(self.strategy)

    def model_options(self) -> dict[str, Any]:
        """The options meant for the model builder: those this task declares, minus common ones."""
        return {k: v for k, v in self.options.items() if k in self.OPTIONS}

    # -- the lifecycle a task implements, in the order train() calls it ---------------------
    def check(self) -> None:
        """Fail fast, before the run directory exists: validate options, fetch weights."""

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
        figure they add to ``logs`` lands in history.csv."""
        return []

    def save(self, run, model, data: TaskData) -> None:
        """Write the trained model into the run (default: ``model.keras``, float32)."""
        from zoo.training import save_model

        save_model(model, run.model_path)

    def evaluate(self, run, data: Any = None) -> dict:
        """Metrics of ``run``'s model on held-out data (``data`` None: the run's own held-out
        split, else a path or the TaskData of training). A JSON-ready dict, one metric at least."""
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

        The default shows ``metrics.json``: its headline figures (a recommender's recalls, a
        forecaster's errors), the per-class table and the confusion matrix of a classifier. A
        classifier adds the examples it gets most wrong (see the image and text tasks).
        """
        from zoo.reports import Figure, Section, Table

        metrics = run.read("metrics.json", {})

        def flat(prefix: str, value) -> list:  # {"baselines": {"popular": {"recall@10": ..}}}
            if isinstance(value, dict):
                return [row for key, item in value.items()
                        for row in flat(f"{prefix}.{key}" if prefix else str(key), item)]
            return [[prefix, value]] if isinstance(value, (int, float, str)) else []

        rows = flat("", {key: value for key, value in metrics.items() if key not in (
            "training", "per_class", "confusion_matrix", "confusion_png")})
        sections = [Section("Held-out metrics", [Table(["metric", "value"], rows)])]
        per_class = metrics.get("per_class") or {}
        if per_class:
            sections.append(Section("Per class", [Table(
                ["class", "precision", "recall", "support"],
                [[name, row.get("precision"), row.get("recall"), row.get("support")]
                 for name, row in per_class.items()])]))
        confusion = run.file("confusion.png")
        if confusion.is_file():
            sections.append(Section("Confusion matrix", [
                Figure(confusion, "rows: true class, columns: predicted class")]))
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
        if self.preprocessor_class is None or not run.file(PREPROCESSOR_FILE).is_file():
            return None
        return self.preprocessor_class.load(run)

    @classmethod
    def from_run(cls, run) -> "Task":
        """The task that trained ``run``, with the options it was trained with."""
        config = run.config
        known = cls.all_options()
        options = {k: v for k, v in config.get("options", {}).items() if k in known}
        return cls(model_name=config.get("model"), **options)

    # -- the whole job ----------------------------------------------------------------------
    def train(self, log: Callable[[str], None] = print):
        """Create (or resume) the run directory and run the lifecycle; returns the
        :class:`zoo.runs.Run`. The model is saved atomically with the best validation weights;
        metrics.json holds :meth:`evaluate` on held-out data."""
        self.log = log
        self.check()
        from zoo import distribute

        opts = self.options
        if self.strategy is None:  # MultiWorkerMirroredStrategy must precede any TF operation
            self.strategy = distribute.resolve_strategy(opts["strategy"])
        import zoo.training as loop
        from zoo import plots, plugins

        run = distribute.create_run(self.strategy, opts["out"], self.run_name(), opts["resume"])
        loop.setup(seed=opts["seed"], mixed_precision=opts["mixed_precision"])
        log(distribute.describe(self.strategy, opts["batch_size"]))
        try:
            data = self.load_data()
        except ZooError:
            # bad data is the user's to fix: leave no empty runs/<name>-<n> (nor runs/) behind
            if not any(run.path.iterdir()):
                run.path.rmdir()
                if opts["out"] is None and not any(run.path.parent.iterdir()):
                    run.path.parent.rmdir()
            raise
        from zoo.runs import training_lock

        with training_lock(run):  # `zoo runs` shows the run as training meanwhile
            resuming = opts["resume"] and run.file(PREPROCESSOR_FILE).is_file()
            data.preprocessor = self.preprocessor(run) if resuming else \
                self.fit_preprocessor(data)
            self.write_config(run, data)
            with loop.strategy_scope(self.strategy):
                model = self.build_model(data)
            distribute.prepare_model(model, self.strategy)
            callbacks = self.callbacks(run, model, data) + \
                plugins.training_callbacks(run, self, log)
            summary = loop.fit(model, distribute.distribute_data(data, self.strategy,
                                                                 self.global_batch_size), run,
                               self.stages(model, data), callbacks=callbacks,
                               patience=opts["patience"], resume=opts["resume"], log=log,
                               strategy=self.strategy,
                               jit_compile=distribute.jit_compile(opts["jit_compile"]))
            summary.update(replicas=distribute.replicas(self.strategy),
                           global_batch_size=self.global_batch_size)
            self.save(run, model, data)
            plots.plot_curves(run.file("history.csv"), run.file("curves.png"))
            metrics = {**self.evaluate(run, data), "training": summary}
            run.write("metrics.json", metrics)
            if metrics.get("confusion_png"):  # classifiers: the matrix in TensorBoard too
                loop.log_image(run, "confusion_matrix", metrics["confusion_png"],
                               step=max(0, summary["epochs"] - 1))
            if distribute.is_chief():  # other workers' run directories are thrown away
                self.write_report(run)
        distribute.finish_run(run, log)
        return run

    def write_report(self, run):
        """``report.html`` at the end of training (as Ultralytics writes its results files):
        the run is trained and saved, so a report that fails costs one warning line, not the
        run. Returns the path, or None."""
        from zoo.reports import report

        try:
            return report(run, log=self.log)
        except Exception as exc:  # noqa: BLE001 - the trained run must survive a report bug
            self.log(f"Warning: report.html not written ({type(exc).__name__}: {exc}); "
                     f"try 'zoo report {run.path}'")
            return None

    def write_config(self, run, data: TaskData) -> None:
        """config.json, labels.json, splits.json and the preprocessor (on resume the existing
        ones are kept)."""
        if self.options["resume"] and run.file("config.json").is_file():
            return
        options = {k: v for k, v in self.options.items() if k != "resume"}
        if options["data"] and Path(options["data"]).expanduser().exists():
            # evaluate and export rebuild the task from here, maybe from another directory
            options["data"] = str(Path(options["data"]).expanduser().resolve())
        config = {"task": self.name, "model": self.model_name, **self.config_extra(data),
                  "options": options,
                  "data": {**data.info, "classes": data.classes},
                  "versions": versions(),
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if data.classes is not None:
            run.write("labels.json", list(data.classes))
        if data.splits is not None:
            run.write("splits.json", data.splits)
        if data.preprocessor is not None:
            data.preprocessor.save(run)
        run.write("config.json", config)


def sample_rows(rows: list, size: int, seed: int = 0) -> list:
    """A fixed (seeded) random subset of ``rows`` in their original order; all when they fit.
    How tasks pick the held-out examples an export is compared on."""
    if len(rows) <= size:
        return list(rows)
    keep = sorted(random.Random(seed).sample(range(len(rows)), size))
    return [rows[i] for i in keep]


def versions() -> dict:
    """Versions of zoo, keras, tensorflow, python and every plugin distribution."""
    from importlib import metadata

    import zoo

    def version_of(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    plugins = {info.name: info.version for info in zoo.registry().plugins.values()
               if info.loaded}
    return {"zoo": version_of("keras-zoo"), "keras": version_of("keras"),
            "tensorflow": version_of("tensorflow"), "python": platform.python_version(),
            "plugins": plugins}
