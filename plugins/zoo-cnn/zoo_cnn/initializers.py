"""Initializers Keras lacks, and LSUV data-dependent initialization.

``ScaledOrthogonal`` and ``DeltaOrthogonal`` are serializable initializers (package ``zoo_cnn``).
LSUV (Mishkin & Matas 2016) needs data, so it is a function, :func:`lsuv_init`, run once on a
built model and a batch; its result lives in the weights, so nothing extra is saved with a model.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

#: Gain that keeps activations' variance through a layer followed by this nonlinearity.
GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0),
         "relu6": math.sqrt(2.0), "selu": 0.75}

_register = keras.saving.register_keras_serializable(package="zoo_cnn")


def _gain(nonlinearity, gain):
    if nonlinearity not in GAINS:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; choose from {', '.join(GAINS)}")
    return gain * GAINS[nonlinearity]


def _orthogonal(rows, cols, rng):
    """A rows x cols matrix with orthonormal rows or columns (whichever are fewer)."""
    flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
    return q if rows >= cols else q.T


class _SeededInitializer(keras.initializers.Initializer):
    def __init__(self, nonlinearity="relu", gain=1.0, seed=None):
        _gain(nonlinearity, gain)  # validate early
        self.nonlinearity = nonlinearity
        self.gain = gain
        self.seed = seed

    def _rng(self):
        # A fixed seed gives the same kernel each call, like Keras' seeded initializers.
        return np.random.default_rng(self.seed)

    def get_config(self):
        return {"nonlinearity": self.nonlinearity, "gain": self.gain, "seed": self.seed}


@_register
class ScaledOrthogonal(_SeededInitializer):
    """An orthogonal kernel times ``gain`` x the gain of ``nonlinearity`` (sqrt 2 for ReLU).

    A conv kernel (kh, kw, in, out) is orthogonal as a (kh*kw*in, out) matrix.
    """

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        matrix = _orthogonal(rows, shape[-1], self._rng()) * _gain(self.nonlinearity, self.gain)
        return ops.convert_to_tensor(matrix.reshape(shape), dtype=dtype or "float32")


@_register
class DeltaOrthogonal(_SeededInitializer):
    """Delta-orthogonal conv kernel (Xiao et al. 2018): a scaled orthogonal (in, out) matrix at
    the centre tap and zeros elsewhere, so a deep plain CNN starts as a norm-preserving map."""

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 3:
            raise ValueError(f"DeltaOrthogonal is for conv kernels, got shape {shape}")
        kernel = np.zeros(shape, dtype="float32")
        centre = tuple(size // 2 for size in shape[:-2])
        kernel[centre] = _orthogonal(shape[-2], shape[-1], self._rng()) \
            * _gain(self.nonlinearity, self.gain)
        return ops.convert_to_tensor(kernel, dtype=dtype or "float32")


def _kernel_layers(model):
    """Conv, depthwise conv and dense layers in call order, including those inside blocks."""
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense,
             keras.layers.Conv1D)
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, kinds) and layer.built]


def _output_std(model, layer, batch):
    """Standard deviation of ``layer``'s output when ``model`` runs on ``batch`` (inference)."""
    captured = []
    original = layer.call

    def capture(*args, **kwargs):
        out = original(*args, **kwargs)
        captured.append(out)
        return out

    layer.call = capture
    try:
        model(batch, training=False)
    finally:
        del layer.call
    return float(ops.std(ops.cast(captured[-1], "float32")))


def lsuv_init(model, batch, target_std=1.0, tolerance=0.05, max_iterations=10,
              orthogonal=True, seed=None):
    """Layer-sequential unit-variance initialization, in place; returns ``{layer: final std}``.

    Each conv/dense kernel, in call order, is (optionally) re-drawn orthogonal and then rescaled
    until its output on ``batch`` has standard deviation ``target_std`` within ``tolerance``.
    Use a batch of real training inputs, preprocessed as the model expects them.
    """
    batch = ops.convert_to_tensor(batch)
    result = {}
    for index, layer in enumerate(_kernel_layers(model)):
        kernel = layer.depthwise_kernel if isinstance(layer, keras.layers.DepthwiseConv2D) \
            else layer.kernel
        if orthogonal:
            draw_seed = None if seed is None else seed + index
            kernel.assign(ScaledOrthogonal("linear", seed=draw_seed)(kernel.shape, kernel.dtype))
        std = _output_std(model, layer, batch)
        for _ in range(max_iterations):
            if abs(std - target_std) <= tolerance or std == 0:
                break
            kernel.assign(kernel * (target_std / std))
            std = _output_std(model, layer, batch)
        result[layer.path] = std
    return result
