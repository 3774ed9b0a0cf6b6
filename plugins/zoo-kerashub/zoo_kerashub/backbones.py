"""KerasHub presets as zoo backbones: fetching a preset through keras-hub's own loader and
cache, and building it as a model that takes raw RGB pixels 0-255.

The built model is ``images -> image_converter -> <keras-hub backbone> [-> pooled tokens]``:

- ``image_converter`` is a ``keras.layers.Rescaling`` with the preset's ImageConverter scale and
  offset (per channel where the preset has them): a multiply and an add, so TFLite keeps to
  builtin ops. Resizing is the zoo's data pipeline's job (``--image-size``).
- the keras-hub backbone stays one nested model: keras-hub serializes its backbones as a whole
  (some of its layers do not round-trip alone), so a saved ``model.keras`` reloads.
- a backbone that returns tokens (ViT, DeiT, Swin) is reduced to one vector the way its
  keras-hub ImageClassifier does: the class token where it has one, else the mean token; one
  that returns a dict of stages (HGNetV2) gives its last stage.

Imports keras_hub (and so TensorFlow) in its functions: the hook module never imports this.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from zoo import ZooError
from zoo_kerashub import catalog

CONFIG_FILE = "config.json"
CONVERTER_FILE = "image_converter.json"
WEIGHTS_FILE = "model.weights.h5"
SHARDS_FILE = "model.weights.json"  # sharded weights: an index naming the shard files

#: Backbones whose first output token is a class token, read by their ImageClassifier
#: (``pooling="token"``); the value is the config key that can turn it off, if any.
CLASS_TOKEN = {"ViTBackbone": "use_class_token", "DeiTBackbone": None}


def __getattr__(name: str):
    """``zoo_kerashub.backbones:<preset>``, the target of each built-in preset's spec."""
    preset = None if name.startswith("_") else catalog.presets().get(name)  # not __path__ etc.
    if preset is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return functools.partial(build_preset, preset)


# -- fetching ------------------------------------------------------------------------------

def fetch(name: str, url: str) -> str:
    """``ExternalWeights.fetch`` of the built-in presets: the preset's config, ImageConverter and
    weights, downloaded once by keras-hub's own loader into kagglehub's cache; its directory."""
    return str(_download(name, url, weights=True))


def _download(name: str, handle: str, weights: bool) -> Path:
    """The local directory of preset ``name`` (at ``handle``) with its config and converter, and
    its weights if ``weights``: the files ``keras_hub.models.Backbone.from_preset`` reads."""
    import requests
    from keras_hub.src.utils import preset_utils

    try:
        config = Path(preset_utils.get_file(handle, CONFIG_FILE))
        _optional(preset_utils, handle, CONVERTER_FILE)
        if weights and not _optional(preset_utils, handle, WEIGHTS_FILE):
            index = preset_utils.get_file(handle, SHARDS_FILE)
            for shard in _shard_files(Path(index)):
                preset_utils.get_file(handle, shard)
    except requests.RequestException as exc:
        raise ZooError(f"cannot download KerasHub preset {name} from {handle} "
                       f"({_network_reason(exc)}): keras-hub keeps it in kagglehub's cache "
                       f"{_cache_dir(handle)} (KAGGLEHUB_CACHE) after one download, so connect "
                       f"once, or pass --weights DIR, a local preset directory "
                       f"(keras-hub's save_to_preset)") from None
    except (FileNotFoundError, ValueError) as exc:
        raise ZooError(f"cannot fetch KerasHub preset {name} from {handle}: "
                       f"{_first_line(exc)}") from None
    return config.parent


def _optional(preset_utils, handle: str, filename: str) -> bool:
    """Fetch ``filename`` if the preset has it; whether it does."""
    try:
        preset_utils.get_file(handle, filename)
    except FileNotFoundError:
        return False
    return True


def _shard_files(index: Path) -> list[str]:
    weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    return sorted({name for value in weight_map.values()
                   for name in (value if isinstance(value, list) else [value])})


def _cache_dir(handle: str) -> Path:
    """Where kagglehub keeps ``handle`` (``kaggle://owner/model/framework/variation/version``)."""
    from kagglehub.config import get_cache_folder

    return Path(get_cache_folder()).expanduser() / "models" / handle.removeprefix("kaggle://")


def _network_reason(exc: Exception) -> str:
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return f"no network? {found.group(0) if found else type(exc).__name__}"


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -- building ------------------------------------------------------------------------------

def build_preset(preset: catalog.Preset, input_shape, weights):
    """The builder behind a built-in preset's spec. ``weights`` (resolved by the core):

    - None: the preset's architecture and converter, randomly initialised (``--weights none``);
    - a preset directory: what :func:`fetch` brought, or ``--weights DIR``, which must hold a
      preset of the same backbone class (a local copy, or one fine-tuned elsewhere);
    - a ``.weights.h5`` file: this backbone's weights from a run (``--weights RUN``).
    """
    if weights is not None and Path(weights).is_dir():
        return _build(Path(weights), input_shape, load_weights=True, like=preset)
    model = _build(_download(preset.name, preset.handle, weights=False), input_shape,
                   load_weights=False, like=preset)
    if weights is not None:
        model.load_weights(weights)
    return model


def from_directory(input_shape, weights):
    """The ``kerashub`` backbone: the preset in directory ``weights`` (``--weights DIR``)."""
    if weights is None or not Path(weights).is_dir():
        raise ZooError("the kerashub backbone builds a KerasHub preset directory: pass "
                       "--weights DIR, written by keras-hub's save_to_preset (a run's weights "
                       "alone do not say the architecture); for a built-in preset use its own "
                       "name (zoo list backbones)")
    return _build(Path(weights), input_shape, load_weights=True)


def _build(directory: Path, input_shape, load_weights: bool, like: catalog.Preset | None = None):
    import keras
    import keras_hub

    config = _read_json(directory / CONFIG_FILE, directory)
    class_name = config.get("class_name")
    if like is not None and class_name != like.backbone_class:
        raise ZooError(f"{directory} holds a {class_name} preset, not a {like.backbone_class} "
                       f"like {like.name}; fine-tune it as 'zoo finetune kerashub --weights "
                       f"{directory}'")
    arguments = config.get("config", {})
    shape_key = next((key for key in ("image_shape", "input_shape") if key in arguments), None)
    overrides = {shape_key: tuple(input_shape)} if shape_key else {}
    try:
        hub = keras_hub.models.Backbone.from_preset(
            str(directory), load_weights=load_weights, dtype=keras.config.dtype_policy().name,
            **overrides)
    except (ValueError, TypeError, KeyError) as exc:
        trained = arguments.get(shape_key) if shape_key else None
        if trained and None not in trained[:2] and tuple(trained[:2]) != tuple(input_shape[:2]):
            height, width = trained[:2]
            raise ZooError(f"{directory.name} was made for {height}x{width} images and its "
                           f"weights do not fit {input_shape[0]}x{input_shape[1]}: pass "
                           f"--image-size {height if height == width else f'{height}x{width}'}"
                           ) from None
        raise ZooError(f"{directory} is not a KerasHub backbone preset this keras-hub can "
                       f"load: {_first_line(exc)}") from None
    images = keras.Input(tuple(input_shape), name="images")
    scale, offset = _converter(directory)
    x = keras.layers.Rescaling(scale, offset, name="image_converter")(images)
    return keras.Model(images, _features(hub(x), hub), name=hub.name)


def _converter(directory: Path) -> tuple:
    """(scale, offset) of the preset's ImageConverter, each a number or one per channel; a
    preset without one takes its inputs as they come (1, 0), as keras-hub would feed them."""
    path = directory / CONVERTER_FILE
    if not path.is_file():
        return 1.0, 0.0
    arguments = _read_json(path, directory).get("config", {})
    scale, offset = arguments.get("scale"), arguments.get("offset")
    return (1.0 if scale is None else scale), (0.0 if offset is None else offset)


def _features(outputs, hub):
    """A feature map or vector, as the zoo's heads take them (see the module doc)."""
    import keras

    if isinstance(outputs, dict):
        outputs = list(outputs.values())[-1]
    if len(outputs.shape) != 3:
        return outputs
    if not _has_class_token(hub):
        return keras.layers.GlobalAveragePooling1D(name="token_mean")(outputs)
    tokens, width = outputs.shape[1], outputs.shape[2]
    first = keras.layers.Cropping1D((0, tokens - 1), name="class_token")(outputs)
    return keras.layers.Reshape((width,), name="class_token_vector")(first)


def _has_class_token(hub) -> bool:
    family = type(hub).__name__
    if family not in CLASS_TOKEN:
        return False
    switch = CLASS_TOKEN[family]
    return switch is None or bool(hub.get_config().get(switch, True))


def _read_json(path: Path, directory: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ZooError(f"{directory} is not a KerasHub preset directory ({path.name}: "
                       f"{_first_line(exc)}); pass a directory written by keras-hub's "
                       f"save_to_preset") from None
    if not isinstance(value, dict):
        raise ZooError(f"{path} is not a KerasHub preset file; pass a directory written by "
                       f"keras-hub's save_to_preset")
    return value
