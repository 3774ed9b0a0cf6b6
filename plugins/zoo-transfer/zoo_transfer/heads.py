"""The heads: one Keras layer, :class:`DenseHead`, configured three ways, one per image task that
trains heads (classification, multi-label, regression).

Every head pools a feature map (``(batch, h, w, c)``) to a vector, or takes a vector as is, then
applies one dense layer. Its outputs are float32 even under a mixed-precision policy, so
softmax/sigmoid and the losses stay numerically safe.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo import ZooError

ACTIVATIONS = ("softmax", "sigmoid", "linear")


@keras.saving.register_keras_serializable(package="zoo_transfer")
class DenseHead(keras.layers.Layer):
    """Pool, dropout, dense, then ``activation`` (and L2-normalize when ``normalize``)."""

    def __init__(self, units: int, activation: str = "softmax", dropout: float = 0.0,
                 pooling: str = "avg", normalize: bool = False,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ZooError(f"head activation must be one of {', '.join(ACTIVATIONS)}, "
                           f"got {activation!r}")
        if pooling not in ("avg", "max"):
            raise ZooError(f"head pooling must be 'avg' or 'max', got {pooling!r}")
        self.units, self.activation, self.dropout = int(units), activation, float(dropout)
        self.pooling, self.normalize = pooling, bool(normalize)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.pool = (keras.layers.GlobalAveragePooling2D if pooling == "avg"
                     else keras.layers.GlobalMaxPooling2D)(dtype=self.dtype_policy)
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.dense = keras.layers.Dense(self.units, kernel_initializer=self.kernel_initializer,
                                        dtype=self.dtype_policy, name="dense")

    def build(self, input_shape):
        self.dense.build((input_shape[0], input_shape[-1]))

    def call(self, inputs, training=None):
        x = self.pool(inputs) if len(inputs.shape) == 4 else inputs
        if self.dropout:
            x = self.drop(x, training=training)
        x = ops.cast(self.dense(x), "float32")
        if self.activation == "softmax":
            x = ops.softmax(x, axis=-1)
        elif self.activation == "sigmoid":
            x = ops.sigmoid(x)
        if self.normalize:
            x = x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor((inputs.shape[0], self.units), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "dropout": self.dropout, "pooling": self.pooling, "normalize": self.normalize,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def classifier(num_outputs: int, dropout: float = 0.2, name: str = "head",
               **options) -> DenseHead:
    """Softmax over ``num_outputs`` classes."""
    return DenseHead(num_outputs, "softmax", dropout, name=name, **options)


def multilabel(num_outputs: int, dropout: float = 0.2, name: str = "head",
               **options) -> DenseHead:
    """An independent sigmoid per label."""
    return DenseHead(num_outputs, "sigmoid", dropout, name=name, **options)


def regression(num_outputs: int, dropout: float = 0.0, name: str = "head",
               **options) -> DenseHead:
    """``num_outputs`` real values."""
    return DenseHead(num_outputs, "linear", dropout, name=name, **options)
