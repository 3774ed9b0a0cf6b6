"""The Task API a plugin implements (contract 2), and the tasks keras-zoo ships.

A :class:`zoo.Model` spec names its task: a built-in name from :data:`BUILTIN_TASKS` or a
``"module:attr"`` Task subclass that a plugin ships. ``zoo finetune`` runs the task its head is
for (:data:`FINETUNE_TASKS`: ``image_classification`` by default, ``image_multilabel`` and
``image_regression`` on a CSV), ``zoo pretrain`` ``image_pretraining``; ``zoo train NAME`` runs
the task of model NAME. Every task trains through the one engine (:mod:`zoo.engine`), writes the
same run directory (:mod:`zoo.runs`) and exports through the one pipeline in
:mod:`zoo.exporting`.

Everything in ``__all__`` is the declared plugin API; importing this package never imports
TensorFlow.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from zoo.errors import ZooError
from zoo.specs import import_target
from zoo.tasks.base import (COMMON_OPTIONS, Monitor, Option, Preprocessor, Stage, Substitute,
                            Task, TaskData, cli_name, fraction, non_negative_int, positive_int,
                            sample_rows)
from zoo.tasks.exports import (Agreement, Closeness, ExactMatch, ExportSpec, Input,
                               LabelAgreement, RegexTokenizer, ScaledCloseness, StandardMetadata)

__all__ = [
    "Task", "TaskData", "Option", "Stage", "Substitute", "Monitor", "Preprocessor",
    "COMMON_OPTIONS",
    "positive_int", "non_negative_int", "fraction", "cli_name", "sample_rows",
    "ExportSpec", "Input", "Agreement", "LabelAgreement", "Closeness", "ScaledCloseness",
    "ExactMatch", "StandardMetadata", "RegexTokenizer",
    "BUILTIN_TASKS", "FINETUNE_TASKS", "task_class", "task_options",
]

#: Built-in task names -> lazy targets of their Task classes.
BUILTIN_TASKS: dict[str, str] = {
    "image_classification": "zoo.tasks.image_classification:ImageClassificationTask",
    "image_pretraining": "zoo.tasks.image_pretraining:ImagePretrainingTask",
    "image_multilabel": "zoo.tasks.image_tables:ImageMultilabelTask",
    "image_regression": "zoo.tasks.image_tables:ImageRegressionTask",
}

#: What ``zoo finetune`` trains for each kind of head (``zoo.Head.task``): its built-in task.
FINETUNE_TASKS: dict[str, str] = {
    "classification": "image_classification",
    "multilabel": "image_multilabel",
    "regression": "image_regression",
}


def task_class(name: str) -> type:
    """The Task class for a built-in task name or a ``"module:attr"`` target."""
    target = BUILTIN_TASKS.get(name, name)
    if ":" not in target:
        raise ZooError(f"unknown task {name!r}; built-in tasks: {', '.join(BUILTIN_TASKS)}")
    return import_target(target, what=f"task {name!r}")


def task_options(*names: str) -> dict:
    """The option table of task ``name`` (``image_pretraining`` for ``zoo pretrain``): name ->
    :class:`Option`. Given several names (``zoo finetune``'s tasks), their union in the first
    one's order: an option whose default differs between them defaults to None (each task
    fills in its own) and lists every task's default in its help."""
    tables = {name: task_class(name).all_options() for name in names}
    merged: dict = {}
    for table in tables.values():
        for option, spec in table.items():
            merged.setdefault(option, spec)
    for option, spec in merged.items():
        defaults = {name: table[option].default for name, table in tables.items()
                    if option in table}
        if len(set(map(repr, defaults.values()))) > 1:
            shown = "; ".join(f"{name}: {value}" for name, value in defaults.items())
            merged[option] = replace(spec, default=None, help=f"{spec.help} [default "
                                                              f"{shown}]")
    return merged


def task_for_run(run, log: Callable[[str], None] = print) -> Any:
    """Rebuild the Task that trained ``run`` from its config.json (a missing plugin is named)."""
    with run.naming_missing_plugins():
        task = task_class(run.config["task"]).from_run(run)
    task.log = log
    return task
