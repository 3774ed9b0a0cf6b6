"""Self-supervised pretraining: ``zoo pretrain BACKBONE --data DIR`` on images without labels.

The backbone learns by SimCLR (:mod:`zoo.contrastive`): two augmented views of each image,
a projection MLP, the NT-Xent loss. The run is like every other (config, history, curves,
TensorBoard logs, checkpoints, ``--resume``, report.html); its ``model.keras`` is the encoder
(raw RGB 0-255 -> the backbone's pooled features), whose nested ``backbone`` is what
``zoo finetune BACKBONE --weights RUN`` starts from.

Progress a person can read, per epoch: ``pair_accuracy``, the fraction of views whose nearest
other view in the batch is the other view of the same image (label-free; chance is 1 in
2 x batch - 1), and the contrastive ``loss``, on training and held-out images. When DIR has one
sub-folder per class, the labels are never trained on; they only score ``val_knn_accuracy``:
a k-nearest-neighbour vote (cosine similarity, k = 20) of the held-out images among the
training images' features, the standard monitor of self-supervised learning.

Importing this module is light; TensorFlow is imported by the methods.
"""

from __future__ import annotations

import functools

from zoo import recipes
from zoo.errors import ZooError
from zoo.saving import save_model
from zoo.tasks.base import Monitor, Option, Task, TaskData, non_negative_int, positive_int
from zoo.tasks.image_classification import image_size

#: The k of the k-NN monitor (and of ``evaluate``).
KNN_K = 20
#: The fewest training images a pretraining run accepts: a batch needs negatives.
MIN_IMAGES = 16


def crop_fraction(value) -> float:
    """A fraction of the image area in (0, 1]."""
    number = float(value)
    if not 0 < number <= 1:
        raise ValueError(value)
    return number


class ImagePretrainingTask(Task):
    """SimCLR on a folder of images (class folders, when present, only score the k-NN monitor)."""

    name = "image_pretraining"
    OPTIONS = {
        "image_size": Option(None, image_size, "input size, 96 or HxW (default: the backbone's)"),
        "val_split": Option(0.1, float, "fraction of the images held out for the validation "
                                        "loss and the k-NN monitor"),
        "temperature": Option(0.5, float, "NT-Xent temperature"),
        "projection_dim": Option(128, positive_int, "size of the projection the loss compares"),
        "min_crop": Option(0.6, crop_fraction, "smallest random crop, as a fraction of the area"),
        "flip": Option(False, bool, "also flip views horizontally (photos; not digits or text)"),
        # Batch and epochs are resolved from the data (zoo.recipes.pretrain_defaults) when not
        # given: a step budget, in batches small enough to give it in minutes.
        "batch_size": Option(None, positive_int, "images per training step, each seen twice "
                                                 f"(default from the data: up to "
                                                 f"{recipes.PRETRAIN_BATCH[1]})"),
        "lr": Option(3e-3, float, "peak learning rate (warm-up, then cosine decay)"),
        "epochs": Option(None, positive_int, f"training epochs (default from the data: about "
                                             f"{recipes.PRETRAIN_STEPS} optimizer steps in all)"),
        "patience": Option(0, non_negative_int, "stop after this many epochs without a lower validation "
                                   "loss (0, the default, never stops early)"),
    }

    #: Best weights by the held-out contrastive loss: label-free, like the training.
    MONITOR = Monitor("val_loss", "min")
    HEADLINE = ("knn_accuracy", "val_loss", "val_pair_accuracy")
    NOT_EXPORTED = ("a {title} pretraining run is a backbone to fine-tune, not a model to ship; "
                    "fine-tune it first: zoo finetune {title} --data DIR --weights RUN")

    def __init__(self, model_name: str | None = None, backbone: str | None = None, **options):
        super().__init__(model_name or backbone, **options)
        self.backbone = model_name or backbone

    @classmethod
    def from_run(cls, run) -> "ImagePretrainingTask":
        task = super().from_run(run)
        task.options["image_size"] = run.config.get("image_size") or task.options["image_size"]
        return task

    @functools.cached_property
    def backbone_spec(self):
        import zoo

        return zoo.spec("backbone", self.backbone)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.options["image_size"] or (self.backbone_spec.input_size,) * 2)

    def run_name(self) -> str:
        return f"{self.model_name}-pretrain"

    def config_extra(self, data) -> dict:
        return {"backbone": self.backbone_spec.name, "image_size": list(self.size),
                "preprocess": self.backbone_spec.preprocess, "method": "simclr"}

    def check(self) -> None:
        if not self.backbone:
            raise ZooError("pretraining needs a backbone: zoo pretrain BACKBONE --data DIR (see "
                           "'zoo list backbones')")
        if not self.options["data"]:
            raise ZooError("pass --data DIR: a folder of images (labels are not needed)")
        if not 0 < self.options["val_split"] < 1:
            raise ZooError(f"--val-split must be between 0 and 1 (the held-out images score "
                           f"the validation loss), got {self.options['val_split']}")
        if self.options["temperature"] <= 0:
            raise ZooError(f"--temperature must be positive, got {self.options['temperature']}")
        self.backbone = self.model_name = self.backbone_spec.name

    # -- data -----------------------------------------------------------------------------------
    def load_data(self) -> TaskData:
        from zoo.data.images import scan_unlabelled

        opts = self.options
        folder = scan_unlabelled(opts["data"], opts["val_split"], opts["seed"])
        for line in folder.report():
            self.log(line)
        train, val = folder.splits["train"], folder.splits["val"]
        resolved = self.fill_defaults(recipes.pretrain_defaults(len(train)))
        if len(train) < MIN_IMAGES:
            raise ZooError(f"{folder.root} has {len(train)} training images; contrastive "
                           f"pretraining needs at least {MIN_IMAGES} (a few thousand help)")
        if len(val) < 2:
            raise ZooError(f"--val-split {opts['val_split']} holds out {len(val)} of "
                           f"{len(train) + len(val)} images; the validation loss needs at "
                           f"least 2: raise --val-split")
        return TaskData(self._views(train, training=True), self._views(val, training=False),
                        classes=folder.classes or None,
                        info={**folder.info(), "images": len(train) + len(val)},
                        splits=folder.to_json(), recipe=resolved,
                        recipe_basis=f"{len(train)} training images")

    def _views(self, items, training: bool):
        """(view 1, view 2) batches of ``items``' images: new views every epoch in training,
        the same ones every epoch in validation (so its loss compares across epochs).

        Batches are full (``--batch-size``, or every image when there are fewer): the loss and
        the pair accuracy depend on the batch size, so a smaller last batch would skew them
        (and BatchNorm too); each epoch leaves out fewer than one batch, different ones in
        training. The k-NN monitor scores every held-out image.
        """
        import tensorflow as tf

        from zoo.contrastive import augment_pair
        from zoo.data.images import image_dataset

        opts = self.options
        images = image_dataset(items, self.size, self._batch(len(items)), shuffle=training,
                               seed=opts["seed"], drop_remainder=True).map(lambda x, _: x)
        seeds = tf.data.Dataset.random(seed=opts["seed"],
                                       rerandomize_each_iteration=training).batch(2)
        return tf.data.Dataset.zip(images, seeds).map(
            lambda x, seed: augment_pair(x, seed, opts["flip"], opts["min_crop"]),
            num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _batch(self, images: int) -> int:
        """The (global) batch for a split of ``images``: --batch-size, or all when fewer."""
        return min(self.global_batch_size, images)

    # -- model ----------------------------------------------------------------------------------
    def build_model(self, data: TaskData):
        import keras

        import zoo
        from zoo.contrastive import SimCLR
        from zoo.training import make_optimizer, warmup_cosine

        opts = self.options
        images = keras.Input((*self.size, 3), name="images")
        features = zoo.create_backbone(self.backbone_spec, "none", input_shape=(*self.size, 3))
        pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features(images)) \
            if len(features.output_shape) == 4 else features(images)
        encoder = keras.Model(images, pooled, name=f"{self.backbone}_encoder")
        model = SimCLR(encoder, opts["projection_dim"], opts["temperature"],
                       name=f"{self.backbone}_simclr")
        model(keras.ops.zeros((1, *self.size, 3)))  # built, so --resume can load weights
        train_images = len(data.splits["train"])
        batch = self._batch(train_images)
        model.compile(optimizer=make_optimizer(
            opts["optimizer"], warmup_cosine(opts["lr"], opts["epochs"] * (train_images // batch))))
        self.log(f"Model: {self.backbone} (from scratch) + projection to "
                 f"{opts['projection_dim']} (SimCLR, temperature {opts['temperature']:g}), "
                 f"{model.count_params():,} parameters; chance pair accuracy "
                 f"{1 / (2 * batch - 1):.4f}")
        return model

    def callbacks(self, run, model, data: TaskData) -> list:
        """The k-NN monitor, when the folder's class folders give labels to score it with."""
        if not data.classes:
            return []
        from zoo.contrastive import KnnMonitor

        splits = data.splits
        return [KnnMonitor(model.encoder, self._images(splits["train"]),
                           [c for _, c in splits["train"]], self._images(splits["val"]),
                           [c for _, c in splits["val"]], k=KNN_K)]

    def _images(self, items):
        from zoo.data.images import image_dataset

        return image_dataset([tuple(item) for item in items], self.size,
                             self.options["batch_size"])

    def save(self, run, model, data: TaskData) -> None:
        """The encoder alone: the projection head only served the loss."""
        save_model(model.encoder, run.model_path)

    # -- using a trained run --------------------------------------------------------------------
    def evaluate(self, run, data=None) -> dict:
        """``knn_accuracy`` of the held-out images among the training images (when the run's
        folder had class folders, or ``data`` is one), plus the held-out loss and pair accuracy
        of the epoch kept (the lowest validation loss) from history.csv."""
        from zoo.contrastive import knn_accuracy
        from zoo.data.images import scan_folder

        metrics = {}
        scored = [row for row in run.history.rows() if row.get("val_loss")]
        if scored:
            kept = min(scored, key=lambda row: float(row["val_loss"]))
            metrics.update({key: float(kept[key]) for key in ("val_loss", "val_pair_accuracy")})
        if data is None or isinstance(data, TaskData):
            splits = run.splits
            labelled = bool(run.config.get("data", {}).get("classes"))
            bank, queries, source = splits["train"], splits["val"], "val split"
        else:
            folder = scan_folder(data)
            for line in folder.report():
                self.log(line)
            labelled = True
            bank = folder.splits["train"]
            queries = folder.splits["test"] or folder.splits["val"]
            source = str(folder.root)
        if labelled and bank and queries:
            encoder = run.load_model(compile=False)
            metrics["knn_accuracy"] = knn_accuracy(
                encoder, self._images(bank), [c for _, c in bank], self._images(queries),
                [c for _, c in queries], k=KNN_K)
            metrics["knn_k"] = KNN_K
        metrics.update(count=len(queries), data=source)
        return metrics

    def predict(self, run, inputs, batch_size: int = 64) -> list[dict]:
        """``{"path", "embedding": [...]}`` per image: the encoder's features (for search,
        de-duplication or clustering). Unreadable files are reported and left out."""
        from zoo.data.images import images_to_predict, predict_images

        paths = images_to_predict(inputs, self.log)
        features = predict_images(run.load_model(compile=False), paths, self.size, batch_size)
        return [{"path": path, "embedding": [round(float(v), 6) for v in row]}
                for path, row in zip(paths, features)]


