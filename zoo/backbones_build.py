"""``zoo.create_backbone``: any registered backbone as a model that takes raw RGB pixels 0-255."""

from __future__ import annotations

import keras

import zoo
from zoo import weights as weights_lib
from zoo.errors import ZooError
from zoo.layers import HubFeatures, Preprocess
from zoo.nested import nested_layers
from zoo.specs import Backbone

#: BatchNormalization momentum for backbones trained from scratch (see _train_from_scratch).
SCRATCH_BN_MOMENTUM = 0.9


def create_backbone(name: str | Backbone, weights: str | None = "none",
                    input_shape=None) -> keras.Model:
    """Build backbone ``name`` (or alias, ``dist:name``, or a :class:`zoo.Backbone` spec).

    ``weights``: ``none``, a weights name the backbone declares (``imagenet``), a local file
    path, or ``tfhub:HANDLE-or-DIR`` for the ``tfhub`` backbone. ``input_shape`` defaults to the
    backbone's ``(input_size, input_size, 3)``; an int means a square RGB image.

    The model takes float32 RGB pixels 0-255 and returns the backbone's features. Inside it, the
    layer ``"preprocess"`` applies the backbone's preprocessing and the nested model
    ``"backbone"`` is what fine-tuning freezes and unfreezes.
    """
    spec = name if isinstance(name, Backbone) else zoo.spec("backbone", name)
    shape = _input_shape(spec, input_shape)
    weights_path = weights_lib.resolve(spec, weights)
    build = spec.load()
    try:
        backbone = build(shape, weights_path)
    except (ValueError, OSError) as exc:
        # keras.applications reject sizes they cannot take (under 32 px, or 75 for Inception),
        # and weight files that do not fit or do not open; say which backbone, shape, weights.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ZooError(f"backbone {spec.name!r} cannot be built for input_shape {shape} with "
                       f"weights {weights!r}: {first}") from None
    if not isinstance(backbone, keras.Model):
        raise ZooError(f"backbone {spec.name!r} from {spec.plugin or 'its plugin'}: {spec.target} "
                       f"returned {type(backbone).__name__}, not a keras.Model")
    backbone.name = "backbone"
    if weights_path is None:
        _train_from_scratch(backbone)
    images = keras.Input(shape, dtype="float32", name="images")
    features = backbone(Preprocess(spec.preprocess, name="preprocess")(images))
    return keras.Model(images, features, name=spec.name)


def _input_shape(spec: Backbone, input_shape) -> tuple[int, int, int]:
    if input_shape is None:
        input_shape = spec.input_size
    if isinstance(input_shape, int):
        input_shape = (input_shape, input_shape, 3)
    shape = tuple(input_shape)
    if len(shape) == 2:
        shape = (*shape, 3)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ZooError(f"input_shape must be (height, width, 3) with positive sizes, got "
                       f"{input_shape!r}")
    if shape[2] != 3:
        raise ZooError(f"backbone {spec.name!r} takes RGB images, so input_shape must have 3 "
                       f"channels, got {shape}; convert grayscale images to RGB")
    return shape


def _train_from_scratch(backbone: keras.Model) -> None:
    """Set every BatchNormalization momentum to 0.9 for random-init training.

    keras.applications keep ImageNet-style momenta (0.99-0.999): their moving statistics then
    lag far behind the weights during a short from-scratch run, and the model validates at chance
    while training fine (measured: MobileNetV2 and EfficientNetB0 at 0.08-0.11 after 8 epochs on
    digits; 0.93 with momentum 0.9). Pretrained backbones keep their momenta.
    """
    for layer in nested_layers(backbone):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = SCRATCH_BN_MOMENTUM


def tfhub_backbone(input_shape, weights) -> keras.Model:
    """The ``tfhub`` backbone: the SavedModel in ``weights`` (a local directory) as a model."""
    if weights is None:
        raise ZooError("the tfhub backbone needs a model: --weights tfhub:HANDLE-or-DIR")
    images = keras.Input(tuple(input_shape), name="images")
    return keras.Model(images, HubFeatures(weights, name="hub_features")(images))
