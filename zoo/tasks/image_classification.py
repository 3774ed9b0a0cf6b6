"""Image classification by transfer learning: ``zoo finetune BACKBONE --data DIR``.

The model is ``raw RGB 0-255 -> augmentation (training only) -> backbone (its preprocessing
inside) -> head``. With pretrained weights it trains in two stages: the head alone with the
backbone frozen and called with ``training=False`` (BatchNorm keeps its statistics, now and
after unfreezing, as the Keras transfer-learning guide recommends), then the top ``--unfreeze``
layers of the backbone at ``--fine-tune-lr``. With ``--weights none`` everything trains from
scratch in one stage, BatchNorm in training mode. Each stage warms up then decays by a cosine.

Importing this module is light; TensorFlow is imported by the methods.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

from zoo.errors import ZooError
from zoo.tasks.base import Option, Task, TaskData


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
    """Fine-tune (or train from scratch) a registered backbone on a class-per-folder image set."""

    name = "image_classification"
    OPTIONS = {
        "head": Option("classifier", str, "head name (zoo list heads)"),
        "loss": Option("label_smoothed_crossentropy", str,
                       "loss name (zoo list losses) or a Keras loss name"),
        "label_smoothing": Option(0.1, float, "label smoothing for losses that take it"),
        "head_init": Option("glorot_uniform", str,
                            "head kernel initializer (zoo list initializers, or a Keras name)"),
        "dropout": Option(0.2, float, "dropout before the head's dense layer"),
        "weights": Option("imagenet", str, "imagenet, none (from scratch), PATH or tfhub:HANDLE"),
        "image_size": Option(None, image_size, "input size, 96 or HxW (default: the backbone's)"),
        "val_split": Option(0.2, float, "fraction of each class held out when DIR has no val/"),
        "augment": Option("rotation,zoom,contrast", augment_list,
                          f"training-only augmentations, from {','.join(AUGMENTATIONS)}"),
        "no_augment": Option(False, bool, "turn augmentation off"),
        "unfreeze": Option("all", unfreeze, "stage 2: top N backbone layers, all, or none"),
        "fine_tune_lr": Option(None, float, "stage 2 peak learning rate (default --lr / 10)"),
        "fine_tune_epochs": Option(None, int, "stage 2 epochs (default --epochs; 0 skips it)"),
        "class_weight": Option("none", str, "auto weighs classes by inverse frequency",
                               ("none", "auto")),
    }

    def __init__(self, model_name: str | None = None, **options):
        super().__init__(model_name, **options)
        if not self.model_name:
            raise ZooError("image classification needs a backbone: zoo finetune BACKBONE "
                           "--data DIR (see 'zoo list backbones')")
        import zoo

        self.backbone_spec = zoo.spec("backbone", self.model_name)
        self.model_name = self.backbone_spec.name

    # -- settings derived from the options ----------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        size = self.options["image_size"] or [self.backbone_spec.input_size] * 2
        return tuple(size)

    @property
    def pretrained(self) -> bool:
        return self.options["weights"] not in (None, "none")

    def config_extra(self) -> dict:
        return {"backbone": self.backbone_spec.name, "image_size": list(self.size),
                "preprocess": self.backbone_spec.preprocess}

    def check(self) -> None:
        from zoo import weights

        if not self.options["data"]:
            raise ZooError("pass --data DIR: a folder with one sub-folder of images per class")
        weights.resolve(self.backbone_spec, self.options["weights"])  # downloads once, cached

    # -- data -----------------------------------------------------------------------------------
    def load_data(self) -> TaskData:
        from zoo.data.images import image_dataset, scan_folder

        opts = self.options
        folder = scan_folder(opts["data"], opts["val_split"], opts["seed"])
        for line in folder.report():
            self.log(line)
        if not folder.splits["val"]:
            raise ZooError(f"{folder.root} leaves no validation images; add a val/ folder or "
                           f"pass --val-split 0.2")

        def dataset(split, shuffle=False):
            items = folder.splits[split]
            return image_dataset(items, self.size, self.global_batch_size, shuffle=shuffle,
                                 seed=opts["seed"]) if items else None

        info = {"path": str(folder.root), "layout": folder.layout, "counts": folder.counts(),
                "skipped": len(folder.skipped),
                "skipped_files": [path for path, _ in folder.skipped[:20]]}
        return TaskData(dataset("train", shuffle=True), dataset("val"), dataset("test"),
                        classes=folder.classes, info=info, splits=folder.to_json(),
                        class_weight=folder.class_weight()
                        if opts["class_weight"] == "auto" else None)

    # -- model ----------------------------------------------------------------------------------
    def build_model(self, data: TaskData):
        import keras

        import zoo

        opts = self.options
        head_spec = zoo.spec("head", opts["head"])
        if head_spec.task != "classification":
            raise ZooError(f"head {head_spec.name!r} is for {head_spec.task}; image "
                           f"classification needs a classification head such as 'classifier'")
        features = zoo.create_backbone(self.backbone_spec, opts["weights"],
                                       input_shape=(*self.size, 3))
        images = keras.Input((*self.size, 3), name="image")
        x = images if opts["no_augment"] else \
            augmentation(opts["augment"].split(","), opts["seed"])(images)
        # Pretrained: BatchNorm stays in inference mode in both stages (see the module doc).
        x = features(x, training=False) if self.pretrained else features(x)
        head = head_spec.load()(len(data.classes), dropout=opts["dropout"],
                                kernel_initializer=_initializer(opts["head_init"]))
        model = keras.Model(images, head(x), name=f"{self.model_name}_classifier")
        backbone(model).trainable = not self.pretrained
        self._compile(model, opts["lr"], data, opts["epochs"])
        trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
        origin = f"weights {opts['weights']}" if self.pretrained else "from scratch"
        self.log(f"Model: {self.model_name} ({origin}) + {head_spec.name} head, "
                 f"{model.count_params():,} parameters, {trainable:,} trainable")
        return model

    def stages(self, model, data: TaskData) -> list:
        from zoo.training import Stage

        opts = self.options
        if not self.pretrained:
            return [Stage("train", opts["epochs"], description="all layers from scratch")]
        stages = [Stage("head", opts["epochs"], description="backbone frozen, head trains")]
        epochs = opts["epochs"] if opts["fine_tune_epochs"] is None else opts["fine_tune_epochs"]
        if epochs > 0 and opts["unfreeze"] != "none":
            lr = opts["fine_tune_lr"] or opts["lr"] / 10

            def unfreeze_top(model):
                count = set_trainable_top(backbone(model), opts["unfreeze"])
                self._compile(model, lr, data, epochs)
                self.log(f"Unfroze the top {count} backbone layers; learning rate {lr:g}")

            stages.append(Stage("fine-tune", epochs, unfreeze_top,
                                description=f"top {opts['unfreeze']} backbone layers unfrozen"))
        return stages

    def _compile(self, model, lr: float, data: TaskData, epochs: int) -> None:
        import keras

        from zoo.training import make_optimizer, warmup_cosine

        steps = epochs * max(1, math.ceil(len(data.splits["train"]) / self.global_batch_size))
        k = min(5, len(data.classes))
        model.compile(
            optimizer=make_optimizer(self.options["optimizer"], warmup_cosine(lr, steps)),
            loss=_loss(self.options["loss"], self.options["label_smoothing"]),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                     keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}_accuracy")])

    # -- using a trained run --------------------------------------------------------------------
    def evaluate(self, run, data=None) -> dict:
        """Accuracy, top-k, per-class precision/recall and the confusion matrix.

        ``data`` None (or the TaskData of training): the run's held-out split (test, else val).
        A folder: its test (else val, else every) image, classes matched by name.
        """
        import numpy as np

        from zoo import plots
        from zoo.data.images import heldout_items, image_dataset, scan_folder

        classes = run.labels
        if data is None or isinstance(data, TaskData):
            splits = run.read("splits.json")
            split = "test" if splits.get("test") else "val"
            items, source, png = [tuple(i) for i in splits[split]], f"{split} split", \
                run.file("confusion.png")
        else:
            folder = scan_folder(data, val_split=0.0, classes=classes)
            for line in folder.report():
                self.log(line)
            items, source = heldout_items(folder), str(folder.root)
            png = run.file(f"confusion-{folder.root.name}.png")
        if not items:
            raise ZooError(f"no images to evaluate on in {source}")
        model = run.load_model()
        ds = image_dataset(items, self.size, self.options["batch_size"])
        probabilities = model.predict(ds, verbose=0)
        labels = np.asarray([c for _, c in items])
        metrics = classification_metrics(labels, probabilities, classes)
        metrics["data"] = source
        plots.plot_confusion(metrics["confusion_matrix"], classes, png,
                             title=f"{self.model_name} on {source}")
        metrics["confusion_png"] = str(png)
        return metrics

    def predict(self, run, inputs, top_k: int = 1, batch_size: int = 64) -> list[dict]:
        """``{"path", "class", "probability", "top": [[class, probability], ...]}`` per image.

        ``inputs`` are image files or folders; unreadable files are reported and left out.
        """
        from zoo.data.images import list_images, load_images

        paths, skipped = list_images([inputs] if isinstance(inputs, (str, Path)) else inputs)
        for path, reason in skipped:
            self.log(f"Skipped {path}: {reason}")
        if not paths:
            raise ZooError("no readable images among the given paths")
        classes = run.labels
        model = run.load_model()
        results = []
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            probabilities = model.predict(load_images(chunk, self.size), verbose=0)
            results += [{"path": path, **ranking}
                        for path, ranking in zip(chunk, rankings(probabilities, classes, top_k))]
        return results


def rankings(probabilities, classes: list[str], top_k: int = 1) -> list[dict]:
    """``{"class", "probability", "top": [[class, probability], ...]}`` per row of
    ``probabilities``: the ``top_k`` best classes, best first (what every predict returns)."""
    import numpy as np

    k = max(1, min(int(top_k), len(classes)))
    best = np.argsort(probabilities, axis=-1)[:, ::-1][:, :k]
    rows = []
    for row, order in zip(probabilities, best):
        top = [[classes[i], round(float(row[i]), 4)] for i in order]
        rows.append({"class": top[0][0], "probability": top[0][1], "top": top})
    return rows


def backbone(model):
    """The nested backbone model inside a classifier built by this task."""
    for layer in model.layers:
        if hasattr(layer, "get_layer") and any(l.name == "backbone" for l in layer.layers):
            return layer.get_layer("backbone")
    raise ZooError(f"model {model.name} has no nested 'backbone' model")


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


def classification_metrics(labels, probabilities, classes: list[str]) -> dict:
    """Accuracy, top-k accuracy, per-class precision/recall/support and the confusion matrix."""
    import numpy as np

    predicted = probabilities.argmax(axis=1)
    n = len(classes)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    k = min(5, n)
    top_k = np.argsort(probabilities, axis=1)[:, ::-1][:, :k]
    per_class = {}
    for i, name in enumerate(classes):
        predicted_i, actual_i = matrix[:, i].sum(), matrix[i, :].sum()
        per_class[name] = {
            "precision": round(float(matrix[i, i] / predicted_i), 4) if predicted_i else 0.0,
            "recall": round(float(matrix[i, i] / actual_i), 4) if actual_i else 0.0,
            "support": int(actual_i)}
    return {"accuracy": round(float((predicted == labels).mean()), 4),
            f"top{k}_accuracy": round(float((top_k == labels[:, None]).any(axis=1).mean()), 4),
            "count": int(len(labels)), "per_class": per_class,
            "confusion_matrix": matrix.tolist()}


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


def _loss(name: str, label_smoothing: float):
    """A registered loss (given ``label_smoothing`` if it takes it) or a Keras loss name."""
    import keras

    import zoo

    spec = zoo.registry().lookup("loss", name)
    if spec is not None:
        loss = spec.load()
        if isinstance(loss, type):
            takes = inspect.signature(loss).parameters
            return loss(label_smoothing=label_smoothing) if "label_smoothing" in takes else loss()
        return loss
    try:
        return keras.losses.get(name)
    except ValueError:
        raise ZooError(f"unknown --loss {name!r}; see 'zoo list losses' or use a Keras loss "
                       f"name such as sparse_categorical_crossentropy") from None
