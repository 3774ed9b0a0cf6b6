"""Helpers for tasks that build and train Keras models (part of the declared plugin API):
optimizers and schedules, saving a trained model, images in a run's TensorBoard logs.

The epoch loop itself (stages, checkpoints, resume, early stopping) is the engine's
(:mod:`zoo.loop`, driven by :mod:`zoo.engine`); a task describes its training with
:class:`Stage` s and never calls the loop.
"""

from __future__ import annotations

from pathlib import Path

import keras

from zoo.errors import ZooError
from zoo.runs import Run
from zoo.saving import float32_copy, save_model
from zoo.tasks.base import Stage, Substitute

__all__ = ["Stage", "Substitute", "make_optimizer", "warmup_cosine", "save_model",
           "float32_copy", "log_image"]


def warmup_cosine(peak_lr: float, total_steps: int, warmup_steps: int | None = None):
    """Linear warm-up to ``peak_lr`` then cosine decay to 0 (a serializable Keras schedule)."""
    total_steps = max(1, int(total_steps))
    warmup = max(0, min(int(warmup_steps if warmup_steps is not None else total_steps // 10),
                        total_steps - 1))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak_lr, decay_steps=total_steps - warmup,
        warmup_target=peak_lr if warmup else None, warmup_steps=warmup)


def make_optimizer(name: str, learning_rate):
    """A Keras optimizer by name: adam, adamw, sgd (Nesterov momentum 0.9), rmsprop or any other
    ``keras.optimizers`` name."""
    if name.lower() == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    try:
        optimizer_class = type(keras.optimizers.get(name.lower()))
    except ValueError:
        raise ZooError(f"unknown optimizer {name!r}; use adam, adamw, sgd, rmsprop or another "
                       f"keras.optimizers name") from None
    return optimizer_class(learning_rate=learning_rate)


def log_image(run, tag: str, image, step: int, subdir: str = "validation") -> None:
    """Write ``image`` into the run's TensorBoard logs (``logs/<subdir>``) at ``step`` (an epoch
    index, as the scalars use). ``image``: a PNG file path, PNG bytes, or an H x W (x C) uint8
    array."""
    import numpy as np
    import tensorflow as tf

    if isinstance(image, (str, Path)):
        image = Path(image).read_bytes()
    if isinstance(image, (bytes, bytearray)):
        pixels = tf.io.decode_png(bytes(image), channels=0)
    else:
        pixels = np.asarray(image)
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    logdir = str((run if isinstance(run, Run) else Run(getattr(run, "path", run))).logs_dir /
                 subdir)
    writer = tf.summary.create_file_writer(logdir)  # a new events file; closed right after
    try:
        with writer.as_default():
            tf.summary.image(tag, tf.convert_to_tensor(pixels)[None], step=int(step))
    finally:
        writer.close()
