"""The GAN task: ``zoo train dcgan|cgan|wgan_gp --data DIR --image-size 32`` (Task API v2).

Data is a folder with one sub-folder per class (a single folder is fine for ``dcgan`` and
``wgan_gp``; ``cgan`` needs two or more). All images are read into memory once (GAN data sets
here are small) at ``--image-size``; when every image is gray the networks use one channel.
:meth:`GANTask.load_data` returns them as a :class:`GANData`.

Training goes through the shared loop (:mod:`zoo.training`): run directory, progress, ``--seed``,
``--resume``, per-epoch checkpoints with both optimizers' state. :meth:`GANTask.callbacks` adds,
each epoch, ``samples/epoch-NNN.png`` (a fixed-latent grid, one row per class for ``cgan``) and
the quality figure ``frechet`` (see :mod:`zoo_gan.quality`) in history.csv; curves.png plots it
with both losses. The run directory then holds ``model.keras`` (the whole GAN),
``generator.keras``, ``discriminator.keras`` (:meth:`GANTask.save`), ``quality.keras`` (the
judge) and metrics.json with the final figures.

``zoo export`` writes the generator (:meth:`GANTask.export_spec`): latent (and label) in, float32
pixels 0-255 out, compared with Keras on fixed latent vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import ZooError
from zoo.tasks import (Closeness, ExportSpec, Input, Monitor, Option, Stage, Task, TaskData,
                       non_negative_int, positive_int)

QUALITY_MODEL = "quality.keras"
GRID_COLUMNS = 10
#: Quantizations a generator exports with (no full-integer export for generators).
QUANTIZATIONS = ("none", "float16", "dynamic")
#: Fixed latent vectors an exported generator is compared with Keras on.
EXPORT_EXAMPLES = 8
#: How far an exported generator's pixels (0-255) may be from the Keras generator's.
EXPORT_TOLERANCE = {"none": 1.0, "float16": 16.0, "dynamic": 16.0}


@dataclass
class GANData(TaskData):
    """The GAN task's data: every real image (uint8-valued float32, N x H x W x C), its class
    index, and the number of channels the networks use."""

    images: Any = None
    labels: Any = None
    channels: int = 3


class GANTask(Task):
    name = "zoo_gan.tasks:GANTask"
    OPTIONS = {
        "image_size": Option(32, positive_int, "square image size, a power of two: 16, 32, 64"),
        "latent_dim": Option(64, positive_int, "length of the generator's latent vector"),
        "width": Option(16, positive_int, "channels of the discriminator's first layer "
                                          "(each later layer doubles it; the generator mirrors)"),
        "channels": Option(0, int, "1 gray or 3 RGB; 0 detects (gray when every image is)",
                           (0, 1, 3)),
        "critic_steps": Option(0, int, "discriminator steps per generator step "
                                       "(0: 1, or 3 for wgan_gp)"),
        "quality_samples": Option(500, positive_int, "generated images scored after each epoch"),
        "judge_epochs": Option(8, positive_int, "epochs of the small classifier that scores them"),
        # Common options with GAN defaults; there is no validation loss to stop early on.
        "epochs": Option(30, positive_int, "training epochs"),
        "batch_size": Option(32, positive_int, "images per step"),
        "lr": Option(2e-4, float, "Adam learning rate of both networks"),
        "patience": Option(0, non_negative_int, "stop after this many epochs without a lower "
                                                "Frechet distance (0, the default, never stops)"),
    }
    EXPORTS = {"tflite": QUANTIZATIONS, "saved_model": ("none",)}
    #: There is no validation loss; the quality judge's Fréchet distance of each epoch's samples
    #: (lower is better) picks the weights kept, as GAN practice keeps its best checkpoint.
    MONITOR = Monitor("frechet", "min")
    HEADLINE = ("frechet", "near_real_fraction", "classes_covered", "mean_confidence")

    # -- data -----------------------------------------------------------------------------------
    def load_data(self) -> GANData:
        if not self.options["data"]:
            raise ZooError("pass --data DIR: a folder with one sub-folder of images per class")
        return self._read(self.options["data"], self.options["channels"])

    def _read(self, path, channels: int = 0) -> GANData:
        """Every image under ``path`` at ``--image-size``, in ``channels`` (0: detect)."""
        import numpy as np
        import tensorflow as tf

        from zoo.data import load_images, scan_folder

        opts = self.options
        root = Path(path).expanduser()
        classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else None
        folder = scan_folder(root, val_split=0.0, seed=opts["seed"], classes=classes or None)
        items = folder.splits["train"] + folder.splits["val"] + folder.splits["test"]
        if not items:
            raise ZooError(f"no readable images in {root}; put them in sub-folders (one per class)")
        size = opts["image_size"]
        images = load_images([p for p, _ in items], (size, size))
        labels = np.asarray([c for _, c in items], "int32")
        channels = channels or (1 if _is_gray(images) else 3)
        images = images[..., :1] if channels == 1 else images
        batch = min(opts["batch_size"], len(images))
        train = (tf.data.Dataset.from_tensor_slices((images, labels))
                 .shuffle(len(images), seed=opts["seed"], reshuffle_each_iteration=True)
                 .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
        info = {"path": str(folder.root), "images": int(len(images)), "channels": channels,
                "counts": {name: int(n) for name, n in
                           zip(folder.classes, np.bincount(labels, minlength=len(folder.classes)))}}
        for line in folder.report():
            self.log(line)
        return GANData(train=train, classes=folder.classes, info=info,
                       splits={"train": [[p, c] for p, c in items], "val": [], "test": []},
                       images=images, labels=labels, channels=channels)

    def config_extra(self, data: GANData) -> dict:
        size = self.options["image_size"]
        return {"image_size": [size, size], "channels": data.channels}

    # -- model ----------------------------------------------------------------------------------
    def build_model(self, data: GANData):
        import zoo

        opts = self.options
        gan = zoo.get("model", self.model_name)(
            image_size=opts["image_size"], channels=data.channels, latent_dim=opts["latent_dim"],
            num_classes=len(data.classes), width=opts["width"],
            critic_steps=opts["critic_steps"] or None)
        gan.compile(learning_rate=opts["lr"])
        return gan

    def stages(self, model, data: GANData) -> list[Stage]:
        return [Stage("train", self.options["epochs"],
                      description=f"{model.gan_loss} GAN, {len(data.classes)} classes")]

    def callbacks(self, run, model, data: GANData) -> list:
        """The sample grid and the quality figure of every epoch (the judge is trained here,
        once, and kept in the run as ``quality.keras``)."""
        from zoo_gan.callbacks import QualityCallback, SampleGrid

        judge = self.judge(run, data)
        return [SampleGrid(run.file("samples"), model.num_classes or 0, GRID_COLUMNS,
                           seed=self.options["seed"]),
                QualityCallback(judge, self.options["quality_samples"], self.options["seed"])]

    def judge(self, run, data: GANData):
        """The quality judge of ``run``: its classifier is trained once and kept in the run."""
        import zoo
        from zoo.training import save_model
        from zoo_gan.quality import Judge, train_classifier

        num_classes = len(data.classes or [])
        path = run.file(QUALITY_MODEL)
        if path.is_file():
            classifier = zoo.load_model(path)
        else:
            self.log(f"Training the quality judge (a small classifier) on {len(data.images)} "
                     f"images")
            classifier = train_classifier(data.images, data.labels, num_classes,
                                          self.options["judge_epochs"])
            save_model(classifier, path)
        return Judge(classifier, data.images, num_classes, seed=self.options["seed"])

    def save(self, run, model, data: GANData) -> None:
        """``model.keras`` (the whole GAN), then the two networks on their own."""
        from zoo.training import save_model

        super().save(run, model, data)
        save_model(model.generator, run.file("generator.keras"))
        save_model(model.discriminator, run.file("discriminator.keras"))

    # -- using a trained run --------------------------------------------------------------------
    def evaluate(self, run, data=None) -> dict:
        """Quality figures for ``quality_samples`` fresh images (classes cycled for cgan),
        against the training images (``data`` None or the TaskData of training) or the images
        in the folder ``data``; the result's ``data`` says which (the headline line shows it)."""
        from zoo_gan.models import sample

        real = "the training images" if data is None or isinstance(data, GANData) else str(data)
        if not isinstance(data, GANData):
            # config.json's data path is absolute (--data may have been relative to another cwd)
            path = data if data is not None else \
                run.config["data"].get("path") or self.options["data"]
            if not path:
                raise ZooError(f"{run.path} records no data folder; pass the real images to "
                               f"compare with (zoo evaluate RUN --data DIR)")
            data = self._read(path, run.config.get("channels", self.options["channels"]))
        gan = run.load_model(compile=False)
        judge = self.judge(run, data)
        images = sample(gan.generator, self.options["quality_samples"],
                        seed=self.options["seed"] + 1)
        scores = judge.score(images)
        return {**scores, "data": f"{scores['samples']} generated images vs {real}"}

    def report_sections(self, run) -> list:
        """The quality figures, then the last epoch's sample grid (the same latent vectors
        every epoch; one row per class for a conditional GAN) beside the first one."""
        from zoo.reports import Figure, Section

        sections = super().report_sections(run)
        grids = sorted(run.file("samples").glob("epoch-*.png"))
        if grids:
            shown = [grids[0], grids[-1]] if len(grids) > 1 else grids
            sections.append(Section("Samples", [
                Figure(path, f"generated after epoch {int(path.stem.split('-')[-1])}")
                for path in shown]))
        return sections

    def predict(self, run, inputs=None, **_) -> list:
        raise ZooError("a GAN takes no inputs to predict from; write images with "
                       "'zoo generate RUN --n N' (zoo_gan.api.generate)")

    def export_spec(self, run, format: str, examples: int) -> ExportSpec:
        """The generator: ``latent`` (float32 ``[N, latent_dim]``) and, when conditional,
        ``label`` (int32 ``[N]``) in, ``images`` (float32 pixels 0-255) out; compared with Keras
        on fixed latent vectors (seed 0), classes cycled."""
        import numpy as np

        from zoo_gan.api import load_generator
        from zoo_gan.models import generator_num_classes

        generator = load_generator(run)
        num_classes = generator_num_classes(generator)
        latent_dim = int(generator.inputs[0].shape[-1])
        count = max(1, min(EXPORT_EXAMPLES, examples))
        latents = np.random.default_rng(0).standard_normal(
            (EXPORT_EXAMPLES, latent_dim)).astype("float32")[:count]
        inputs = (Input("latent", (latent_dim,), "float32"),)
        if num_classes:
            labels = (np.arange(count) % num_classes).astype("int32")
            inputs += (Input("label", (), "int32"),)
            arrays = (latents, labels)

            def function(latent, label):
                return {"images": generator([latent, label], training=False)}
        else:
            arrays = (latents,)

            def function(latent):
                return {"images": generator(latent, training=False)}

        return ExportSpec(
            name="generator", function=function, inputs=inputs, examples=arrays,
            output="images", track=(generator,), examples_from="fixed latent vectors",
            comparison=Closeness(atol=EXPORT_TOLERANCE, unit="of 255 per pixel"),
            describe={"output": "images (float32 0-255)",
                      "image_shape": [int(d) for d in generator.outputs[0].shape[1:]]})


def _is_gray(images) -> bool:
    return bool((images[..., 0] == images[..., 1]).all()
                and (images[..., 1] == images[..., 2]).all())
