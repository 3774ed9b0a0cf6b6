"""Builders for the keras.applications backbones: ``zoo.applications:ResNet50`` and so on.

Any public constructor name of ``keras.applications`` is an attribute here, returning the
backbone-contract builder ``build(input_shape, weights) -> keras.Model``: no classifier top, no
pooling (the feature map), and ``weights`` None or a local file the core already resolved.
"""

from __future__ import annotations

import functools


def build(constructor, input_shape, weights):
    return constructor(include_top=False, weights=weights, input_shape=tuple(input_shape),
                       pooling=None)


def __getattr__(name):
    if name.startswith("_"):  # keep import machinery probes (__path__, ...) off keras
        raise AttributeError(name)
    import keras

    constructor = getattr(keras.applications, name, None)
    if constructor is None:
        raise AttributeError(f"keras.applications has no {name!r}")
    return functools.partial(build, constructor)
