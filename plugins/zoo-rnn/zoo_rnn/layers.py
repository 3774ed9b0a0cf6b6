"""Keras layers of zoo-rnn: pooling over time that respects the padding mask.

Both are serializable (package ``zoo_rnn``) and mixed-precision safe, and lower to TFLite
builtin ops (the mask becomes a multiply and a select).
"""

from __future__ import annotations

import keras
from keras import layers, ops

_register = keras.saving.register_keras_serializable(package="zoo_rnn")


def _float_mask(mask, like):
    """(batch, time) bool mask -> (batch, time, 1) in ``like``'s dtype; all ones when None."""
    if mask is None:
        return ops.ones_like(like[..., :1])
    return ops.expand_dims(ops.cast(mask, like.dtype), -1)


@_register
class MaskedGlobalPooling(layers.Layer):
    """Pool (batch, time, features) over time, skipping padded steps.

    ``mode``: ``"mean"``, ``"max"`` or ``"mean_max"`` (both, concatenated: the mean says what a
    text is mostly about, the max whether a telling word occurs anywhere).
    """

    MODES = ("mean", "max", "mean_max")

    def __init__(self, mode="mean_max", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"MaskedGlobalPooling mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        weights = _float_mask(mask, inputs)
        pooled = []
        if self.mode in ("mean", "mean_max"):
            count = ops.maximum(ops.sum(weights, axis=1), ops.cast(1.0, inputs.dtype))
            pooled.append(ops.sum(inputs * weights, axis=1) / count)
        if self.mode in ("max", "mean_max"):
            lowest = ops.cast(-1e4, inputs.dtype)  # stays finite in float16
            pooled.append(ops.max(ops.where(weights > 0, inputs, lowest), axis=1))
        return pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None  # time is gone

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        if self.mode == "mean_max" and features is not None:
            features *= 2
        return (input_shape[0], features)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@_register
class AttentionPooling(layers.Layer):
    """Additive self-attention pooling (Yang et al. 2016): score each time step with
    ``v . tanh(W h + b)``, softmax over the unpadded steps, return the weighted sum of steps.

    ``return_attention=True`` also returns the (batch, time) weights, to show which words counted.
    """

    def __init__(self, units=64, return_attention=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_attention = return_attention
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(features, self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.context = self.add_weight(name="context", shape=(self.units, 1),
                                       initializer="glorot_uniform")

    def call(self, inputs, mask=None):
        dtype = inputs.dtype  # weights are float32 variables; compute in the input's dtype
        hidden = ops.tanh(ops.matmul(inputs, ops.cast(self.kernel, dtype))
                          + ops.cast(self.bias, dtype))
        scores = ops.squeeze(ops.matmul(hidden, ops.cast(self.context, dtype)), -1)
        if mask is not None:
            scores = ops.where(mask, scores, ops.cast(-1e4, dtype))
        attention = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        pooled = ops.sum(inputs * ops.cast(ops.expand_dims(attention, -1), dtype), axis=1)
        return (pooled, ops.cast(attention, dtype)) if self.return_attention else pooled

    def compute_mask(self, inputs, mask=None):
        return (None, None) if self.return_attention else None

    def compute_output_shape(self, input_shape):
        pooled = (input_shape[0], input_shape[-1])
        return (pooled, tuple(input_shape[:2])) if self.return_attention else pooled

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "return_attention": self.return_attention}
