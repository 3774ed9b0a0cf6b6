"""Image tasks read from a CSV of image paths and targets: multi-label classification
(``image_multilabel``) and regression (``image_regression``). ``zoo finetune BACKBONE --data
FILE.csv --head multilabel|regression`` runs them; the CSV format is :mod:`zoo.data.image_tables`'s.

Both are the image classification task with another head, loss, metrics, predictions and export
check: the same model (raw RGB 0-255 -> augmentation -> backbone -> head), the recipe read from
the data (batch size, learning rate, epochs from the number of training images), stage 1 on
cached backbone features, the fine-tuning stage, checkpoints and ``--resume``, and the same
export pipeline.

* **Multi-label**: one sigmoid score per label, binary cross-entropy; a label applies when its
  score is at least ``--threshold``. Judged on mAP (threshold-free), micro and macro F1 and
  exact match; the best epoch is the one with the lowest validation loss. The TFLite file
  carries standard metadata, so MediaPipe's ImageClassifier names the labels and returns every
  score as the model gives it (an app asks for ``max_results=-1`` and ``score_threshold``).
* **Regression**: one linear output per target column, in the targets' own units. Inside the
  model the head's outputs are multiplied by the training targets' standard deviation and
  shifted by their mean (a :class:`TargetScaler`, saved with the run), so the head learns
  standardized values, and the default loss (zoo-transfer's ``standardized_huber``) measures
  residuals in standard deviations, so targets in any units weigh alike. Judged on MAE, RMSE
  and R², beside the training mean as a baseline predictor.

Importing this module is light; TensorFlow is imported by the methods.
"""

from __future__ import annotations

from pathlib import Path

from zoo import recipes
from zoo.errors import ZooError
from zoo.metrics import multilabel_metrics, regression_metrics
from zoo.reports import Example, Examples, Section
from zoo.tasks.base import Monitor, Option, Preprocessor, Task, TaskData, fraction
from zoo.tasks.exports import (ExportSpec, Input, LabelAgreement, ScaledCloseness,
                               StandardMetadata)
from zoo.tasks.image_classification import ImageClassificationTask, _loss


def column_list(value) -> list[str]:
    """``digit,ink`` -> ["digit", "ink"] (a list, as config.json keeps it, stays one)."""
    names = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names = [str(name).strip() for name in names if str(name).strip()]
    if not names:
        raise ValueError(value)
    return names


def probability(value) -> float:
    """A number strictly between 0 and 1."""
    number = float(value)
    if not 0 < number < 1:
        raise ValueError(value)
    return number


#: The image classification options that mean the same for a table, and the table's own.
TABLE_OPTIONS = {
    **{name: option for name, option in ImageClassificationTask.OPTIONS.items()
       if name not in ("class_weight", "label_smoothing")},
    "image_column": Option(None, str, "CSV column of image paths, relative to the CSV's folder "
                                      "(default: image, path, file or filename, else the first "
                                      "column)"),
    "val_split": Option(recipes.VAL_SPLIT, fraction,
                        "fraction of the rows held out for validation when no row's split "
                        "column says val (at least 2 rows)"),
    "target_columns": Option(None, column_list,
                             "CSV columns of the targets, comma-separated. Multi-label: one "
                             "column of labels separated by ';' or '|' (default: labels or "
                             "tags) or several 0/1 columns; regression: numeric columns "
                             "(default: all but the image and split columns)"),
}


class ImageTableTask(ImageClassificationTask):
    """What the multi-label and the regression task share: a CSV of image paths and targets
    instead of class folders, evaluation, prediction, the report's worst examples and the
    export, each task supplying its figures and its outputs."""

    #: The :mod:`zoo.data.image_tables` kind this task reads.
    KIND = ""
    #: The output the exported files are compared on (the TFLite file's one output).
    OUTPUT = ""

    def check(self) -> None:
        """The CSV is there (before the image task's checks fetch any weights)."""
        from zoo.data.image_tables import table_path

        table_path(self.options["data"], self.KIND)
        super().check()

    def load_data(self) -> TaskData:
        from zoo.data.image_tables import read_image_table

        opts = self.options
        table = read_image_table(opts["data"], self.KIND, opts["image_column"],
                                 opts["target_columns"], opts["val_split"], opts["seed"])
        return self.labelled_images(table, table.described(),
                                    f"{table.path} leaves no validation images; give some rows "
                                    f"the split val, or pass --val-split 0.2")

    # -- using a trained run --------------------------------------------------------------------
    def heldout(self, run, data=None) -> tuple[list, str]:
        """``(items, what they are)``: the run's held-out split (test, else val) when ``data``
        is None (or the TaskData of training), else the held-out rows of the CSV ``data`` read
        with the run's targets (its test rows, else val, else every row)."""
        from zoo.data.image_tables import read_image_table
        from zoo.data.images import heldout_items

        if data is None or isinstance(data, TaskData):
            splits = run.splits
            split = "test" if splits.get("test") else "val"
            return [tuple(item) for item in splits[split]], f"{split} split"
        table = read_image_table(data, self.KIND, self.options["image_column"],
                                 run.config["data"]["columns"], val_split=0.0,
                                 classes=run.labels)
        for line in table.report():
            self.log(line)
        return heldout_items(table), str(table.path)

    def outputs(self, run, items):
        """The run's model's outputs for the images of ``items``, one row each."""
        from zoo.data.images import image_dataset

        return run.load_model(compile=False).predict(
            image_dataset(items, self.size, self.options["batch_size"]), verbose=0)

    def evaluate(self, run, data=None) -> dict:
        """The task's figures (:meth:`figures`) on the run's held-out split, or on the held-out
        rows of another CSV ``data``."""
        from zoo.data.images import label_array

        items, source = self.heldout(run, data)
        if not items:
            raise ZooError(f"no images to evaluate on in {source}")
        metrics = self.figures(run, label_array(items), self.outputs(run, items))
        metrics["data"] = source
        return metrics

    def figures(self, run, truth, outputs) -> dict:
        """The metrics of ``outputs`` against ``truth`` (one row per image)."""
        raise NotImplementedError

    def predict(self, run, inputs, batch_size: int = 64, **options) -> list[dict]:
        """``{"path", ...}`` per image (:meth:`prediction` says what else); ``inputs`` are image
        files or folders, and unreadable files are reported and left out."""
        from zoo.data.images import images_to_predict, predict_images

        paths = images_to_predict(inputs, self.log)
        outputs = predict_images(run.load_model(compile=False), paths, self.size, batch_size)
        return [{"path": path, **self.prediction(run, row, **options)}
                for path, row in zip(paths, outputs)]

    def prediction(self, run, row, **options) -> dict:
        """What ``predict`` says about one image, from its model output ``row``."""
        raise NotImplementedError

    # -- report -------------------------------------------------------------------------------
    def report_sections(self, run) -> list:
        """The metrics (the default sections: held-out figures, a multi-label run's per-label
        table), then the held-out images the model gets most wrong."""
        sections = Task.report_sections(self, run)  # not the classifier's worst mistakes
        worst = self.worst_examples(run, self.REPORT_MISTAKES)
        if worst:
            sections.insert(1, Section("Worst examples", [Examples(worst, caption=(
                f"The {len(worst)} held-out images the model gets most wrong "
                f"({self.WORST}), worst first."))]))
        return sections

    #: How :meth:`errors` ranks the held-out images, for the report's caption.
    WORST = ""

    def worst_examples(self, run, n: int) -> list[Example]:
        """The ``n`` held-out images (test split, else val) with the largest :meth:`errors`."""
        import numpy as np

        from zoo.data.images import label_array

        splits = run.splits
        items = [tuple(item) for item in splits.get("test") or splits.get("val") or []]
        if not items:
            return []
        truth, outputs = label_array(items), np.asarray(self.outputs(run, items))
        errors = self.errors(run, truth, outputs)
        rows = []
        for i in np.argsort(-errors, kind="stable")[:n]:
            path = items[i][0]
            image = Path(path).read_bytes() if Path(path).is_file() else \
                np.zeros((*self.size, 3), np.uint8)  # the file went: a black square
            rows.append(Example(id=str(path), true=self.describe(run, truth[i]),
                                predicted=self.describe(run, outputs[i]), image=image))
        return rows

    def errors(self, run, truth, outputs):
        """How wrong each output row is (larger: worse)."""
        raise NotImplementedError

    def describe(self, run, row) -> str:
        """One target or output row in words, for the report."""
        raise NotImplementedError

    # -- export -------------------------------------------------------------------------------
    def export_spec(self, run, format: str, examples: int):
        """Raw RGB pixels in (float32 0-255; uint8 too in the SavedModel), the task's outputs
        out (:meth:`export_parts`), compared on held-out images read from disk."""
        from zoo.data.images import label_array  # numpy and Pillow

        rows, images, split = self.export_examples(run, examples)
        model = run.load_model(compile=False)  # inference needs no optimizer
        height, width = self.size
        return ExportSpec(
            inputs=(Input("images", (height, width, 3), "float32", also=("uint8",)),),
            examples=(images,), truth=label_array(rows), examples_from=split,
            output=self.OUTPUT, track=(model,),
            calibration=lambda folder, size: (self.calibration_images(run, folder, size),),
            metadata=self.tflite_metadata(run), **self.export_parts(run, model, format))

    def export_parts(self, run, model, format: str) -> dict:
        """The ExportSpec fields that differ by task: ``function`` and ``comparison``, and
        ``labels`` and ``standard_metadata`` where the task has them."""
        raise NotImplementedError


class ImageMultilabelTask(ImageTableTask):
    """Multi-label image classification from a CSV: any number of labels per image."""

    name = "image_multilabel"
    KIND = HEAD_TASK = "multilabel"
    OUTPUT = "scores"
    OPTIONS = {
        **TABLE_OPTIONS,
        "head": Option("multilabel", str, "head name (zoo list heads): a multilabel head"),
        "loss": Option("binary_crossentropy", str,
                       "loss name (zoo list losses) or a Keras loss name"),
        "threshold": Option(0.5, probability, "multi-label: a label applies when its score is "
                                              "at least this (metrics, predictions, export "
                                              "check)"),
    }
    #: The validation loss (binary cross-entropy by default, a proper scoring rule for every
    #: label; without weight penalties, as for the classifier) picks the best epoch and stops
    #: stages. Keras' PR-AUC was the other candidate; its update logs an error line from oneDNN
    #: on CPUs without AVX-512, every run.
    MONITOR = Monitor("val_data_loss", "min")
    HEADLINE = ("map", "micro_f1", "macro_f1", "exact_match")
    WORST = "the largest sum of |score - truth| over the labels"

    def compile_loss(self, data: TaskData):
        return _loss(self.options["loss"])

    def compile_metrics(self, data: TaskData) -> list:
        import keras

        return [keras.metrics.F1Score(average="micro", threshold=self.options["threshold"],
                                      name="micro_f1")]

    def figures(self, run, truth, outputs) -> dict:
        return multilabel_metrics(truth, outputs, run.labels, self.options["threshold"])

    def prediction(self, run, row, threshold: float | None = None, **_) -> dict:
        """``{"labels": [those scoring at least the threshold, best first], "scores": {label:
        score}}``; ``threshold`` (default: the run's ``--threshold``)."""
        import numpy as np

        threshold = self.options["threshold"] if threshold is None else probability(threshold)
        order = np.argsort(-row, kind="stable")
        return {"labels": [run.labels[i] for i in order if row[i] >= threshold],
                "scores": {label: round(float(score), 4) for label, score in zip(run.labels, row)}}

    def errors(self, run, truth, outputs):
        import numpy as np

        return np.abs(outputs - truth).sum(axis=1)

    def describe(self, run, row) -> str:
        labels = [label for label, value in zip(run.labels, row) if value >= self.options[
            "threshold"]]
        return ";".join(labels) or "(none)"

    def export_parts(self, run, model, format: str) -> dict:
        """Sigmoid scores; in the SavedModel also ``labels``, each image's labels at the
        threshold joined by ';' (the CSV's own format). The TFLite file carries standard
        metadata and labels.txt, checked in MediaPipe's ImageClassifier at the threshold."""
        import tensorflow as tf

        threshold = self.options["threshold"]
        names = tf.constant([str(label) for label in run.labels])

        def scores_and_labels(pixels):
            scores = model(pixels, training=False)
            applies = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(scores)),
                                             scores >= threshold)
            return {"scores": scores,
                    "labels": tf.strings.reduce_join(applies, axis=-1, separator=";")}

        if format == "saved_model":
            return {"function": scores_and_labels,
                    "comparison": LabelAgreement(threshold=threshold)}
        return {"function": lambda pixels: {"scores": model(pixels, training=False)},
                "comparison": LabelAgreement(threshold=threshold),
                "labels": tuple(str(label) for label in run.labels),
                "standard_metadata": StandardMetadata.for_run(run, "image_classifier",
                                                              threshold=threshold)}

    def tflite_metadata(self, run) -> dict:
        return {**super().tflite_metadata(run), "format": "zoo-image-multilabel/1",
                "output": {"kind": "independent scores (sigmoid)", "labels": len(run.labels),
                           "threshold": self.options["threshold"]}}


class TargetScaler(Preprocessor):
    """Each regression target's mean and standard deviation on the training split: the model
    maps its head's standardized outputs to target units with them, the loss measures residuals
    in the standard deviations, and the mean is the baseline predictor a run is compared with."""

    def __init__(self, mean: list[float], std: list[float]):
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]

    def get_config(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def fit(cls, targets) -> "TargetScaler":
        """From the training targets (one row per image); a constant target gets scale 1."""
        import numpy as np

        targets = np.asarray(targets, dtype=np.float64)
        std = targets.std(axis=0)
        return cls(targets.mean(axis=0), np.where(std > 0, std, 1.0))


class ImageRegressionTask(ImageTableTask):
    """Image regression from a CSV: one or more numbers per image."""

    name = "image_regression"
    KIND = HEAD_TASK = "regression"
    OUTPUT = "values"
    OPTIONS = {
        **TABLE_OPTIONS,
        "head": Option("regression", str, "head name (zoo list heads): a regression head"),
        "loss": Option("standardized_huber", str,
                       "loss name (zoo list losses) or a Keras loss name (mse, mae, huber: "
                       "in the targets' units)"),
    }
    preprocessor_class = TargetScaler
    #: The validation loss without weight penalties, as for the classifier: the default loss
    #: measures errors in standard deviations of each target, so every target counts alike.
    MONITOR = Monitor("val_data_loss", "min")
    HEADLINE = ("mae", "rmse", "r2")
    WORST = "the largest error, in standard deviations of a target"

    def fit_preprocessor(self, data: TaskData) -> TargetScaler:
        from zoo.data.images import label_array

        return TargetScaler.fit(label_array(data.splits["train"]))

    def make_head(self, head_spec, data: TaskData):
        """The head, then its outputs taken to target units (stage 1 trains both together)."""
        import keras

        return keras.Sequential([super().make_head(head_spec, data), _to_target_units(data)],
                                name="scaled_head")

    def _whole_model(self, images, x, data: TaskData):
        import keras

        model, described = super()._whole_model(images, x, data)
        return keras.Model(images, _to_target_units(data)(model.output), name=model.name), \
            described

    def compile_loss(self, data: TaskData):
        return _loss(self.options["loss"], scale=data.preprocessor.std)

    def compile_metrics(self, data: TaskData) -> list:
        import keras

        return [keras.metrics.MeanAbsoluteError(name="mae"),
                keras.metrics.RootMeanSquaredError(name="rmse")]

    def figures(self, run, truth, outputs) -> dict:
        return regression_metrics(truth, outputs, run.labels, self.preprocessor(run).mean)

    def prediction(self, run, row, **_) -> dict:
        """``{target: value}`` for each target column."""
        return {target: float(f"{value:.6g}") for target, value in zip(run.labels, row)}

    def errors(self, run, truth, outputs):
        import numpy as np

        return (np.abs(outputs - truth) / np.asarray(self.preprocessor(run).std)).max(axis=1)

    def describe(self, run, row) -> str:
        return ", ".join(f"{target} {value:.4g}" for target, value in zip(run.labels, row))

    def export_parts(self, run, model, format: str) -> dict:
        """Values in the targets' units, compared in standard deviations of each target:
        floats within 0.001 (none) or 0.01 (float16); dynamic and int8 pass, with a warning when
        the error grows by over 10%."""
        return {"function": lambda pixels: {"values": model(pixels, training=False)},
                "comparison": ScaledCloseness(scale=tuple(self.preprocessor(run).std))}

    def tflite_metadata(self, run) -> dict:
        return {**super().tflite_metadata(run), "format": "zoo-image-regressor/1",
                "output": {"kind": "values in the targets' units",
                           "targets": [str(target) for target in run.labels]}}


def _to_target_units(data: TaskData):
    """A layer from standardized values to target units: times the training standard deviation,
    plus the mean (float32 under mixed precision: large targets need the precision)."""
    import keras

    scaler = data.preprocessor
    return keras.layers.Rescaling(scaler.std, scaler.mean, dtype="float32",
                                  name="to_target_units")
