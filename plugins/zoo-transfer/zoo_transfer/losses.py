"""Losses for the heads: label-smoothed and focal cross-entropy for the classifier, a Huber loss
on standardized residuals for the regression head.

The cross-entropies take integer class labels (what image folders give) or one-hot labels.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _one_hot_like(y_true, y_pred):
    """One-hot ``y_true`` unless it already is (same rank and width as ``y_pred``)."""
    y_true = ops.convert_to_tensor(y_true)
    classes = y_pred.shape[-1]
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == classes and classes != 1:
        return ops.cast(y_true, y_pred.dtype)
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    return ops.one_hot(labels, classes, dtype=y_pred.dtype)


@keras.saving.register_keras_serializable(package="zoo_transfer")
class LabelSmoothedCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy with ``label_smoothing`` on integer or one-hot labels."""

    def __init__(self, label_smoothing: float = 0.1, from_logits: bool = False,
                 name: str = "label_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing, self.from_logits = float(label_smoothing), bool(from_logits)

    def call(self, y_true, y_pred):
        return keras.losses.categorical_crossentropy(
            _one_hot_like(y_true, y_pred), y_pred, from_logits=self.from_logits,
            label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="zoo_transfer")
class FocalCrossentropy(keras.losses.Loss):
    """Focal cross-entropy (Lin et al. 2017): down-weights examples the model already gets right."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25, label_smoothing: float = 0.0,
                 from_logits: bool = False, name: str = "focal_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma, self.alpha = float(gamma), float(alpha)
        self.label_smoothing, self.from_logits = float(label_smoothing), bool(from_logits)

    def call(self, y_true, y_pred):
        return keras.losses.categorical_focal_crossentropy(
            _one_hot_like(y_true, y_pred), y_pred, alpha=self.alpha, gamma=self.gamma,
            from_logits=self.from_logits, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha,
                "label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="zoo_transfer")
class StandardizedHuber(keras.losses.Loss):
    """Huber loss on residuals measured in each target's ``scale`` (its standard deviation on
    the training data): regression targets in any units weigh alike, and ``delta`` is in
    standard deviations. Without ``scale``, the plain Huber loss. The image regression task
    passes the scale of its targets.
    """

    def __init__(self, scale=None, delta: float = 1.0, name: str = "standardized_huber",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = None if scale is None else [float(s) for s in np.ravel(scale)]
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        residual = ops.cast(y_true, y_pred.dtype) - y_pred
        if self.scale is not None:
            residual = residual / ops.convert_to_tensor(self.scale, y_pred.dtype)
        size = ops.abs(residual)
        inner = ops.minimum(size, self.delta)  # the quadratic part; beyond delta it is linear
        return ops.mean(0.5 * ops.square(inner) + self.delta * (size - inner), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "delta": self.delta}
