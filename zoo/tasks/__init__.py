"""Tasks: how one kind of model gets its data, trains, evaluates, predicts and exports.

A :class:`zoo.Model` spec names its task: a built-in name from :data:`BUILTIN_TASKS` or a
``"module:attr"`` Task subclass that a plugin ships. ``zoo finetune`` always runs
``image_classification``; ``zoo train NAME`` runs the task of model NAME. Every task trains
through the one loop in :mod:`zoo.training` and writes the same run directory (:mod:`zoo.runs`).
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooError
from zoo.specs import import_target

#: Built-in task names -> lazy targets of their Task classes.
BUILTIN_TASKS: dict[str, str] = {
    "image_classification": "zoo.tasks.image_classification:ImageClassificationTask",
}


def task_class(name: str) -> type:
    """The Task class for a built-in task name or a ``"module:attr"`` target."""
    target = BUILTIN_TASKS.get(name, name)
    if ":" not in target:
        raise ZooError(f"unknown task {name!r}; built-in tasks: {', '.join(BUILTIN_TASKS)}")
    return import_target(target, what=f"task {name!r}")


def task_for_run(run) -> Any:
    """Rebuild the Task that trained ``run`` from its config.json."""
    config = run.config
    return task_class(config["task"]).from_run(run)
