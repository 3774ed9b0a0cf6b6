"""The engine: runs a :class:`~zoo.tasks.Task` through its lifecycle into a run directory, and
uses a trained run through its task, checking at every step that the task keeps the contract.

:func:`train` is what ``zoo finetune``, ``zoo pretrain`` and ``zoo train`` do: resolve the
strategy, check the task, load its data, write the run's setup, build the model, train it through
the shared epoch loop (:mod:`zoo.loop`) with the task's and every plugin's callbacks, save,
evaluate and report. :func:`evaluate`, :func:`predict`, :func:`export_spec` and
:func:`report_sections` call the matching task methods for a trained run.

What a task method returns is checked here (:func:`returned`): a wrong type becomes one line
naming the plugin, the task class, the method and what the contract expects, instead of a
traceback from deep inside Keras or the export. A run that fails before its first epoch is
checkpointed leaves no folder behind.
"""

from __future__ import annotations

import fnmatch
import platform
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import keras

from zoo import distribute, loop, plots, reports
from zoo.errors import ZooError
from zoo.plugins import call_each
from zoo.registry import registry
from zoo.runs import Run, training_lock
from zoo.tasks.base import Preprocessor, Stage, Task, TaskData
from zoo.tasks.exports import ExportSpec
from zoo.training import log_image


def train(task: Task, log: Callable[[str], None] = print) -> Run:
    """Create (or resume) ``task``'s run directory and run the lifecycle; returns the
    :class:`~zoo.runs.Run`. The model is saved atomically with the run's best weights;
    metrics.json holds :meth:`~zoo.tasks.Task.evaluate` on held-out data, the figures it is
    judged on (``headline``) and a summary of the training."""
    task.log = log
    opts = task.options
    if task.strategy is None:  # MultiWorkerMirroredStrategy must precede any TF operation
        task.strategy = distribute.resolve_strategy(opts["strategy"])
    run = distribute.create_run(task.strategy, opts["out"], task.run_name(), opts["resume"])
    if opts["resume"]:
        _restore_options(task, run)
    task.check()
    _check_patience(task)
    created = _first_missing(run.path)  # what a run that never starts must not leave behind
    try:
        loop.setup(seed=opts["seed"], mixed_precision=opts["mixed_precision"])
        data = returned(task, "load_data", task.load_data(), TaskData, "a zoo.tasks.TaskData")
        if data.recipe:
            log(f"Recipe for {data.recipe_basis or 'this data'}: " +
                ", ".join(f"{k.replace('_', '-')} {format(v, 'g') if isinstance(v, float) else v}"
                          for k, v in data.recipe.items()) +
                " (an option you pass wins)")
        log(distribute.describe(task.strategy, opts["batch_size"]))
        with training_lock(run.make()):  # `zoo runs` shows the run as training meanwhile
            trackers = _train(task, run, data, log)
        for guard in trackers:  # after the lock: what a tracker records is a finished run
            guard.run_end(run)
    except BaseException:
        if created is not None and not run.state_path.is_file():
            shutil.rmtree(created, ignore_errors=True)
        raise
    distribute.finish_run(run, log)
    return run


def _train(task: Task, run: Run, data: TaskData, log) -> list:
    """The lifecycle from the preprocessor to the report, inside the training lock; returns the
    guarded plugin callbacks, to be told the run has ended."""
    opts = task.options
    resuming = opts["resume"] and run.config_path.is_file()
    if resuming and task.preprocessor_class is not None:
        data.preprocessor = task.preprocessor(run)
    elif not resuming:
        data.preprocessor = returned(task, "fit_preprocessor", task.fit_preprocessor(data),
                                     (Preprocessor, type(None)), "a zoo.tasks.Preprocessor or None")
        run.write_setup(_config(task, data), labels=data.classes, splits=data.splits,
                        preprocessor=data.preprocessor)
    with loop.strategy_scope(task.strategy):
        model = returned(task, "build_model", task.build_model(data), keras.Model,
                         "a compiled keras.Model")
    if not model.compiled:
        raise ZooError(f"{_who(task)}.build_model returned a model that is not compiled; "
                       f"call model.compile(optimizer=..., loss=...) before returning it")
    distribute.prepare_model(model, task.strategy)
    stages = returned(task, "stages", task.stages(model, data), list, "a list of zoo.tasks.Stage")
    if not stages or not all(isinstance(stage, Stage) for stage in stages):
        raise ZooError(f"{_who(task)}.stages returned {_kinds(stages)}; expected a non-empty "
                       f"list of zoo.tasks.Stage")
    task_callbacks = returned(task, "callbacks", task.callbacks(run, model, data), list,
                              "a list of keras.callbacks.Callback")
    if not all(isinstance(c, keras.callbacks.Callback) for c in task_callbacks):
        raise ZooError(f"{_who(task)}.callbacks returned {_kinds(task_callbacks)}; expected "
                       f"keras.callbacks.Callback objects")
    # Trackers record the run once: on the chief, which writes the run directory.
    guards = plugin_callbacks(run, task, log) if distribute.is_chief() else []
    summary = loop.fit(model, distribute.distribute_data(data, task.strategy,
                                                         task.global_batch_size),
                       run, stages, monitor=task.MONITOR, callbacks=task_callbacks,
                       plugin_callbacks=guards, patience=opts["patience"],
                       resume=opts["resume"], log=log, strategy=task.strategy,
                       jit_compile=distribute.jit_compile(opts["jit_compile"]))
    summary.update(replicas=task.replicas, global_batch_size=task.global_batch_size)
    task.save(run, model, data)
    plots.plot_curves(run.history.rows(), run.curves_path)
    metrics = {**evaluate(task, run, data), "training": summary}
    run.write(run.metrics_path.name, metrics)
    if metrics.get("confusion_png"):  # classifiers: the matrix in TensorBoard too
        log_image(run, "confusion_matrix", metrics["confusion_png"],
                  step=max(0, summary["epochs"] - 1))
    if distribute.is_chief():  # other workers' run directories are thrown away
        _write_report(task, run, log)
    return guards


def _restore_options(task: Task, run: Run) -> None:
    """``--resume`` continues with the options the run was started with (the recipe resolved
    from its data among them); an option given now wins."""
    stored = run.config.get("options") or {}
    known = task.all_options()
    for name, value in stored.items():
        if name in known and name not in task.given and name not in ("resume", "out"):
            task.options[name] = value


def _check_patience(task: Task) -> None:
    if task.MONITOR is None and "patience" in task.given and task.options["patience"]:
        raise ZooError(f"{task.title} runs have no epoch figure to stop on, so --patience is "
                       f"not used; leave it out")


def _first_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (None: it exists)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            return missing
        missing = folder
    return missing


def _config(task: Task, data: TaskData) -> dict:
    """config.json: everything that shaped the run."""
    options = {k: v for k, v in task.options.items() if k != "resume"}
    if options.get("data"):
        path = Path(options["data"]).expanduser()
        if path.exists():  # evaluate and export rebuild the task from here, maybe elsewhere
            options["data"] = str(path.resolve())
    config = {"task": task.name, "model": task.model_name, **task.config_extra(data),
              "options": options, "data": {**data.info, "classes": data.classes}}
    if data.recipe:
        config["recipe"] = {"basis": data.recipe_basis, "resolved": data.recipe}
    config.update(versions=versions(),
                  created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return config


def versions() -> dict:
    """Versions of zoo, keras, tensorflow, python and every plugin distribution."""
    def version_of(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    plugins = {info.name: info.version for info in registry().plugins.values() if info.loaded}
    return {"zoo": version_of("keras-zoo"), "keras": version_of("keras"),
            "tensorflow": version_of("tensorflow"), "python": platform.python_version(),
            "plugins": plugins}


def _write_report(task: Task, run: Run, log) -> None:
    """``report.html`` at the end of training (as Ultralytics writes its results files): the
    run is trained and saved, so a report that fails costs one warning line, not the run."""
    try:
        reports.write(run, report_sections(task, run))
    except Exception as exc:  # noqa: BLE001 - the trained run must survive a report bug
        log(f"Warning: report.html not written ({type(exc).__name__}: {exc}); "
            f"try 'zoo report {run.path}'")


# -- plugin callbacks ------------------------------------------------------------------------

def plugin_callbacks(run: Run, task: Task, log) -> list[loop.GuardedCallback]:
    """Every plugin's Keras callbacks for a training run (the ``zoo_callbacks`` hook), each
    behind a :class:`~zoo.loop.GuardedCallback`. A hook that raises, or returns anything but a
    list of callbacks, is left out with one warning line; so is, later, a callback that raises."""
    found = []
    for info, result, exc in call_each(registry().loaded, "zoo_callbacks", run=run, task=task):
        if exc is None and isinstance(result, (list, tuple)) and all(
                isinstance(c, keras.callbacks.Callback) for c in result):
            found += [loop.GuardedCallback(c, info.name, log) for c in result]
            continue
        why = f"raised {type(exc).__name__}: {exc}" if exc is not None else \
            f"returned {_kinds(result)}, not a list of keras.callbacks.Callback"
        log(f"Warning: plugin {info.name}'s zoo_callbacks {why}; training without its callbacks")
    return found


def after_export(run: Run, report: dict, log) -> None:
    """Every plugin's ``zoo_after_export(run, report)``, each behind its own guard."""
    for info, _, exc in call_each(registry().loaded, "zoo_after_export", run=run, report=report):
        if exc is not None:
            log(f"Warning: plugin {info.name}'s zoo_after_export raised {type(exc).__name__}: "
                f"{exc}; the export itself is written")


# -- a trained run through its task ----------------------------------------------------------

def evaluate(task: Task, run: Run, data: Any = None) -> dict:
    """``task.evaluate`` checked, with ``headline``: the metric names the task is judged on."""
    metrics = returned(task, "evaluate", task.evaluate(run, data), Mapping,
                       "a dict of metrics (name -> number)")
    metrics = dict(metrics)
    numbers = [k for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        raise ZooError(f"{_who(task)}.evaluate returned no number (keys: "
                       f"{', '.join(map(str, metrics)) or 'none'}); expected a dict of metrics "
                       f"with at least one number")
    metrics["headline"] = headline(task, numbers)
    return metrics


def headline(task: Task, numbers: list[str]) -> list[str]:
    """The keys of ``numbers`` the task's ``HEADLINE`` patterns match, in declaration order;
    every one but counts when it declares none."""
    if not task.HEADLINE:
        return [key for key in numbers if key not in ("count", "windows")]
    return list(dict.fromkeys(key for pattern in task.HEADLINE for key in numbers
                              if fnmatch.fnmatchcase(key, pattern)))


def predict(task: Task, run: Run, inputs, **options) -> list:
    """``task.predict`` checked: a list with one JSON-ready result per input."""
    return returned(task, "predict", task.predict(run, inputs, **options), list,
                    "a list with one result per input")


def export_spec(task: Task, run: Run, format: str, examples: int):
    """``task.export_spec`` checked: an ExportSpec, or a non-empty list of them (one per
    artifact)."""
    specs = task.export_spec(run, format, examples)
    if isinstance(specs, ExportSpec):
        return specs
    if not isinstance(specs, (list, tuple)) or not specs or not all(
            isinstance(spec, ExportSpec) for spec in specs):
        raise ZooError(f"{_who(task)}.export_spec returned {_kinds(specs)}; expected a "
                       f"zoo.tasks.ExportSpec or a list of them")
    return list(specs)


def report_sections(task: Task, run: Run) -> list:
    """``task.report_sections`` checked: a list of zoo.reports.Section."""
    sections = returned(task, "report_sections", task.report_sections(run), list,
                        "a list of zoo.reports.Section")
    if not all(isinstance(section, reports.Section) for section in sections):
        raise ZooError(f"{_who(task)}.report_sections returned {_kinds(sections)}; expected "
                       f"zoo.reports.Section objects")
    return sections


def returned(task: Task, method: str, value, expected, what: str):
    """``value`` if it is an instance of ``expected``; else one ZooError line naming the task,
    its plugin and ``method``, and saying ``what`` the contract expects."""
    if isinstance(value, expected):
        return value
    raise ZooError(f"{_who(task)}.{method} returned {type(value).__name__}; expected {what} "
                   f"(docs/writing-plugins.md, 'Tasks')")


def _who(task: Task) -> str:
    """``task TextTask (plugin zoo-lab)``: how errors name a task."""
    return f"task {type(task).__name__} (plugin {owner(type(task))})"


def owner(cls: type) -> str:
    """The plugin distribution whose package defines ``cls`` (``keras-zoo`` for the core)."""
    package = cls.__module__.split(".")[0]
    for info in registry().plugins.values():
        if any(module.split(".")[0] == package for module in info.modules):
            return info.name
    return "keras-zoo" if package == "zoo" else package


def _kinds(values) -> str:
    """``list of 2 str`` / ``EpochLog``: what a wrong return value was, in a few words."""
    if isinstance(values, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in values})
        return f"a {type(values).__name__} of {', '.join(kinds) or 'nothing'}"
    return type(values).__name__
