"""The public Python functions behind ``zoo finetune / train / evaluate / predict``.

Everything the CLI does goes through these::

    import zoo
    run = zoo.finetune("mobilenet_v2", "photos/", weights="none", image_size=32, epochs=8)
    run.evaluate()                      # metrics on the run's held-out split
    run.predict(["cat.jpg"], top_k=3)   # one dict per image
    run.path                            # the run directory

Options are the CLI's, with underscores (``fine_tune_lr=1e-4``); an unknown one raises a
ZooError with a "did you mean".
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

from zoo import engine, reports
from zoo.errors import ZooError
from zoo.registry import registry
from zoo.runs import Run
from zoo.tasks import FINETUNE_TASKS, task_class, task_for_run
from zoo.tasks.image_pretraining import ImagePretrainingTask


class RunResult:
    """A trained run: its directory, config and metrics, and evaluate/predict on its model."""

    def __init__(self, run: Run | str | Path, log: Callable[[str], None] = print):
        self.run = run if isinstance(run, Run) else Run.open(run)
        self.log = log

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def config(self) -> dict:
        return self.run.config

    @property
    def metrics(self) -> dict:
        return self.run.metrics

    @property
    def labels(self) -> list[str]:
        return self.run.labels

    def task(self):
        """The task that trained the run, rebuilt from its config.json."""
        return task_for_run(self.run, self.log)

    def evaluate(self, data: str | Path | None = None) -> dict:
        """Metrics on ``data`` (a folder, a file: what the task reads), or on the run's
        held-out split when None; ``headline`` names the figures the task is judged on."""
        return engine.evaluate(self.task(), self.run, data)

    def predict(self, paths, **options) -> list[dict]:
        """One result per input: what the run's task reads (image files or folders, texts, a
        CSV file, ...); ``top_k=K`` for the K best classes of a classifier."""
        return engine.predict(self.task(), self.run, paths, **options)

    def report(self) -> Path:
        """Write RUN/report.html again (after ``zoo export``, to include the export report)."""
        return reports.write(self.run, engine.report_sections(self.task(), self.run))

    def load_model(self):
        return self.run.load_model()

    def __repr__(self) -> str:
        return f"RunResult({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)


def finetune(backbone: str, data: str | Path, log: Callable[[str], None] = print,
             **options) -> RunResult:
    """Fine-tune ``backbone`` on the class-per-folder images in ``data``, or with
    ``head="multilabel"`` or ``head="regression"`` on a CSV of image paths and targets; see
    ``zoo finetune``."""
    return _train_backbone(finetune_task(options.get("head")), backbone, data, log, options)


def finetune_task(head: str | None) -> type:
    """The task ``zoo finetune`` runs for ``head`` (None: the default classifier), by the kind
    of outputs the head makes (``zoo.Head.task``); a head no task trains is refused here,
    before any data is read."""
    if head is None:
        return task_class(FINETUNE_TASKS["classification"])
    spec = registry().spec("head", head)
    if spec.task not in FINETUNE_TASKS:
        raise ZooError(f"head {spec.name!r} is for {spec.task}, which zoo finetune does not "
                       f"train; it trains {', '.join(FINETUNE_TASKS)} heads (zoo list heads)")
    return task_class(FINETUNE_TASKS[spec.task])


def pretrain(backbone: str, data: str | Path, log: Callable[[str], None] = print,
             **options) -> RunResult:
    """Self-supervised pretraining (SimCLR) of ``backbone`` on the images in ``data``, labels not
    needed; ``finetune(backbone, ..., weights=run.path)`` starts from it. See ``zoo pretrain``."""
    return _train_backbone(ImagePretrainingTask, backbone, data, log, options)


def _train_backbone(task_class, backbone, data, log, options) -> RunResult:
    with _naming_missing_plugins_on_resume(options):
        task = task_class(backbone=backbone, data=None if data is None else str(data), **options)
        return RunResult(engine.train(task, log=log), log=log)


def train(model_name: str, data: str | Path | None = None, log: Callable[[str], None] = print,
          **options) -> RunResult:
    """Train model ``model_name`` (a registered model) with the task its spec names."""
    with _naming_missing_plugins_on_resume(options):
        spec = registry().spec("model", model_name)
        if data is not None:
            options["data"] = str(data)
        task = task_class(spec.task)(spec.name, **options)
        return RunResult(engine.train(task, log=log), log=log)


def _naming_missing_plugins_on_resume(options: dict):
    """``resume=True`` into a run trained with a plugin that is gone now: errors name that
    plugin and how to get it back, as ``evaluate`` does (else "unknown model" is all they say)."""
    run = Run(options["out"]) if options.get("resume") and options.get("out") else None
    if run is None or not run.config_path.is_file():
        return contextlib.nullcontext()
    return run.naming_missing_plugins()


def train_options(model_name: str) -> dict:
    """The options ``zoo.train(model_name, ...)`` accepts: name -> :class:`zoo.tasks.Option`."""
    return task_class(registry().spec("model", model_name).task).train_options()


def open_run(path: str | Path, log: Callable[[str], None] = print) -> RunResult:
    """An existing run directory as a :class:`RunResult`."""
    return RunResult(Run.open(path), log=log)


def evaluate(run: str | Path | RunResult, data: str | Path | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Metrics of ``run``'s model on ``data`` (default: its held-out split)."""
    return _as_result(run, log).evaluate(data)


def predict(run: str | Path | RunResult, inputs, log: Callable[[str], None] = print,
            **options) -> list[dict]:
    """Predictions of ``run``'s model for ``inputs`` (image files or folders, texts, ... as
    its task reads them; ``top_k=K``)."""
    if not inputs:
        raise ZooError("give at least one input to predict (image files or folders, texts, ...)")
    return _as_result(run, log).predict(inputs, **options)


def report(run: str | Path | RunResult, log: Callable[[str], None] = print) -> Path:
    """Write ``RUN/report.html``, one self-contained page (see :mod:`zoo.reports`); returns its
    path."""
    return _as_result(run, log).report()


def _as_result(run, log) -> RunResult:
    return run if isinstance(run, RunResult) else open_run(run, log=log)
