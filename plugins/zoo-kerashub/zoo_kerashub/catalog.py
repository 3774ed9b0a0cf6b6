"""The image presets the installed keras-hub ships, read without importing keras_hub.

``import keras_hub`` imports Keras and TensorFlow (seconds) and ``zoo list`` must stay light, so
the catalog is read from the installed package's files: every model family that has an
ImageClassifier (a ``<family>/*_image_classifier.py``), the preset dicts its ``__init__.py``
registers (``register_presets(backbone_presets, ResNetBackbone)``, read with :mod:`ast`), and
their values from ``<family>_presets.py``, a module of plain dict literals. The package
directory comes from ``importlib.util.find_spec``, which locates keras_hub without running it.

The result equals ``keras_hub.models.ImageClassifier.presets`` (a test checks it against the
imported library), so a keras-hub upgrade that adds a family or a preset shows up in
``zoo list backbones`` by itself.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from zoo import ZooError

#: Square input size when neither the preset's description nor its name gives one.
DEFAULT_SIZE = 224


@dataclass(frozen=True)
class Preset:
    """One built-in keras-hub preset of an image backbone."""

    name: str
    family: str  # the keras-hub model directory: resnet, vit, efficientnet, ...
    backbone_class: str  # ResNetBackbone, ...: what its config.json deserializes to
    handle: str  # kaggle://keras/...: where keras-hub downloads it from
    description: str = ""
    params: int | None = None
    input_size: int = DEFAULT_SIZE


def keras_hub_dir() -> Path:
    """The installed keras_hub package directory, found without importing it."""
    spec = importlib.util.find_spec("keras_hub")
    if spec is None or not spec.submodule_search_locations:
        raise ZooError("zoo-kerashub needs the keras-hub package, which is not installed: "
                       "pip install keras-hub (or reinstall zoo-kerashub)")
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=1)
def presets() -> dict[str, Preset]:
    """Every image-classification backbone preset of the installed keras-hub, by name."""
    models = keras_hub_dir() / "src" / "models"
    found: dict[str, Preset] = {}
    for family_dir in sorted({path.parent for path in models.glob("*/*_image_classifier.py")}):
        for values, backbone_class in _registered(family_dir):
            for name, preset in values.items():
                found[name] = _preset(name, family_dir.name, backbone_class, preset)
    if not found:
        raise ZooError(f"found no image presets in keras-hub at {models.parent.parent}; this "
                       f"keras-hub lays out its presets in a way zoo-kerashub does not know: "
                       f"upgrade zoo-kerashub, or install the keras-hub it was tested with")
    return found


def _registered(family_dir: Path):
    """(preset dict, backbone class name) for each ``register_presets`` call of the family."""
    init = _parse(family_dir / "__init__.py")
    names = {alias.asname or alias.name: (node.module, alias.name)
             for node in init.body if isinstance(node, ast.ImportFrom)
             for alias in node.names}
    for node in ast.walk(init):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "register_presets"
                and len(node.args) == 2 and all(isinstance(a, ast.Name) for a in node.args)):
            continue
        module, variable = names.get(node.args[0].id, (None, None))
        backbone_class = names.get(node.args[1].id, (None, node.args[1].id))[1]
        if module is None or not backbone_class.endswith("Backbone"):
            continue
        source = family_dir / f"{module.rpartition('.')[2]}.py"
        yield _module_values(source).get(variable, {}), backbone_class


def _preset(name: str, family: str, backbone_class: str, preset: dict) -> Preset:
    metadata = preset.get("metadata", {})
    description = " ".join(str(metadata.get("description", "")).split())
    params = metadata.get("params")
    return Preset(name, family, backbone_class, preset.get("kaggle_handle", ""), description,
                  params if isinstance(params, int) else None,
                  _input_size(name, description))


def _input_size(name: str, description: str) -> int:
    """The resolution the preset was trained at, as its description ("at a 224x224 resolution")
    or its name says: after a patch or window size (``vit_base_patch16_384_imagenet``), an
    ``r`` (``..._r240_imagenet``) or at the end (``mit_b0_ade20k_512``); never a depth
    (``resnet_152_imagenet``)."""
    said = re.search(r"\b(\d{2,4})\s*x\s*\1\b", description)
    named = re.search(r"(?:_r|patch\d+_|window\d+_)(\d{3,4})(?:_|$)|_(\d{3,4})$", name)
    if said:
        return int(said.group(1))
    return int(named.group(1) or named.group(2)) if named else DEFAULT_SIZE


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _module_values(path: Path) -> dict:
    """The names a presets module defines. These modules hold only dict literals and import
    nothing, so running one is cheap; loading it through importlib (under a private name, so
    keras_hub's own import is untouched) reuses its cached bytecode, ten times faster than
    parsing the source on every ``zoo list``."""
    spec = importlib.util.spec_from_file_location(f"_zoo_kerashub_catalog.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module)
