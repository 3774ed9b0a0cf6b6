"""Saving and loading ``.keras`` models: :func:`save_model` writes a trained model atomically
in float32; ``zoo.load_model`` reloads a file whose custom objects come from plugins.

Keras finds a registered class only if the module that registers it has been imported. The saved
``config.json`` names that module for every custom object, so this reads it first and imports the
modules that belong to installed plugins (or to the libraries they depend on), then loads with
Keras' ``safe_mode`` on. It never imports a module that no installed plugin vouches for.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from zoo import io
from zoo.errors import ZooError
from zoo.plugins import normalize

#: Packages whose classes Keras resolves by itself.
KERAS_PACKAGES = {"builtins", "keras", "keras_hub", "keras_cv", "keras_nlp", "tensorflow", "numpy"}


def load_model(path, compile: bool = True):  # noqa: A002 - mirrors keras.saving.load_model
    """Load a ``.keras`` model, importing the plugin modules it needs; no ``custom_objects``."""
    path = Path(path)
    for module, registered_name in _needed_modules(path).items():
        _import_for(module, registered_name, path)
    import keras

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise ZooError(f"cannot load {path}: {_first_line(exc)}") from exc


def saved_modules(path) -> dict[str, str]:
    """Module -> one registered name, for every custom object a ``.keras`` file refers to."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"no model file at {path}; pass the path of a .keras file "
                       f"(a run's model.keras)")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ZooError(f"{path} is not a readable .keras file ({_first_line(exc)}); "
                       f"it is corrupt or was saved in another format (.h5, SavedModel)") from exc
    found: dict[str, str] = {}
    _walk(config, found)
    return found


def _walk(node, found: dict[str, str]) -> None:
    if isinstance(node, dict):
        module = node.get("module")
        if isinstance(module, str) and "class_name" in node:
            found.setdefault(module, node.get("registered_name") or node["class_name"])
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)


def _needed_modules(path: Path) -> dict[str, str]:
    return {module: name for module, name in saved_modules(path).items()
            if module.split(".")[0] not in KERAS_PACKAGES and module not in sys.modules}


def _import_for(module: str, registered_name: str, path: Path) -> None:
    """Import ``module`` if an installed plugin vouches for it; otherwise say what to install."""
    import zoo

    registry = zoo.registry()
    root = module.split(".")[0]
    owner = _owners(registry).get(root)
    if owner is not None and not owner.loaded:
        fix = ("enable it (ZOO_DISABLE_PLUGINS / ZOO_LOAD_PLUGINS)" if owner.status == "disabled"
               else f"fix or reinstall it ({owner.error})")
        raise ZooError(f"{path} needs module {module} from plugin {owner.name}, which is "
                       f"{owner.status}; {fix}")
    if owner is None and root != "zoo" and not _is_dependency(root, registry):
        raise ZooError(f"{path} needs module {module} ({registered_name}), which no installed "
                       f"zoo plugin provides; install the plugin that provides it")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ZooError(f"{path} needs module {module}, which fails to import "
                       f"({_first_line(exc)}); reinstall the plugin that provides it") from exc


def _owners(registry) -> dict:
    """Top-level package -> PluginInfo, from every plugin's hook modules and spec targets."""
    owners = {}
    for info in registry.plugins.values():
        for module in info.modules:
            owners.setdefault(module.split(".")[0], info)
    for spec in registry.specs:
        owners.setdefault(spec.target.split(":")[0].split(".")[0],
                          registry.plugins[normalize(spec.plugin)])
    owners.pop("zoo", None)  # the core vouches for its own modules
    return owners


def _is_dependency(root: str, registry) -> bool:
    """Whether package ``root`` comes from a distribution that a loaded plugin requires."""
    providers = {normalize(d) for d in _distributions_of_packages().get(root, ())}
    if not providers:
        return False
    required = set()
    for info in registry.plugins.values():
        if not info.loaded:
            continue
        try:
            requires = metadata.requires(info.name) or []
        except metadata.PackageNotFoundError:
            requires = []
        required |= {normalize(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requires}
    return bool(providers & required)


@functools.lru_cache(maxsize=1)
def _distributions_of_packages() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # scans every installed distribution: do it once


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def save_model(model, path: str | Path) -> Path:
    """Save a ``.keras`` model atomically, in float32 (see :func:`float32_copy`)."""
    with io.atomic_path(path, suffix=".keras") as tmp:
        float32_copy(model).save(tmp)
    return Path(path)


def float32_copy(model):
    """``model`` rebuilt with float32 layers and the same weights, if it was built under a
    mixed-precision policy (else ``model`` itself).

    Mixed precision is how a model trains fast; what is saved for evaluation and export is the
    float32 model (TFLite has no bfloat16 kernels, and CPUs run float16 slowly). The weights of
    a mixed-precision model are float32 already, so nothing is lost.
    """
    import keras

    def mixed(layer):
        return layer.dtype_policy.name.startswith("mixed_")

    if not any(mixed(layer) for layer in model._flatten_layers(include_self=True)):
        return model

    def to_float32(node):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy":
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {key: "float32" if key == "dtype" and value in ("float16", "bfloat16")
                    else to_float32(value) for key, value in node.items()}
        if isinstance(node, list):
            return [to_float32(item) for item in node]
        return node

    config = to_float32(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy
