"""Image classification: ``zoo finetune BACKBONE --data DIR`` and ``zoo train MODEL`` for whole
models whose spec names this task.

Fine-tuning, the model is ``raw RGB 0-255 -> augmentation (training only) -> backbone (its
preprocessing inside) -> head``. With pretrained weights it trains in two stages: the head alone
with the backbone frozen and called with ``training=False`` (BatchNorm keeps its statistics, now
and after unfreezing, as the Keras transfer-learning guide recommends), then the top
``--unfreeze`` layers of the backbone at ``--fine-tune-lr``. With ``--weights none`` everything
trains from scratch in one stage, BatchNorm in training mode. Each stage warms up then decays by
a cosine.

A whole model (``zoo.Model`` spec, ``task="image_classification"``) is built as
``build(num_classes=N, input_shape=(H, W, 3))`` -> a Keras model from raw RGB 0-255 to class
probabilities; the task puts the augmentation in front and trains it in one stage.

Importing this module is light; TensorFlow is imported by the methods.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from pathlib import Path

from zoo.errors import ZooError
from zoo import recipes
from zoo.tasks.base import (Monitor, Option, Stage, Substitute, Task, TaskData, cli_name,
                            fraction, non_negative_int, positive_int, sample_rows)


def image_size(value) -> list[int]:
    """``32`` -> [32, 32]; ``32x48`` (height x width) -> [32, 48]."""
    if isinstance(value, (list, tuple)):
        size = [int(v) for v in value]
    else:
        size = [int(v) for v in str(value).lower().split("x")]
    if len(size) == 1:
        size *= 2
    if len(size) != 2 or min(size) < 1:
        raise ValueError(value)
    return size


def unfreeze(value) -> str:
    """``all``, ``none`` or a count of backbone layers, from the top."""
    text = str(value).lower()
    if text not in ("all", "none") and not (text.isdigit() and int(text) >= 0):
        raise ValueError(value)
    return text


#: Augmentations ``--augment`` can name. Flip is opt-in: a mirrored digit, letter or road sign
#: is not the same class (measured on digits: 0.79 held-out after 8 epochs with flip, 0.90 without).
AUGMENTATIONS = ("flip", "rotation", "zoom", "contrast")


def augment_list(value) -> str:
    """A comma-separated subset of :data:`AUGMENTATIONS`."""
    names = [n.strip().lower() for n in str(value).split(",") if n.strip()]
    if not names or any(n not in AUGMENTATIONS for n in names):
        raise ValueError(value)
    return ",".join(names)


class ImageClassificationTask(Task):
    """Fine-tune (or train from scratch) a registered backbone, or train a whole registered
    image model, on a class-per-folder image set."""

    name = "image_classification"
    OPTIONS = {
        "head": Option("classifier", str, "head name (zoo list heads)"),
        "loss": Option("label_smoothed_crossentropy", str,
                       "loss name (zoo list losses) or a Keras loss name"),
        "label_smoothing": Option(0.1, float, "label smoothing for losses that take it"),
        "head_init": Option("glorot_uniform", str,
                            "head kernel initializer (zoo list initializers, or a Keras name)"),
        "dropout": Option(0.2, float, "dropout before the head's dense layer"),
        "weights": Option(None, str, "what the backbone starts from: a name it lists (zoo info "
                                     "BACKBONE: imagenet, a KerasHub preset), none (from "
                                     "scratch), PATH, RUN (the backbone of a finetune or "
                                     "pretrain run) or tfhub:HANDLE (default: the first name "
                                     "it lists)"),
        "image_size": Option(None, image_size, "input size, 96 or HxW (default: the backbone's)"),
        "val_split": Option(recipes.VAL_SPLIT, fraction,
                            f"fraction of each class held out when DIR has no val/ (at least "
                            f"{recipes.MIN_VAL_PER_CLASS} images of a class that has twice as "
                            f"many)"),
        "augment": Option("rotation,zoom,contrast", augment_list,
                          f"training-only augmentations, from {','.join(AUGMENTATIONS)}"),
        "no_augment": Option(False, bool, "turn augmentation off (the default for "
                                          "from-scratch runs under 16 epochs)"),
        "unfreeze": Option("all", unfreeze, "stage 2: top N backbone layers, all, or none"),
        "fine_tune_lr": Option(None, float, "stage 2 peak learning rate (default from the "
                                            "data: --lr for small sets, else --lr / 3)"),
        "fine_tune_epochs": Option(None, non_negative_int,
                                   "stage 2 epochs (default --epochs; 0 skips it)"),
        "class_weight": Option("none", str, "auto weighs classes by inverse frequency",
                               ("none", "auto")),
        # Resolved from the data when not given (zoo.recipes): logged, kept in config.json.
        "batch_size": Option(None, positive_int, "images per training step (default from the "
                                                 "data: 32, or 16 or 8 for small sets)"),
        "lr": Option(None, float, "peak learning rate (warm-up, then cosine decay) of stage 1 or "
                                  "of training from scratch (default from the data)"),
        "epochs": Option(None, positive_int, f"training epochs, stage 2's when pretrained "
                                             f"(default from the data: "
                                             f"{recipes.EPOCHS[True]} from scratch and "
                                             f"{recipes.FINE_TUNE_EPOCHS[True]} for stage 2 "
                                             f"on small sets, else {recipes.EPOCHS[False]})"),
        "patience": Option(None, non_negative_int,
                           f"stop a stage after this many epochs without a better validation "
                           f"figure, 0 never (default from the data: {recipes.PATIENCE[True]} "
                           f"from scratch and {recipes.FINE_TUNE_PATIENCE[True]} for stage 2 "
                           f"on small sets, else {recipes.PATIENCE[False]})"),
        "min_steps": Option(None, positive_int, f"optimizer steps per epoch at least: a small "
                                                f"set is repeated within an epoch (default "
                                                f"{recipes.MIN_STEPS})"),
        "head_epochs": Option(None, positive_int,
                              f"stage 1 epochs on cached features, stopping early on the "
                              f"validation loss (default {recipes.HEAD_EPOCHS})"),
        "feature_cache": Option("auto", str, "stage 1 trains the head on the frozen backbone's "
                                             "features computed once: auto (when they fit in "
                                             "memory) or off (stream the images)",
                                ("auto", "off")),
    }

    EXPORTS = {"tflite": ("none", "float16", "dynamic", "int8"), "saved_model": ("none",)}
    #: The ``zoo.Head.task`` of the heads this task trains (checked before the data is read).
    HEAD_TASK = "classification"
    #: The validation loss without weight penalties (``data_loss``, zoo.layers.DataLoss) picks
    #: the best epoch and stops a stage early. On the few validation images of a small folder
    #: accuracy moves in steps of several points and its best epoch is often an early, lucky
    #: one (docs/benchmarks.md, "Few labels"); higher validation accuracy breaks a tie.
    MONITOR = Monitor("val_data_loss", "min", tie_break=Monitor("val_accuracy", "max"))
    HEADLINE = ("accuracy", "top*_accuracy")
    #: Options of the backbone + head recipe, meaningless for a whole model.
    BACKBONE_OPTIONS = frozenset({"head", "head_init", "dropout", "weights", "unfreeze",
                                  "fine_tune_lr", "fine_tune_epochs", "head_epochs",
                                  "feature_cache"})

    def __init__(self, model_name: str | None = None, backbone: str | None = None, **options):
        """``backbone`` for ``zoo finetune``; else ``model_name`` is a registered whole model."""
        super().__init__(model_name or backbone, **options)
        self.backbone = backbone

    @classmethod
    def train_options(cls) -> dict[str, Option]:
        """A whole model trains without the backbone + head recipe's options."""
        return {k: v for k, v in cls.all_options().items() if k not in cls.BACKBONE_OPTIONS}

    @classmethod
    def from_run(cls, run) -> "ImageClassificationTask":
        task = super().from_run(run)
        config = run.config
        task.backbone = config.get("backbone")
        task.options["image_size"] = config.get("image_size") or task.options["image_size"]
        return task

    # -- settings derived from the options ----------------------------------------------------
    @functools.cached_property
    def backbone_spec(self):
        import zoo

        return zoo.spec("backbone", self.backbone)

    @functools.cached_property
    def model_spec(self):
        import zoo

        return zoo.spec("model", self.model_name)

    @property
    def size(self) -> tuple[int, int]:
        if self.options["image_size"]:
            return tuple(self.options["image_size"])
        if self.backbone is not None:
            return (self.backbone_spec.input_size,) * 2
        default = inspect.signature(self.model_spec.load()).parameters.get("input_shape")
        if default is None or not isinstance(default.default, (tuple, list)):
            raise ZooError(f"model {self.model_name!r} has no default input_shape; pass "
                           f"--image-size")
        return tuple(int(v) for v in default.default[:2])

    @property
    def pretrained(self) -> bool:
        return self.backbone is not None and self.options["weights"] not in (None, "none")

    def config_extra(self, data) -> dict:
        if self.backbone is None:
            return {"image_size": list(self.size)}
        return {"backbone": self.backbone_spec.name, "image_size": list(self.size),
                "preprocess": self.backbone_spec.preprocess}

    def check(self) -> None:
        from zoo import weights

        if not self.model_name:
            raise ZooError("image classification needs a backbone: zoo finetune BACKBONE "
                           "--data DIR (see 'zoo list backbones')")
        if not self.options["data"]:
            raise ZooError("pass --data DIR: a folder with one sub-folder of images per class")
        not_for_models = sorted(self.given & self.BACKBONE_OPTIONS)
        if self.backbone is None and not_for_models:
            raise ZooError(f"--{cli_name(not_for_models[0])} belongs to the backbone + head "
                           f"recipe of 'zoo finetune BACKBONE'; {self.model_spec.name!r} is a "
                           f"whole model")
        self._check_recipe_parts()
        if self.backbone is None:
            self.model_name = self.model_spec.name
            self.size  # noqa: B018 - no input size is an error the user should see now
            return
        self.backbone = self.model_name = self.backbone_spec.name
        if self.options["weights"] is None:  # what the backbone is published with, if anything
            self.options["weights"] = next(iter(self.backbone_spec.weights), "none")
        weights.resolve(self.backbone_spec, self.options["weights"])  # downloads once, cached

    #: From-scratch runs shorter than this train without augmentation unless --augment is
    #: given. Measured (docs/benchmarks.md, from scratch at 8 epochs): augmentation keeps
    #: MobileNetV2 underfitting (0.67-0.75 held-out on blocky digits, 0.86-0.88 without); at 24
    #: epochs it adds about a point; at 12 it still cost 8 points, at 16 they were even.
    SHORT_FROM_SCRATCH_EPOCHS = 16

    def resolve_recipe(self, folder) -> dict:
        """Fill in the options left at None from ``folder``'s training split (see
        :mod:`zoo.recipes`); returns what was resolved. On ``--resume`` nothing is left to
        resolve: the engine restored the run's own values."""
        opts = self.options
        train_images = len(folder.splits["train"])
        resolved = self.fill_defaults(recipes.image_defaults(train_images, self.pretrained))
        if self.pretrained:  # after --lr, which it follows when given
            resolved.update(self.fill_defaults(
                {"fine_tune_lr": recipes.fine_tune_lr(opts["lr"], train_images)}))
        # Short from-scratch runs underfit with augmentation (the figures above); an explicit
        # --augment or --no-augment wins, and --resume keeps the checkpoint's graph.
        if not (self.given & {"augment", "no_augment"} or opts["resume"] or self.pretrained
                or opts["epochs"] >= self.SHORT_FROM_SCRATCH_EPOCHS):
            opts["no_augment"] = resolved["no_augment"] = True
        return resolved

    #: The plugin that provides the default head and loss.
    DEFAULTS_PLUGIN = "zoo-transfer"

    def _check_recipe_parts(self) -> None:
        """The head and loss resolve now, not after the data scan; a missing default says which
        plugin provides it."""
        import zoo

        try:
            if self.backbone is not None:
                zoo.spec("head", self.options["head"])
            if zoo.registry().lookup("loss", self.options["loss"]) is None:
                _keras_loss(self.options["loss"])
        except ZooError as exc:
            defaults = [name for name in ("head", "loss") if name not in self.given]
            why = zoo.registry().why_not_loaded(self.DEFAULTS_PLUGIN)
            if not defaults or not why:
                raise
            come = "come" if len(defaults) > 1 else "comes"
            raise ZooError(f"{exc}; the default --{' and --'.join(defaults)} {come} from "
                           f"{self.DEFAULTS_PLUGIN}, which {why}; or pass "
                           f"--{defaults[0]}") from None
        head = zoo.spec("head", self.options["head"]) if self.backbone is not None else None
        if head is not None and head.task != self.HEAD_TASK:
            raise ZooError(f"head {head.name!r} is for {head.task}; {self.name} trains "
                           f"{self.HEAD_TASK} heads (zoo list heads)")

    # -- data -----------------------------------------------------------------------------------
    def load_data(self) -> TaskData:
        from zoo.data.images import scan_folder

        opts = self.options
        folder = scan_folder(opts["data"], opts["val_split"], opts["seed"])
        data = self.labelled_images(folder, f"in {len(folder.classes)} classes",
                                    f"{folder.root} leaves no validation images; add a val/ "
                                    f"folder or pass --val-split 0.2")
        if opts["class_weight"] == "auto":
            data.class_weight = folder.class_weight()
        return data

    def labelled_images(self, found, described: str, no_val: str) -> TaskData:
        """The TaskData of ``found``, labelled images already split (an ImageFolder, or any
        object with its ``splits``, ``classes``, ``report()``, ``info()`` and ``to_json()``): its
        report logged, the recipe resolved from its training split, and the datasets (the
        training one shuffled and passed over as often as the recipe says). ``described`` says
        what the images are labelled with (``in 10 classes``); ``no_val`` is the error when
        nothing is held out for validation."""
        from zoo.data.images import image_dataset

        opts = self.options
        for line in found.report():
            self.log(line)
        if not found.splits["val"]:
            raise ZooError(no_val)
        resolved = self.resolve_recipe(found)
        train = len(found.splits["train"])

        def dataset(split, shuffle=False):
            items = found.splits[split]
            return image_dataset(items, self.size, self.global_batch_size, shuffle=shuffle,
                                 seed=opts["seed"], repeat=self.repeats(train) if shuffle else 1
                                 ) if items else None

        return TaskData(dataset("train", shuffle=True), dataset("val"), dataset("test"),
                        classes=found.classes, info=found.info(), splits=found.to_json(),
                        recipe=resolved,
                        recipe_basis=f"{train} training images {described} (an epoch passes "
                                     f"over them {self.repeats(train)} "
                                     f"time{'s' * (self.repeats(train) > 1)})")

    def repeats(self, train_images: int) -> int:
        """Passes over the training images per epoch (:func:`zoo.recipes.repeats`)."""
        return recipes.repeats(train_images, self.global_batch_size, self.options["min_steps"])

    # -- model ----------------------------------------------------------------------------------
    def build_model(self, data: TaskData):
        import keras

        opts = self.options
        images = keras.Input((*self.size, 3), name="image")
        x = images if opts["no_augment"] else \
            augmentation(opts["augment"].split(","), opts["seed"])(images)
        if self.backbone is None:
            model, described = self._whole_model(images, x, data)
        else:
            model, described = self._backbone_and_head(images, x, data)
        self._compile(model, opts["lr"], data, opts["epochs"])
        trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
        self.log(f"Model: {described}, {model.count_params():,} parameters, "
                 f"{trainable:,} trainable")
        return model

    def _backbone_and_head(self, images, x, data: TaskData):
        import keras

        import zoo

        opts = self.options
        head_spec = zoo.spec("head", opts["head"])
        features = zoo.create_backbone(self.backbone_spec, opts["weights"],
                                       input_shape=(*self.size, 3))
        # Pretrained: BatchNorm stays in inference mode in both stages (see the module doc).
        x = features(x, training=False) if self.pretrained else features(x)
        if self.pretrained:
            # The head sees the frozen features standardised (adapted in stage 1): measured,
            # it then matches a logistic regression where raw features leave it 5-10 points
            # short (docs/benchmarks.md, "The frozen stage").
            x = keras.layers.Normalization(axis=-1, name=FEATURE_NORM)(x)
        model = keras.Model(images, self.make_head(head_spec, data)(x),
                            name=f"{self.model_name}_classifier")
        backbone(model).trainable = not self.pretrained
        origin = f"weights {opts['weights']}" if self.pretrained else "from scratch"
        return model, f"{self.model_name} ({origin}) + {head_spec.name} head"

    def make_head(self, head_spec, data: TaskData):
        """The head layer on the backbone's features, one output per name in ``data.classes``
        (stage 1 trains this layer alone on cached features; a subclass may wrap it)."""
        return head_spec.load()(len(data.classes), dropout=self.options["dropout"],
                                kernel_initializer=_initializer(self.options["head_init"]))

    def _whole_model(self, images, x, data: TaskData):
        import keras

        num_classes = len(data.classes)
        network = self.model_spec.load()(num_classes=num_classes, input_shape=(*self.size, 3))
        outputs = network(x)
        if tuple(outputs.shape[1:]) != (num_classes,):
            raise ZooError(f"model {self.model_name!r} built with num_classes={num_classes} "
                           f"outputs shape {tuple(outputs.shape)}; the image task needs class "
                           f"probabilities of shape (batch, {num_classes})")
        model = keras.Model(images, outputs, name=f"{self.model_name}_classifier")
        return model, f"{self.model_name} (whole model, {self.model_spec.plugin})"

    def stages(self, model, data: TaskData) -> list:
        opts = self.options
        if not self.pretrained:
            return [Stage("train", opts["epochs"], description="all layers from scratch")]
        stages = [self._head_stage(model, data)]
        epochs = opts["epochs"] if opts["fine_tune_epochs"] is None else opts["fine_tune_epochs"]
        if epochs > 0 and opts["unfreeze"] != "none":
            lr = opts["fine_tune_lr"]

            def unfreeze_top(model):
                count = set_trainable_top(backbone(model), opts["unfreeze"])
                self._compile(model, lr, data, epochs)
                self.log(f"Unfroze the top {count} backbone layers; learning rate {lr:g}")

            which = "all" if opts["unfreeze"] == "all" else f"the top {opts['unfreeze']}"
            stages.append(Stage("fine-tune", epochs, unfreeze_top,
                                description=f"{which} backbone layers unfrozen"))
        return stages

    def _head_stage(self, model, data: TaskData) -> Stage:
        """Stage 1: the head on the frozen backbone's features, computed once and cached in
        memory (cheap epochs, stopped on the validation loss, its best weights kept), or, when
        they do not fit, on images streamed through the backbone every epoch."""
        opts = self.options
        why = self._features_not_cached(model, data)
        if why:
            self.log(f"Stage 1 streams the images through the frozen backbone every epoch "
                     f"({why})")
            return Stage("head", opts["epochs"], functools.partial(self._adapt_norm, data),
                         description="backbone frozen, head trains")
        patience = opts["patience"] if "patience" in self.given else recipes.HEAD_PATIENCE
        return Stage("head", opts["head_epochs"], substitute=functools.partial(
            self._head_on_features, data), patience=patience,
            description="backbone frozen, head trains on its features (computed once)")

    #: Cached features may take at most this share of the memory available, and this much.
    FEATURE_CACHE_SHARE, FEATURE_CACHE_BYTES = 0.5, 4 << 30

    def _features_not_cached(self, model, data: TaskData) -> str | None:
        """Why stage 1 cannot train on cached features (None: it can)."""
        if self.options["feature_cache"] == "off":
            return "--feature-cache off"
        if "MultiWorker" in type(self.strategy).__name__:  # workers would each cache all images
            return "cached features are for one machine; this run is multi-worker"
        shape = feature_extractor(model).output.shape[1:]
        images = len(data.splits["train"]) + len(data.splits["val"])
        needed = images * math.prod(shape) * 4
        budget = min(self.FEATURE_CACHE_BYTES, available_memory() * self.FEATURE_CACHE_SHARE)
        if needed > budget:
            return (f"the features of {images} images take {needed / 2**20:,.0f} MB, more than "
                    f"the {budget / 2**20:,.0f} MB allowed")
        return None

    #: How many training images the feature standardisation is fitted on when stage 1 streams.
    NORM_IMAGES = 2000

    def _features(self, model, items):
        """The frozen backbone's features of ``items`` (float32). One eager call per batch:
        Keras' predict would trace anew for each split's last, smaller batch."""
        import keras
        import numpy as np

        from zoo.data.images import image_dataset  # numpy and Pillow

        extractor = feature_extractor(model)
        return np.concatenate([
            keras.ops.convert_to_numpy(extractor(images, training=False)).astype("float32")
            for images, _ in image_dataset(items, self.size, max(self.global_batch_size, 64))])

    def _adapt_norm(self, data: TaskData, model, features=None) -> None:
        """Fit the feature standardisation to the training images' features (a fixed sample of
        them when not given), as stage 1 starts."""
        if features is None:
            items = sample_rows([tuple(i) for i in data.splits["train"]], self.NORM_IMAGES,
                                self.options["seed"])
            features = self._features(model, items)
        model.get_layer(FEATURE_NORM).adapt(features)

    def _head_on_features(self, data: TaskData, model):
        """The :class:`~zoo.tasks.Substitute` of stage 1: a model from the backbone's features
        to the classifier's own head layer, on the features of every training and validation
        image computed once (no augmentation: the backbone is frozen, so each image has one
        feature vector)."""
        import keras
        import tensorflow as tf

        from zoo.data.images import label_array  # numpy and Pillow

        head, norm, batch = model.layers[-1], model.get_layer(FEATURE_NORM), self.global_batch_size
        features = {split: self._features(model, [tuple(i) for i in data.splits[split]])
                    for split in ("train", "val")}
        self._adapt_norm(data, model, features["train"])

        def cached(split, shuffle: bool):
            items = [tuple(item) for item in data.splits[split]]
            ds = tf.data.Dataset.from_tensor_slices((features[split], label_array(items)))
            if shuffle:
                ds = ds.shuffle(len(items), seed=self.options["seed"],
                                reshuffle_each_iteration=True)
                ds = ds.repeat(self.repeats(len(items)))
            return ds.batch(batch).prefetch(tf.data.AUTOTUNE), features[split].nbytes

        (train, train_bytes), (val, val_bytes) = cached("train", True), cached("val", False)
        inputs = keras.Input(features["train"].shape[1:], name="features")
        substitute = keras.Model(inputs, head(norm(inputs)), name="head_on_features")
        # A step of a linear head costs far less than Keras' overhead per call (~20 ms on 2
        # cores): many steps a call, the same updates.
        self._compile(substitute, self.options["lr"], data, self.options["head_epochs"],
                      steps_per_execution=self.HEAD_STEPS_PER_CALL)
        return Substitute(substitute, train, val, description=(
            f"the head on cached features of {len(data.splits['train'])} training and "
            f"{len(data.splits['val'])} validation images "
            f"({(train_bytes + val_bytes) / 2**20:,.1f} MB)"))

    #: Optimizer steps per call of the stand-in model of stage 1 on cached features.
    HEAD_STEPS_PER_CALL = 64

    def _compile(self, model, lr: float, data: TaskData, epochs: int,
                 steps_per_execution: int = 1) -> None:
        from zoo.layers import DataLoss  # Keras
        from zoo.training import make_optimizer, warmup_cosine  # Keras

        train = len(data.splits["train"])
        steps = epochs * recipes.steps_per_epoch(train, self.global_batch_size,
                                                 self.repeats(train))
        loss = self.compile_loss(data)
        model.compile(
            optimizer=make_optimizer(self.options["optimizer"], warmup_cosine(lr, steps)),
            loss=loss, metrics=[*self.compile_metrics(data), DataLoss(loss)],
            steps_per_execution=steps_per_execution)

    def compile_loss(self, data: TaskData):
        """The loss ``--loss`` names, given ``--label-smoothing`` if it takes it."""
        return _loss(self.options["loss"], label_smoothing=self.options["label_smoothing"])

    def compile_metrics(self, data: TaskData) -> list:
        """The figures each epoch logs (besides the loss and ``data_loss``): accuracy and top-k
        accuracy."""
        import keras

        k = min(5, len(data.classes))
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}_accuracy")]

    # -- using a trained run --------------------------------------------------------------------
    def evaluate(self, run, data=None) -> dict:
        """Accuracy, top-k, per-class precision/recall and the confusion matrix.

        ``data`` None (or the TaskData of training): the run's held-out split (test, else val).
        A folder: its test (else val, else every) image, classes matched by name.
        """
        import numpy as np

        from zoo import plots
        from zoo.data.images import heldout_items, image_dataset, scan_folder
        from zoo.metrics import classification_metrics

        classes = run.labels
        if data is None or isinstance(data, TaskData):
            splits = run.splits
            split = "test" if splits.get("test") else "val"
            items, source, png = [tuple(i) for i in splits[split]], f"{split} split", \
                run.confusion_path
        else:
            folder = scan_folder(data, val_split=0.0, classes=classes)
            for line in folder.report():
                self.log(line)
            items, source = heldout_items(folder), str(folder.root)
            png = run.file(f"confusion-{folder.root.name}.png")
        if not items:
            raise ZooError(f"no images to evaluate on in {source}")
        model = run.load_model(compile=False)
        ds = image_dataset(items, self.size, self.options["batch_size"])
        probabilities = model.predict(ds, verbose=0)
        labels = np.asarray([c for _, c in items])
        metrics = classification_metrics(labels, probabilities, classes)
        metrics["data"] = source
        plots.plot_confusion(metrics["confusion_matrix"], classes, png,
                             title=f"{self.model_name} on {source}")
        metrics["confusion_png"] = str(png)
        return metrics

    #: How many of the worst-predicted held-out images report.html shows.
    REPORT_MISTAKES = 24

    def report_sections(self, run) -> list:
        """The default sections, then the held-out images whose true class got the lowest
        probability (thumbnails, true and predicted class, both probabilities)."""
        from zoo.reports import Examples, Section

        sections = super().report_sections(run)
        mistakes = self.worst_mistakes(run, self.REPORT_MISTAKES)
        if mistakes:  # right after the headline figures
            sections.insert(1, Section("Worst mistakes", [Examples(mistakes, caption=(
                f"The {len(mistakes)} held-out images whose true class got the lowest "
                f"probability, worst first."))]))
        return sections

    def worst_mistakes(self, run, n: int) -> list:
        """:class:`zoo.reports.Example` s of the ``n`` held-out images (test split, else val)
        with the lowest true-class probability."""
        import numpy as np

        from zoo.data.images import image_dataset
        from zoo.metrics import worst_mistakes
        from zoo.reports import Example

        splits = run.splits
        items = [tuple(i) for i in splits.get("test") or splits.get("val") or []]
        if not items:
            return []
        classes = run.labels
        probabilities = np.asarray(run.load_model(compile=False).predict(
            image_dataset(items, self.size, self.options["batch_size"]), verbose=0))
        labels = np.asarray([c for _, c in items])
        rows = []
        for i in worst_mistakes(labels, probabilities, n):
            path, label = items[i]
            predicted = int(probabilities[i].argmax())
            try:
                image = Path(path).read_bytes()
            except OSError:
                image = np.zeros((*self.size, 3), np.uint8)  # the file went: a black square
            rows.append(Example(id=str(path), true=str(classes[label]),
                                predicted=str(classes[predicted]),
                                true_probability=float(probabilities[i, label]),
                                predicted_probability=float(probabilities[i, predicted]),
                                image=image))
        return rows

    def predict(self, run, inputs, top_k: int = 1, batch_size: int = 64) -> list[dict]:
        """``{"path", "class", "probability", "top": [[class, probability], ...]}`` per image.

        ``inputs`` are image files or folders; unreadable files are reported and left out.
        """
        from zoo.data.images import images_to_predict, predict_images
        from zoo.metrics import rankings

        paths = images_to_predict(inputs, self.log)
        probabilities = predict_images(run.load_model(compile=False), paths, self.size, batch_size)
        return [{"path": path, **ranking}
                for path, ranking in zip(paths, rankings(probabilities, run.labels, top_k))]

    # -- export -----------------------------------------------------------------------------
    def export_spec(self, run, format: str, examples: int):
        """Raw RGB pixels in (float32 0-255; uint8 too in the SavedModel), class probabilities
        out, compared on held-out images read from disk as an app reads them."""
        import numpy as np

        from zoo.tasks.exports import Agreement, ExportSpec, Input, StandardMetadata

        rows, images, split = self.export_examples(run, examples)
        model = run.load_model(compile=False)  # inference needs no optimizer
        probabilities = probabilities_function(model, self.size)
        height, width = self.size
        return ExportSpec(
            function=lambda pixels: {"scores": probabilities(pixels)},
            inputs=(Input("images", (height, width, 3), "float32", also=("uint8",)),),
            examples=(images,), truth=np.array([label for _, label in rows]),
            examples_from=split, comparison=Agreement(), output="scores",
            track=(model,), labels=tuple(str(label) for label in run.labels),
            calibration=lambda folder, size: (self.calibration_images(run, folder, size),),
            metadata=self.tflite_metadata(run),
            standard_metadata=StandardMetadata.for_run(run, "image_classifier"))

    def export_examples(self, run, examples: int):
        """``(rows, images, "val split")``: a fixed sample of at most ``examples`` of the run's
        held-out rows (val, else test) and their images, read from disk as an app reads them."""
        splits = run.splits
        split = next((s for s in ("val", "test") if splits.get(s)), None)
        if split is None:
            raise ZooError(f"run {run.path} has no val or test images in splits.json to verify "
                           f"the export against; retrain with a validation split")
        rows = sample_rows(splits[split], examples)
        images = self._run_images(run, [path for path, _ in rows], f"the {split} split")
        return rows, images, f"{split} split"

    def calibration_images(self, run, folder, size: int):
        """Raw float32 pixels for int8 calibration: a fixed sample of ``folder``'s images, else
        of the run's training images. The first image pins the range to exactly 0-255, so the
        uint8 input takes raw pixels (scale 1, zero point 0)."""
        from zoo.data.images import list_images

        if folder is not None:
            if not Path(folder).is_dir():
                raise ZooError(f"--calibration {folder} is not a directory of images")
            paths, _ = list_images([folder])
            if not paths:
                raise ZooError(f"--calibration {folder} holds no readable images")
        else:
            paths = [path for path, _ in run.splits.get("train", [])]
            if not paths:
                raise ZooError(f"run {run.path} lists no training images in splits.json; "
                               f"pass --calibration DIR with a few hundred typical images")
        images = self._run_images(run, sample_rows(paths, size), "the calibration images")
        images[0, 0, 0, :], images[0, 0, 1, :] = 0.0, 255.0
        return images

    def _run_images(self, run, paths, what: str):
        from zoo.data.images import load_images

        try:
            return load_images(paths, self.size)
        except OSError as exc:
            raise ZooError(f"cannot read an image of {what} listed in {run.path}: {exc}; "
                           f"were the run's data moved or deleted?") from None

    def tflite_metadata(self, run) -> dict:
        """What an app needs to feed the model and read its output, without reading Python."""
        config = run.config
        height, width = self.size
        return {
            "format": "zoo-image-classifier/1",
            "task": config.get("task", self.name),
            "model": config.get("model"),
            "backbone": config.get("backbone"),
            "labels": [str(label) for label in run.labels],
            "input": {"height": height, "width": width, "channels": 3, "layout": "NHWC",
                      "color": "RGB", "range": [0, 255], "resize": "bilinear",
                      "preprocessing": "none outside the model: feed raw RGB pixels; the model "
                                       f"applies {config.get('preprocess') or 'its own'} scaling "
                                       f"itself"},
            "output": {"kind": "probabilities", "classes": len(run.labels)},
        }


def probabilities_function(model, size):
    """``images -> probabilities`` for the Keras model in inference mode, with a softmax added
    when the model ends in logits (rows in [0, 1] summing to 1 on a black and a noise image are
    probabilities; logits essentially never are)."""
    import numpy as np
    import tensorflow as tf

    height, width = size
    probes = np.stack([np.zeros((height, width, 3), np.float32),
                       np.random.default_rng(0).uniform(0, 255, (height, width, 3))
                       .astype(np.float32)])
    outputs = np.asarray(model(probes, training=False))
    is_probability = bool(outputs.ndim == 2 and outputs.min() >= 0 and outputs.max() <= 1
                          and np.allclose(outputs.sum(-1), 1, atol=1e-3))

    def probabilities(images):
        scores = model(images, training=False)
        return scores if is_probability else tf.nn.softmax(scores)

    return probabilities


#: The layer that standardises the frozen backbone's features for the head (pretrained runs).
FEATURE_NORM = "feature_norm"


def feature_extractor(model):
    """The raw pixels -> features model inside a classifier built by this task: the
    backbone with its preprocessing (what ``zoo.create_backbone`` built)."""
    for layer in model.layers:
        if hasattr(layer, "get_layer") and any(l.name == "backbone" for l in layer.layers):
            return layer
    raise ZooError(f"model {model.name} has no nested 'backbone' model")


def backbone(model):
    """The nested backbone model inside a classifier built by this task."""
    return feature_extractor(model).get_layer("backbone")


def available_memory() -> int:
    """Bytes of memory available now (physical memory where the system does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def set_trainable_top(model, which: str) -> int:
    """Make the top ``which`` (a count, ``all`` or ``none``) layers of ``model`` trainable and
    the rest frozen; returns how many layers now train."""
    layers = model.layers
    count = len(layers) if which == "all" else 0 if which == "none" else min(int(which),
                                                                             len(layers))
    model.trainable = count > 0
    for index, layer in enumerate(layers):
        layer.trainable = index >= len(layers) - count
    return count


def augmentation(names: list[str], seed: int):
    """Keras random layers for ``names`` (see :data:`AUGMENTATIONS`), active only in training."""
    import keras

    layers = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "rotation": lambda: keras.layers.RandomRotation(0.05, seed=seed),
        "zoom": lambda: keras.layers.RandomZoom(0.1, seed=seed),
        "contrast": lambda: keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed),
    }
    return keras.Sequential([layers[name]() for name in names], name="augment")


def _initializer(name: str):
    """A registered initializer (instantiated) or a Keras initializer name."""
    import keras

    import zoo

    spec = zoo.registry().lookup("initializer", name)
    if spec is not None:
        return spec.load()()
    try:
        return keras.initializers.get(name)
    except ValueError:
        raise ZooError(f"unknown --head-init {name!r}; see 'zoo list initializers' or use a "
                       f"Keras initializer name such as glorot_uniform") from None


def _loss(name: str, **settings):
    """A registered loss (given those of ``settings`` it takes, e.g. ``label_smoothing``) or a
    Keras loss name."""
    import zoo

    spec = zoo.registry().lookup("loss", name)
    if spec is not None:
        loss = spec.load()
        if isinstance(loss, type):
            takes = inspect.signature(loss).parameters
            return loss(**{key: value for key, value in settings.items() if key in takes})
        return loss
    return _keras_loss(name)


def _keras_loss(name: str):
    import keras

    try:
        return keras.losses.get(name)
    except ValueError:
        raise ZooError(f"unknown --loss {name!r}; see 'zoo list losses' or use a Keras loss "
                       f"name such as sparse_categorical_crossentropy") from None
