"""The Task API a plugin implements (contract 2), and the tasks keras-zoo ships.

A :class:`zoo.Model` spec names its task: a built-in name from :data:`BUILTIN_TASKS` or a
``"module:attr"`` Task subclass that a plugin ships. ``zoo finetune`` always runs
``image_classification``, ``zoo pretrain`` ``image_pretraining``; ``zoo train NAME`` runs the
task of model NAME. Every task trains through the one engine (:mod:`zoo.engine`), writes the
same run directory (:mod:`zoo.runs`) and exports through the one pipeline in
:mod:`zoo.exporting`.

Everything in ``__all__`` is the declared plugin API; importing this package never imports
TensorFlow.
"""

from __future__ import annotations

from typing import Any, Callable

from zoo.errors import ZooError
from zoo.specs import import_target
from zoo.tasks.base import (COMMON_OPTIONS, Monitor, Option, Preprocessor, Stage, Substitute,
                            Task, TaskData, cli_name, fraction, non_negative_int, positive_int,
                            sample_rows)
from zoo.tasks.exports import (Agreement, Closeness, ExactMatch, ExportSpec, Input,
                               RegexTokenizer, StandardMetadata)

__all__ = [
    "Task", "TaskData", "Option", "Stage", "Substitute", "Monitor", "Preprocessor",
    "COMMON_OPTIONS",
    "positive_int", "non_negative_int", "fraction", "cli_name", "sample_rows",
    "ExportSpec", "Input", "Agreement", "Closeness", "ExactMatch", "StandardMetadata",
    "RegexTokenizer",
    "BUILTIN_TASKS", "task_class", "task_options",
]

#: Built-in task names -> lazy targets of their Task classes.
BUILTIN_TASKS: dict[str, str] = {
    "image_classification": "zoo.tasks.image_classification:ImageClassificationTask",
    "image_pretraining": "zoo.tasks.image_pretraining:ImagePretrainingTask",
}


def task_class(name: str) -> type:
    """The Task class for a built-in task name or a ``"module:attr"`` target."""
    target = BUILTIN_TASKS.get(name, name)
    if ":" not in target:
        raise ZooError(f"unknown task {name!r}; built-in tasks: {', '.join(BUILTIN_TASKS)}")
    return import_target(target, what=f"task {name!r}")


def task_options(name: str) -> dict:
    """The option table of task ``name`` (``image_classification`` for ``zoo finetune``,
    ``image_pretraining`` for ``zoo pretrain``): name -> :class:`Option`."""
    return task_class(name).all_options()


def task_for_run(run, log: Callable[[str], None] = print) -> Any:
    """Rebuild the Task that trained ``run`` from its config.json (a missing plugin is named)."""
    with run.naming_missing_plugins():
        task = task_class(run.config["task"]).from_run(run)
    task.log = log
    return task
