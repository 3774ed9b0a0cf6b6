"""The GAN task: ``zoo train dcgan|cgan|wgan_gp --data DIR --image-size 32``.

Data is a folder with one sub-folder per class (a single folder is fine for ``dcgan`` and
``wgan_gp``; ``cgan`` needs two or more). All images are read into memory once (GAN data sets
here are small) at ``--image-size``; when every image is gray the networks use one channel.

Training goes through the shared loop (:mod:`zoo.training`): run directory, progress, ``--seed``,
``--resume``, per-epoch checkpoints with both optimizers' state. On top of it each epoch writes
``samples/epoch-NNN.png`` (a fixed-latent grid, one row per class for ``cgan``) and adds the
quality figure ``frechet`` (see :mod:`zoo_gan.quality`) to history.csv; curves.png plots it with
both losses. The run directory then holds ``model.keras`` (the whole GAN), ``generator.keras``,
``discriminator.keras``, ``quality.keras`` (the judge) and metrics.json with the final figures.
"""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ZooError
from zoo.tasks.base import Option, Task, TaskData, non_negative_int, positive_int

QUALITY_MODEL = "quality.keras"
GRID_COLUMNS = 10


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
        "patience": Option(0, non_negative_int, "not used by GANs (no validation loss); keep 0"),
    }

    # -- data -----------------------------------------------------------------------------------
    def load_data(self) -> TaskData:
        import numpy as np
        import tensorflow as tf

        from zoo.data.images import load_images, scan_folder

        opts = self.options
        if not opts["data"]:
            raise ZooError("pass --data DIR: a folder with one sub-folder of images per class")
        root = Path(opts["data"]).expanduser()
        classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else None
        folder = scan_folder(root, val_split=0.0, seed=opts["seed"], classes=classes or None)
        items = folder.splits["train"] + folder.splits["val"] + folder.splits["test"]
        if not items:
            raise ZooError(f"no readable images in {root}; put them in sub-folders (one per class)")
        size = opts["image_size"]
        images = load_images([p for p, _ in items], (size, size))
        labels = np.asarray([c for _, c in items], "int32")
        channels = opts["channels"] or (1 if _is_gray(images) else 3)
        images = images[..., :1] if channels == 1 else images
        self.real = (images, labels)
        self.classes = folder.classes
        self.channels = channels
        batch = min(opts["batch_size"], len(images))
        train = (tf.data.Dataset.from_tensor_slices((images, labels))
                 .shuffle(len(images), seed=opts["seed"], reshuffle_each_iteration=True)
                 .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
        info = {"path": str(folder.root), "images": int(len(images)), "channels": channels,
                "counts": {name: int(n) for name, n in
                           zip(folder.classes, np.bincount(labels, minlength=len(folder.classes)))}}
        for line in folder.report():
            self.log(line)
        return TaskData(train=train, classes=folder.classes, info=info,
                        splits={"train": [[p, c] for p, c in items], "val": [], "test": []})

    def config_extra(self) -> dict:
        size = self.options["image_size"]
        return {"image_size": [size, size], "channels": self.channels}

    # -- model ----------------------------------------------------------------------------------
    def build_model(self, data: TaskData):
        import zoo

        opts = self.options
        gan = zoo.get("model", self.model_name)(
            image_size=opts["image_size"], channels=self.channels, latent_dim=opts["latent_dim"],
            num_classes=len(data.classes), width=opts["width"],
            critic_steps=opts["critic_steps"] or None)
        gan.compile(learning_rate=opts["lr"])
        self.model = gan
        return gan

    def stages(self, model, data: TaskData) -> list:
        from zoo.training import Stage

        def prepare(gan):
            gan.epoch_callbacks = self._epoch_callbacks(gan)

        return [Stage("train", self.options["epochs"], prepare=prepare,
                      description=f"{model.gan_loss} GAN, {len(data.classes)} classes")]

    def _epoch_callbacks(self, gan) -> list:
        from zoo_gan.callbacks import QualityCallback, SampleGrid

        run_dir = Path(self.run_dir)
        judge = self.judge(run_dir)
        return [SampleGrid(run_dir / "samples", gan.num_classes or 0, GRID_COLUMNS,
                           seed=self.options["seed"]),
                QualityCallback(judge, self.options["quality_samples"], self.options["seed"])]

    def judge(self, run_dir: Path):
        """The quality judge of this run: its classifier is trained once and kept in the run."""
        import keras

        from zoo.training import save_model
        from zoo_gan.quality import Judge, train_classifier

        images, labels = self.real
        path = run_dir / QUALITY_MODEL
        if path.is_file():
            classifier = keras.saving.load_model(path)
        else:
            self.log(f"Training the quality judge (a small classifier) on {len(images)} images")
            classifier = train_classifier(images, labels, len(self.classes),
                                          self.options["judge_epochs"])
            save_model(classifier, path)
        return Judge(classifier, images, len(self.classes), seed=self.options["seed"])

    # -- the whole job --------------------------------------------------------------------------
    def write_config(self, run, data: TaskData) -> None:
        # The per-epoch callbacks write into the run; this is the first hook that sees it.
        self.run_dir = run.path
        super().write_config(run, data)

    def train(self, log=print):
        """The shared job, then the two networks saved on their own."""
        from zoo.training import save_model

        run = super().train(log=log)
        save_model(self.model.generator, run.file("generator.keras"))
        save_model(self.model.discriminator, run.file("discriminator.keras"))
        return run

    def evaluate(self, run, data=None) -> dict:
        """Quality figures for ``quality_samples`` fresh images (classes cycled for cgan)."""
        from zoo_gan.models import sample

        gan = self.model if getattr(self, "model", None) is not None else run.load_model()
        if not hasattr(self, "real"):
            self.options["data"] = run.config["data"]["path"]
            self.load_data()
        judge = self.judge(Path(run.path))
        images = sample(gan.generator, self.options["quality_samples"],
                        seed=self.options["seed"] + 1)
        return judge.score(images)

    def predict(self, run, inputs=None, **_) -> list:
        raise ZooError("a GAN takes no inputs to predict from; write images with "
                       "'zoo generate RUN --n N' (zoo_gan.api.generate)")

    def export(self, run, **options):
        from zoo_gan.api import export

        return export(run, **options)

    @classmethod
    def from_run(cls, run) -> "GANTask":
        task = super().from_run(run)
        task.channels = run.config.get("channels", 3)
        task.classes = run.config["data"].get("classes") or []
        return task


def _is_gray(images) -> bool:
    return bool((images[..., 0] == images[..., 1]).all()
                and (images[..., 1] == images[..., 2]).all())
