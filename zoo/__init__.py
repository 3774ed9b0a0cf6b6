"""keras-zoo: a Keras 3 model zoo whose every part comes from plugins.

Importing ``zoo`` is light: the contract, specs and registry need no TensorFlow. The training,
export and model-building functions import it when first called.
"""

from zoo.errors import ZooError
from zoo.hookspecs import CONTRACT_VERSION, hookimpl
from zoo.registry import KINDS, ZooPluginWarning, normalize_kind, plural, registry, reload_plugins
from zoo.specs import Backbone, Component, Head, Model

__all__ = [
    "CONTRACT_VERSION", "Backbone", "Component", "Head", "Model", "ZooError",
    "ZooPluginWarning", "hookimpl", "registry", "reload_plugins", "list", "get", "spec",
    "KINDS", "normalize_kind", "plural", "task_options", "human_size", "new_plugin",
    # heavy, imported on first use:
    "create_backbone", "load_model", "export", "export_formats",
    "finetune", "pretrain", "train", "train_options", "evaluate", "predict", "open_run",
    "RunResult",
    "report", "list_runs", "headline_figures",
]


def list(kind=None, pattern=None):  # noqa: A001 - zoo.list mirrors timm.list_models
    """Specs of installed components: ``zoo.list("backbone", "efficientnet*")``."""
    return registry().list(kind, pattern)


def get(kind, name):
    """The class or builder behind a component: ``zoo.get("layer", "se_block")(ratio=8)``."""
    return registry().get(kind, name)


def spec(kind, name):
    """The spec (name, target, summary, fields) of a component, without importing it."""
    return registry().spec(kind, name)


# Public names that live in modules importing TensorFlow; resolved on first attribute access.
_LAZY = {
    "create_backbone": "zoo.backbones_build",
    "load_model": "zoo.saving",
    "export": "zoo.exporting",
    "export_formats": "zoo.tasks.exports",  # light: the format table
    "finetune": "zoo.api",
    "pretrain": "zoo.api",
    "train": "zoo.api",
    "train_options": "zoo.api",
    "evaluate": "zoo.api",
    "predict": "zoo.api",
    "open_run": "zoo.api",
    "RunResult": "zoo.api",
    "report": "zoo.api",  # report.html of a run
    "list_runs": "zoo.runs",  # light: what `zoo runs` prints
    "headline_figures": "zoo.runs",  # light: the figures a run is judged on
    "task_options": "zoo.tasks",  # light: a task's option table
    "human_size": "zoo.io",
    "new_plugin": "zoo.scaffold",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
