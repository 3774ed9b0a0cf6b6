"""Spec types: what a plugin hook returns. Plain data with a lazy ``"module:attr"`` target.

A spec never imports its target until :meth:`Component.load` is called, so listing the zoo
never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from zoo.errors import ZooError

#: Preprocessing modes a backbone may declare (or a ``"module:attr"`` callable).
PREPROCESS_MODES = ("none", "scale_0_1", "scale_-1_1", "caffe", "torch")


@dataclass(frozen=True)
class Component:
    """A named, lazily imported part: a layer, loss, initializer or anything without extra fields.

    ``kind`` and ``plugin`` are filled in by the loader from the hook that returned the spec and
    the distribution that provides it; plugins leave them empty.
    """

    name: str
    target: str
    summary: str = ""
    aliases: tuple[str, ...] = ()
    kind: str = ""
    plugin: str = ""

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ZooError(f"a spec needs a non-empty string name, got {self.name!r}")
        if not isinstance(self.target, str) or ":" not in self.target:
            raise ZooError(f"{self.name}: target must be 'module:attr', got {self.target!r}")
        # Accept a list or a single string for convenience; store an immutable tuple.
        aliases = (self.aliases,) if isinstance(self.aliases, str) else tuple(self.aliases)
        object.__setattr__(self, "aliases", aliases)

    @property
    def qualified_name(self) -> str:
        """``plugin:name``: the way to pick this spec when two plugins use the same name."""
        return f"{self.plugin}:{self.name}"

    def load(self) -> Any:
        """Import and return the target object."""
        return import_target(self.target, what=f"{self.kind or 'component'} {self.name!r}",
                             plugin=self.plugin)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view; ``summary`` and the contract fields first."""
        row = dataclasses.asdict(self)
        row["aliases"] = list(self.aliases)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()}


@dataclass(frozen=True)
class Backbone(Component):
    """Images in, features out: ``target`` is ``build(input_shape, weights) -> keras.Model``.

    ``weights`` names what it can load (``"none"`` is random init); ``weight_files`` maps a
    weights name to a :class:`zoo.weights.WeightsFile` (URL and hash) the core downloads and caches.
    ``preprocess`` is a mode from :data:`PREPROCESS_MODES` or a ``"module:attr"`` callable; the
    built model contains it, so models take raw RGB pixels 0-255.
    """

    input_size: int = 224
    weights: tuple[str, ...] = ("none",)
    preprocess: str = "none"
    family: str = ""
    weight_files: tuple = ()  # ((weights_name, WeightsFile), ...): hashable, unlike a dict

    def __post_init__(self):
        super().__post_init__()
        weights = (self.weights,) if isinstance(self.weights, str) else tuple(self.weights)
        object.__setattr__(self, "weights", weights)
        if isinstance(self.weight_files, dict):
            object.__setattr__(self, "weight_files", tuple(self.weight_files.items()))
        if self.preprocess not in PREPROCESS_MODES and ":" not in self.preprocess:
            raise ZooError(
                f"backbone {self.name!r}: preprocess must be one of {', '.join(PREPROCESS_MODES)} "
                f"or a 'module:attr' callable, got {self.preprocess!r}")

    def weights_file(self, weights: str):
        """The published file for a weights name, or None if the builder fetches nothing."""
        return dict(self.weight_files).get(weights)

    def to_dict(self) -> dict[str, Any]:
        row = super().to_dict()
        row["weight_files"] = {name: wf.url for name, wf in self.weight_files}
        return row


@dataclass(frozen=True)
class Head(Component):
    """Features in, outputs out: ``target`` is ``build(num_outputs, **options) -> keras Layer``.

    ``task`` says what the outputs are (``classification``, ``multilabel`` or ``regression``):
    ``zoo finetune`` trains the head with the task for it (``zoo.tasks.FINETUNE_TASKS``), its
    data, loss and metrics; a head of another kind is refused there, before any data is read.
    """

    task: str = "classification"


@dataclass(frozen=True)
class Model(Component):
    """A whole trainable architecture: ``target`` is ``build(**options) -> keras.Model``.

    ``task`` names the task that loads data, trains, evaluates and exports it: a built-in task
    name (see ``zoo.tasks``) or a ``"module:attr"`` Task class shipped by the plugin.
    """

    task: str = ""

    def __post_init__(self):
        super().__post_init__()
        if not self.task:
            raise ZooError(f"model {self.name!r} must name its task")


def import_target(target: str, what: str = "target", plugin: str = "") -> Any:
    """Import ``"module:attr"`` (``attr`` may be dotted); errors name the plugin to blame."""
    module_name, _, attr = target.partition(":")
    source = f" from plugin {plugin}" if plugin else ""
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise ZooError(f"cannot import {what}{source}: {exc}; "
                       f"{_reinstall_hint(module_name, plugin)}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ZooError(f"{what}{source}: {module_name} has no attribute {attr!r}; "
                           f"the plugin's spec points at a missing object") from exc
    return obj


def _reinstall_hint(module_name: str, plugin: str) -> str:
    """What to do about a target that does not import: reinstall or disable its plugin, named by
    the spec, else by the one distribution that installed the module's package."""
    package = module_name.partition(".")[0]
    if not plugin:
        owners = dict.fromkeys(metadata.packages_distributions().get(package, []))
        if len(owners) != 1:
            return f"reinstall the plugin that provides {package}"
        (plugin,) = owners
    return f"reinstall {plugin} or disable it with ZOO_DISABLE_PLUGINS={plugin}"
