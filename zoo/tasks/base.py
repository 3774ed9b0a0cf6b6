"""The Task base class: how one kind of job loads data, builds, trains, evaluates and predicts.

A task subclass declares the options it accepts in ``OPTIONS`` (merged with the options every
task shares, :data:`COMMON_OPTIONS`) and implements :meth:`Task.load_data`,
:meth:`Task.build_model`, :meth:`Task.evaluate` and :meth:`Task.predict`. :meth:`Task.train` runs
the whole job into a run directory (see :mod:`zoo.runs`) through the shared loop in
:mod:`zoo.training`, so every task gets seeds, checkpoints, ``--resume``, early stopping, mixed
precision and the same ``history.csv``.

Importing this module never imports TensorFlow; the methods do, when they run.

A minimal task::

    class SequenceTask(Task):
        name = "sequence_classification"
        OPTIONS = {"max_len": Option(100, int, "tokens kept per sequence")}

        def load_data(self):
            return TaskData(train=..., val=..., classes=[...], info={"path": ...})

        def build_model(self, data):
            model = zoo.get("model", self.model_name)(num_classes=len(data.classes),
                                                      **self.model_options())
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            return model

        def evaluate(self, run, data=None): ...
        def predict(self, run, inputs): ...
"""

from __future__ import annotations

import difflib
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from zoo.errors import ZooError


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
class TaskData:
    """What :meth:`Task.load_data` returns: datasets plus what the run directory records.

    ``train``/``val``/``test`` are whatever the task's model trains on (usually ``tf.data``
    datasets yielding ``(x, y)`` batches); ``test`` may be None. ``classes`` is the output
    order for classification tasks (written to labels.json). ``info`` goes to config.json's
    ``data`` (path, counts, ...). ``splits`` is written to splits.json when not None.
    """

    train: Any
    val: Any = None
    test: Any = None
    classes: list[str] | None = None
    info: dict = field(default_factory=dict)
    splits: dict | None = None
    class_weight: dict | None = None


class Task:
    """One kind of job. Subclass it, set ``name`` and ``OPTIONS``, implement the four methods.

    An instance holds validated options (``self.options``) and, for ``zoo train NAME``, the
    model name (``self.model_name``) whose spec named this task.
    """

    #: The name written to config.json's ``task`` (a built-in name or ``"module:attr"``).
    name: str = ""
    #: Task-specific options, merged over :data:`COMMON_OPTIONS`.
    OPTIONS: dict[str, Option] = {}
    #: Where progress lines go (``train(log=...)`` sets it); a task reports through ``self.log``.
    log: Callable[[str], None] = staticmethod(print)
    #: A ``tf.distribute`` strategy to build and train under (None: the default device).
    strategy: Any = None

    def __init__(self, model_name: str | None = None, **options):
        self.model_name = model_name
        self.options = self.resolve_options(options)

    # -- options ----------------------------------------------------------------------------
    @classmethod
    def all_options(cls) -> dict[str, Option]:
        return {**COMMON_OPTIONS, **cls.OPTIONS}

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

    # -- what a subclass implements ---------------------------------------------------------
    def check(self) -> None:
        """Fail fast, before the run directory exists: validate options, fetch weights."""

    def load_data(self) -> TaskData:
        """Read ``self.options["data"]`` into datasets; bad data raises ZooError before training."""
        raise NotImplementedError

    def build_model(self, data: TaskData):
        """A compiled ``keras.Model`` for ``data``. Called inside the strategy scope."""
        raise NotImplementedError

    def stages(self, model, data: TaskData) -> list:
        """The training stages (:class:`zoo.training.Stage`); default: one stage of ``--epochs``."""
        from zoo.training import Stage

        return [Stage("train", self.options["epochs"])]

    def evaluate(self, run, data: Any = None) -> dict:
        """Metrics of ``run``'s model on held-out data (``data`` None: the run's own held-out
        split, else a path or TaskData). Returns a JSON-ready dict with at least one metric."""
        raise NotImplementedError

    def predict(self, run, inputs: Any, **options) -> list:
        """One JSON-ready result per input (e.g. ``{"path", "top": [[class, prob], ...]}``)."""
        raise NotImplementedError

    def export(self, run, **options):
        """Write a deployable artifact; the default is the image-model export in zoo.exporting."""
        from zoo import exporting

        return exporting.export(run, **options)

    def run_name(self) -> str:
        """The ``runs/<name>-<n>`` stem for the default ``--out``."""
        return self.model_name or self.name

    def config_extra(self) -> dict:
        """Task-specific top-level config.json fields (image tasks add backbone, image_size...)."""
        return {}

    # -- the whole job ----------------------------------------------------------------------
    def train(self, log: Callable[[str], None] = print):
        """Create (or resume) the run directory, load data, build, fit, save, evaluate.

        Returns the :class:`zoo.runs.Run`. The model is saved atomically to model.keras with
        the best validation weights; metrics.json holds :meth:`evaluate` on held-out data.
        """
        self.log = log
        self.check()
        from zoo import distribute

        opts = self.options
        if self.strategy is None:  # MultiWorkerMirroredStrategy must precede any TF operation
            self.strategy = distribute.resolve_strategy(opts["strategy"])
        import zoo.training as loop
        from zoo import plots

        run = distribute.create_run(self.strategy, opts["out"], self.run_name(), opts["resume"])
        loop.setup(seed=opts["seed"], mixed_precision=opts["mixed_precision"])
        log(distribute.describe(self.strategy, opts["batch_size"]))
        try:
            data = self.load_data()
        except ZooError:
            # bad data is the user's to fix: leave no empty runs/<name>-<n> behind for it
            if not any(run.path.iterdir()):
                run.path.rmdir()
            raise
        self.write_config(run, data)
        with loop.strategy_scope(self.strategy):
            model = self.build_model(data)
        distribute.prepare_model(model, self.strategy)
        summary = loop.fit(model, distribute.distribute_data(data, self.strategy), run,
                           self.stages(model, data), patience=opts["patience"],
                           resume=opts["resume"], log=log, strategy=self.strategy,
                           jit_compile=distribute.jit_compile(opts["jit_compile"]))
        summary.update(replicas=distribute.replicas(self.strategy),
                       global_batch_size=self.global_batch_size)
        loop.save_model(model, run.model_path)
        plots.plot_curves(run.file("history.csv"), run.file("curves.png"))
        metrics = {**self.evaluate(run, data), "training": summary}
        run.write("metrics.json", metrics)
        distribute.finish_run(run, log)
        return run

    def write_config(self, run, data: TaskData) -> None:
        """config.json, labels.json and splits.json (on resume the existing ones are kept)."""
        if self.options["resume"] and run.file("config.json").is_file():
            return
        config = {"task": self.name, "model": self.model_name, **self.config_extra(),
                  "options": {k: v for k, v in self.options.items() if k != "resume"},
                  "data": {**data.info, "classes": data.classes},
                  "versions": versions(),
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if data.classes is not None:
            run.write("labels.json", list(data.classes))
        if data.splits is not None:
            run.write("splits.json", data.splits)
        run.write("config.json", config)

    @classmethod
    def from_run(cls, run) -> "Task":
        """The task that trained ``run``, with the options it was trained with."""
        config = run.config
        known = cls.all_options()
        options = {k: v for k, v in config.get("options", {}).items() if k in known}
        return cls(model_name=config.get("model"), **options)


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
               if info.status == "ok"}
    return {"zoo": version_of("keras-zoo"), "keras": version_of("keras"),
            "tensorflow": version_of("tensorflow"), "python": platform.python_version(),
            "plugins": plugins}
