"""SimCLR: contrastive self-supervised learning of a backbone from images without labels.

Each image is augmented twice (:func:`augment_pair`); the backbone plus a small projection MLP
maps both views to vectors, and the NT-Xent loss (:func:`nt_xent`) pulls the two views of an
image together and pushes them from the other images of the batch (Chen et al., 2020, "A Simple
Framework for Contrastive Learning of Visual Representations"). Only the backbone is kept.

Why SimCLR (docs/architecture.md, "Self-supervised pretraining"): it learns useful features in
the first epochs rather than after a long warm-up, needs no momentum encoder or predictor whose
balance can collapse on small data (BYOL, SimSiam), and works on small images where masked-image
modelling needs a ViT. It is said to want large batches (its negatives); in a budget of minutes
on small images, more steps of smaller batches learnt more (docs/architecture.md).

The augmentations run in the tf.data pipeline (stateless ops, one seed per batch, new each
training epoch) on raw RGB 0-255 pixels, so a view is what the backbone's own preprocessing
sees in training.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def augment_pair(images, seed, flip: bool, min_crop: float):
    """Two independently augmented views of a batch of float32 RGB 0-255 ``images``.

    ``seed``: a stateless seed, shape (2,), one per batch. Each view is a random resized crop
    (area ``min_crop``-1, aspect 3/4-4/3), a horizontal flip when ``flip``, brightness and
    contrast jitter (p 0.8) and greyscale (p 0.2): SimCLR's CIFAR recipe, without blur (at 32 px
    it erases the object).
    """
    return tuple(_augment(images, seed + tf.constant([0, 1000], tf.int64) * view, flip, min_crop)
                 for view in (1, 2))


def _augment(images, seed, flip: bool, min_crop: float):
    # Static sizes where known: TF's cost model warns about CropAndResize on unknown shapes.
    batch = images.shape[0] or tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]

    def uniform(offset, low=0.0, high=1.0):
        return tf.random.stateless_uniform([batch], seed + offset, low, high)

    area = uniform(1, min_crop, 1.0)
    ratio = tf.exp(uniform(2, tf.math.log(3 / 4), tf.math.log(4 / 3)))
    crop_h = tf.minimum(tf.sqrt(area / ratio), 1.0)
    crop_w = tf.minimum(tf.sqrt(area * ratio), 1.0)
    top = uniform(3) * (1.0 - crop_h)
    left = uniform(4) * (1.0 - crop_w)
    boxes = tf.stack([top, left, top + crop_h, left + crop_w], axis=1)
    if flip:  # a box from right to left mirrors the crop
        mirrored = uniform(5) < 0.5
        boxes = tf.where(mirrored[:, None], tf.gather(boxes, [0, 3, 2, 1], axis=1), boxes)
    x = tf.image.crop_and_resize(images, boxes, tf.range(batch), [height, width])

    def per_image(values):
        return values[:, None, None, None]

    jitter = per_image(tf.cast(uniform(6) < 0.8, tf.float32))
    brightness = per_image(uniform(7, -0.4, 0.4)) * 255.0
    contrast = per_image(uniform(8, 0.6, 1.4))
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = jitter * ((x - mean) * contrast + mean + brightness) + (1.0 - jitter) * x
    grey = per_image(tf.cast(uniform(9) < 0.2, tf.float32))
    x = grey * tf.image.rgb_to_grayscale(x) + (1.0 - grey) * x  # broadcasts back to RGB
    return tf.clip_by_value(x, 0.0, 255.0)


def nt_xent(z1, z2, temperature: float):
    """(loss, pair accuracy) of SimCLR's normalized-temperature cross-entropy over a batch of
    view pairs.

    For 2N projections, each view's positive is the other view of its image and the 2N - 2
    others are negatives; the loss is the mean over all 2N anchors. The pair accuracy is the
    fraction of anchors whose most similar other view is their positive (chance: 1 / (2N - 1)).
    """
    z = tf.math.l2_normalize(tf.cast(tf.concat([z1, z2], 0), tf.float32), axis=1)
    n = tf.shape(z1)[0]
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits -= 1e9 * tf.eye(2 * n)  # a view is not its own negative
    positives = tf.concat([tf.range(n, 2 * n), tf.range(n)], 0)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(positives, logits))
    found = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), positives)
    return loss, tf.reduce_mean(tf.cast(found, tf.float32))


class SimCLR(keras.Model):
    """``encoder`` (images -> pooled features) plus a projection MLP, trained by NT-Xent on
    ``(view1, view2)`` batches. ``fit`` and ``evaluate`` report ``loss`` and ``pair_accuracy``
    (see :func:`nt_xent`); only :attr:`encoder` is worth keeping."""

    def __init__(self, encoder, projection_dim: int = 128, temperature: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.temperature = temperature
        width = encoder.output_shape[-1]
        self.projector = keras.Sequential([
            keras.layers.Dense(width, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Dense(projection_dim),
        ], name="projector")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.pair_accuracy = keras.metrics.Mean(name="pair_accuracy")

    def call(self, images, training=None):
        return self.projector(self.encoder(images, training=training), training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.pair_accuracy]

    def _loss(self, data, training: bool):
        view1, view2 = data
        return nt_xent(self(view1, training=training), self(view2, training=training),
                       self.temperature)

    def _results(self, loss, pair_accuracy) -> dict:
        self.loss_tracker.update_state(loss)
        self.pair_accuracy.update_state(pair_accuracy)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        # Gradients are summed over replicas, so each replica's loss is its share.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            loss, pair_accuracy = self._loss(data, training=True)
            scaled = self.optimizer.scale_loss(loss / replicas)  # mixed float16: loss scaling
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return self._results(loss, pair_accuracy)

    def test_step(self, data):
        return self._results(*self._loss(data, training=False))


def features(encoder, images) -> np.ndarray:
    """L2-normalised encoder features of ``images`` (an array or a dataset of image batches)."""
    values = np.asarray(encoder.predict(images, verbose=0), np.float32)
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


def knn_accuracy(encoder, bank_images, bank_labels, query_images, query_labels,
                 k: int = 20, temperature: float = 0.1) -> float:
    """Accuracy of a weighted k-nearest-neighbour vote (cosine similarity, weights
    exp(similarity / ``temperature``), as in Wu et al., 2018) of each query among the bank."""
    bank, queries = features(encoder, bank_images), features(encoder, query_images)
    bank_labels, query_labels = np.asarray(bank_labels), np.asarray(query_labels)
    k = min(k, len(bank))
    similarity = queries @ bank.T
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    weights = np.exp(np.take_along_axis(similarity, nearest, axis=1) / temperature)
    votes = np.zeros((len(queries), int(bank_labels.max()) + 1))
    np.add.at(votes, (np.arange(len(queries))[:, None], bank_labels[nearest]), weights)
    return float(np.mean(votes.argmax(axis=1) == query_labels))


class KnnMonitor(keras.callbacks.Callback):
    """Adds ``val_knn_accuracy`` to each epoch's logs: :func:`knn_accuracy` of the held-out
    images among the training images, with the encoder as it is after the epoch."""

    def __init__(self, encoder, bank_images, bank_labels, query_images, query_labels, k: int):
        super().__init__()
        self.encoder, self.k = encoder, k
        self.bank, self.bank_labels = bank_images, bank_labels
        self.queries, self.query_labels = query_images, query_labels

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["val_knn_accuracy"] = knn_accuracy(self.encoder, self.bank, self.bank_labels,
                                                    self.queries, self.query_labels, self.k)
