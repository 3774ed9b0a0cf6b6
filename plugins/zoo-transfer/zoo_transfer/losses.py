"""Losses for the heads: label-smoothed and focal cross-entropy, batch-hard triplet.

The cross-entropies take integer class labels (what image folders give) or one-hot labels.
"""

from __future__ import annotations

import keras
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
class BatchHardTripletLoss(keras.losses.Loss):
    """Batch-hard triplet loss (Hermans et al. 2017) on embeddings with integer labels.

    For each anchor: the farthest same-label embedding and the nearest other-label one in the
    batch, ``max(d_pos - d_neg + margin, 0)``. Batches need several examples per label.
    """

    def __init__(self, margin: float = 0.2, name: str = "batch_hard_triplet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        x = ops.cast(y_pred, "float32")
        squared = ops.sum(ops.square(x), axis=-1)
        d2 = squared[:, None] - 2.0 * ops.matmul(x, ops.transpose(x)) + squared[None, :]
        distance = ops.sqrt(ops.maximum(d2, 1e-12))
        same = ops.equal(labels[:, None], labels[None, :])
        not_self = ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool"))
        positives = ops.logical_and(same, not_self)
        hardest_positive = ops.max(ops.where(positives, distance, 0.0), axis=1)
        far = ops.max(distance) + 1.0
        hardest_negative = ops.min(ops.where(same, far, distance), axis=1)
        return ops.relu(hardest_positive - hardest_negative + self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
