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


@_register
class HashedBigrams(layers.Layer):
    """(batch, time) token ids -> (batch, time - 1) ids of each pair of neighbouring tokens,
    hashed into ``buckets`` (fastText's bigram trick: word order a bag of words can use).

    0 stays padding: a pair with a padded token is 0, every other pair lands in 1..buckets-1.
    Integer ops only (multiply, add, floor-mod, select), so it lowers to TFLite builtins; the
    product stays inside int32 for vocabularies below 270,000 words.
    """

    MULTIPLIER = 7919  # a prime, so (a, b) and (b, a) land apart

    def __init__(self, buckets=20000, **kwargs):
        super().__init__(**kwargs)
        if int(buckets) < 2:
            raise ValueError(f"HashedBigrams needs at least 2 buckets, got {buckets!r}")
        self.buckets = int(buckets)

    def call(self, token_ids):
        token_ids = ops.cast(token_ids, "int32")
        first, second = token_ids[:, :-1], token_ids[:, 1:]
        hashed = 1 + (first * self.MULTIPLIER + second) % (self.buckets - 1)
        return ops.where((first > 0) & (second > 0), hashed, ops.zeros_like(hashed))

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps - 1)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(self.compute_output_shape(token_ids.shape), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets}
