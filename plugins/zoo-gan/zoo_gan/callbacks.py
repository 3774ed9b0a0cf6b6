"""Per-epoch GAN callbacks: a sample grid PNG and the quality figure in the epoch's logs."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from zoo import io
from zoo.training import log_image
from zoo_gan.models import sample
from zoo_gan.quality import image_grid


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """One uint8 image (H x W gray or H x W x 3) written atomically as PNG."""
    from PIL import Image

    with io.atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    return path


class SampleGrid(keras.callbacks.Callback):
    """``samples/epoch-NNN.png``: the same latent vectors every epoch, so epochs compare.

    A conditional generator gets one row per class (``columns`` samples each).
    """

    def __init__(self, out: Path, num_classes: int, columns: int = 10, seed: int = 0):
        super().__init__()
        self.out, self.num_classes, self.columns, self.seed = Path(out), num_classes, columns, seed

    def on_epoch_end(self, epoch, logs=None):
        rows = self.num_classes or self.columns
        labels = np.repeat(np.arange(self.num_classes), self.columns) if self.num_classes else None
        images = sample(self.model.generator, rows * self.columns, labels=labels, seed=self.seed)
        grid = image_grid(images, self.columns)
        write_png(self.out / f"epoch-{epoch + 1:03d}.png", grid)
        # the run's TensorBoard logs (samples/ sits in the run directory): one image per epoch
        log_image(self.out.parent, "samples", grid, step=epoch, subdir="train")


class QualityCallback(keras.callbacks.Callback):
    """Adds ``frechet`` (see :mod:`zoo_gan.quality`) to the epoch's logs, hence history.csv."""

    def __init__(self, judge, samples: int = 500, seed: int = 0):
        super().__init__()
        self.judge, self.samples, self.seed = judge, samples, seed

    def on_epoch_end(self, epoch, logs=None):
        images = sample(self.model.generator, self.samples, seed=self.seed + epoch)
        if logs is not None:
            logs["frechet"] = self.judge.frechet(images)
