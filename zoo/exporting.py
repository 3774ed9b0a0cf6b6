"""Export a run for phones (TFLite) and servers (SavedModel), and prove the artifact works.

Every artifact takes raw RGB pixels at the model's input size (``uint8`` for full-integer
models, ``float32`` 0-255 otherwise) and returns class probabilities: the preprocessing lives
inside the model, so an app has nothing to get wrong. The flow for each export:

1. trace the Keras model with ``training=False`` (augmentation and dropout vanish),
2. convert with builtin TFLite ops only (never select-TF/Flex) or save a SavedModel,
3. embed labels and metadata, write to a temporary name,
4. load the artifact back (``ai_edge_litert`` / ``tf.saved_model.load``), run it on held-out
   images read from disk and compare with the Keras model,
5. move it into place only if it passed; the report goes to ``export-report.json`` beside it.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import os
import random
import re
import statistics
import tempfile
import time
import warnings
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from zoo import io
from zoo.data.images import list_images, load_images
from zoo.errors import ZooError
from zoo.runs import Run
from zoo.tasks import task_class
from zoo.tasks.base import Task

FORMATS = ("tflite", "saved_model")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
FLOAT_QUANTIZATIONS = ("none", "float16")  # exports that must match Keras almost exactly
DEFAULT_CALIBRATION_SIZE = 300
DEFAULT_VERIFY_SIZE = 1000
MIN_FLOAT_AGREEMENT = 0.99
MAX_QUANTIZED_DROP_POINTS = 1.0
METADATA_NAME = "zoo_metadata"
REPORT_NAME = "export-report.json"
LABELS_NAME = "labels.txt"


def export(run, format: str = "tflite", quantize: str = "none", out=None, calibration=None,
           calibration_size: int = DEFAULT_CALIBRATION_SIZE, verify_size: int = DEFAULT_VERIFY_SIZE,
           num_threads: int = 1) -> dict:
    """Export ``run`` and verify the artifact; returns the report (also in export-report.json).

    ``format`` is ``"tflite"`` or ``"saved_model"``; ``quantize`` (TFLite only) is ``"none"``,
    ``"float16"``, ``"dynamic"`` (int8 weights) or ``"int8"`` (full integer, uint8 in and out,
    calibrated on ``calibration_size`` training images or the images under ``calibration``).
    ``out`` defaults to ``RUN/exports/model-<quantize>.tflite`` or ``RUN/exports/saved_model``.
    Raises ZooError if the artifact needs non-builtin ops or a float export disagrees with the
    Keras model on more than 1% of held-out images (the artifact is then kept beside the
    target as ``*.rejected*`` for inspection and the good one is left alone).
    """
    check_options(format, quantize)
    if calibration_size < 1:
        raise ZooError("--calibration-size must be at least 1")
    run = run if isinstance(run, Run) else Run.open(run)
    if task_class(run.config["task"]).export is not Task.export:
        # a task with its own artifacts (text, GAN, recommenders, ...)
        return run.task().export(run, format=format, quantize=quantize, out=out,
                                 calibration=calibration, calibration_size=calibration_size,
                                 verify_size=verify_size, num_threads=num_threads)
    target = target_path(run, format, quantize, out)
    source = ExportSource(run)

    heldout = source.heldout(verify_size)
    with io.atomic_path(target) as tmp:
        if format == "tflite":
            calibration_images = (source.calibration(calibration, calibration_size)
                                  if quantize == "int8" else None)
            tmp.write_bytes(classifier_tflite(source, quantize, calibration_images))
            io.write_text(target.parent / LABELS_NAME, "\n".join(source.labels) + "\n")
        else:
            write_saved_model(source, tmp)
        report = verify(tmp, source, quantize, heldout, num_threads=num_threads)
        report["artifact"] = str(target)
        if not report["passed"]:
            rejected = target.with_name(target.stem + ".rejected" + target.suffix)
            _replace(tmp, rejected)
            report["artifact"] = str(rejected)
            write_report(rejected, report)
            raise ZooError(report["failure"] + f"; the artifact was kept as {rejected} and "
                           f"nothing was replaced")
    write_report(target, report)
    return report


def check_options(format: str, quantize: str, quantizations=QUANTIZATIONS) -> None:
    """Raise ZooError unless ``format`` is one of FORMATS and ``quantize`` one of
    ``quantizations`` (a plugin passes the subset its models support)."""
    if format not in FORMATS:
        raise ZooError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise ZooError(f"unknown quantization {quantize!r}; choose one of "
                       f"{', '.join(quantizations)}")
    if quantize not in quantizations:
        raise ZooError(f"this model exports with --quantize {', '.join(quantizations)}, "
                       f"not {quantize!r}")
    if format == "saved_model" and quantize != "none":
        raise ZooError("quantization applies to TFLite only; use --format tflite "
                       f"--quantize {quantize}, or drop --quantize for a SavedModel")


def target_path(run: Run, format: str, quantize: str, out=None) -> Path:
    """``out``, else ``RUN/exports/model-<quantize>.tflite`` or ``RUN/exports/saved_model``."""
    target = Path(out) if out else run.file("exports") / (
        f"model-{quantize}.tflite" if format == "tflite" else "saved_model")
    if format == "tflite" and target.suffix != ".tflite":
        raise ZooError(f"--out {target} must end in .tflite")
    return target


class ExportSource:
    """What an export needs from a run: the Keras model, labels, input size, held-out images."""

    def __init__(self, run: Run):
        config = run.config
        if "image_size" not in config:
            raise ZooError(f"zoo export handles image classification runs; {run.path} is a "
                           f"{config.get('task', 'unknown')!r} run with no image_size in "
                           f"config.json")
        self.run = run
        self.config = config
        self.labels = [str(label) for label in run.labels]
        self.image_size = tuple(int(s) for s in config["image_size"])
        # compile=False: inference needs no optimizer (and restoring one warns on stderr)
        self.model = run.load_model(compile=False)
        self.outputs_probabilities = _ends_in_probabilities(self.model, self.image_size)

    def probabilities(self, images):
        """The Keras model's inference output as probabilities (softmax added for logits)."""
        import tensorflow as tf

        outputs = self.model(images, training=False)
        return outputs if self.outputs_probabilities else tf.nn.softmax(outputs)

    def heldout(self, limit: int) -> tuple[np.ndarray, np.ndarray, str]:
        """(raw float32 pixels, labels, split name) from the run's val (else test) split."""
        splits = self.run.read("splits.json")
        for split in ("val", "test"):
            if splits.get(split):
                rows = _sample(splits[split], limit)
                return (self._load([path for path, _ in rows], f"the {split} split"),
                        np.array([label for _, label in rows]), split)
        raise ZooError(f"run {self.run.path} has no val or test images in splits.json to verify "
                       f"the export against; retrain with a validation split")

    def calibration(self, directory, size: int) -> np.ndarray:
        """Raw float32 pixels for int8 calibration: a fixed sample of training images."""
        if directory is not None:
            if not Path(directory).is_dir():
                raise ZooError(f"--calibration {directory} is not a directory of images")
            paths, _ = list_images([directory])
            if not paths:
                raise ZooError(f"--calibration {directory} holds no readable images")
        else:
            paths = [path for path, _ in self.run.read("splits.json").get("train", [])]
            if not paths:
                raise ZooError(f"run {self.run.path} lists no training images in splits.json; "
                               f"pass --calibration DIR with a few hundred typical images")
        return self._load(_sample(paths, size), "the calibration images")

    def _load(self, paths, what: str) -> np.ndarray:
        try:
            return load_images(paths, self.image_size)
        except OSError as exc:
            raise ZooError(f"cannot read an image of {what} listed in {self.run.path}: {exc}; "
                           f"were the run's data moved or deleted?") from None

    def metadata(self) -> dict:
        """What an app needs to feed the model and read its output, without reading Python."""
        height, width = self.image_size
        return {
            "format": "zoo-image-classifier/1",
            "task": self.config.get("task", "image_classification"),
            "model": self.config.get("model"),
            "backbone": self.config.get("backbone"),
            "labels": self.labels,
            "input": {"height": height, "width": width, "channels": 3, "layout": "NHWC",
                      "color": "RGB", "range": [0, 255], "resize": "bilinear",
                      "preprocessing": "none outside the model: feed raw RGB pixels; the "
                                       f"model applies {self.config.get('preprocess') or 'its own'}"
                                       " scaling itself"},
            "output": {"kind": "probabilities", "classes": len(self.labels)},
        }


def _sample(items: list, size: int) -> list:
    """A fixed (seeded) random subset, in the original order; all of them if size allows."""
    if len(items) <= size:
        return list(items)
    keep = sorted(random.Random(0).sample(range(len(items)), size))
    return [items[i] for i in keep]


# -- TFLite ------------------------------------------------------------------------------------

def classifier_tflite(source: ExportSource, quantize: str, calibration_images=None) -> bytes:
    """The image classifier as TFLite flatbuffer bytes, with labels and metadata inside."""
    import tensorflow as tf

    height, width = source.image_size
    infer = tf.function(source.probabilities, autograph=False,
                        input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32,
                                                       name="images")])
    representative = ((lambda: _representative(calibration_images))
                      if quantize == "int8" else None)
    flatbuffer = convert_tflite(infer.get_concrete_function(), quantize, representative,
                                source.model)
    metadata = source.metadata()
    metadata.update(_interface(flatbuffer), quantize=quantize)
    return embed_metadata(flatbuffer, metadata, source.labels)


def convert_tflite(concrete_function, quantize: str, representative_data=None,
                   model=None) -> bytes:
    """TFLite flatbuffer bytes of a fixed-shape ``tf.function`` concrete function, builtin ops
    only. ``quantize`` is one of QUANTIZATIONS; ``"int8"`` needs ``representative_data`` (a
    callable yielding lists of input arrays) and gives uint8 input and output. ``model`` (the
    Keras model traced) only names the layers in the error raised for unsupported ops."""
    import tensorflow as tf

    with _captured_stderr():  # absl warns that this path is deprecated; it is the one that works
        # No trackable object: the converter then freezes every variable into a constant. With
        # the model passed, it goes through a SavedModel and keras.applications models keep
        # their weights as resource variables (READ_VARIABLE ops, unfolded BatchNorm, int8
        # calibration fails; a GAN generator's uninitialised variables give NaNs).
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function])
    return _convert(converter, quantize, representative_data, model, concrete_function.graph)


def convert_saved_model_tflite(saved_model_dir, quantize: str) -> bytes:
    """TFLite flatbuffer bytes of a SavedModel (its serving signature), builtin ops only; for
    models whose loops need the SavedModel path (recurrent layers lower to a builtin WHILE)."""
    import tensorflow as tf

    return _convert(tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir)), quantize)


def _convert(converter, quantize: str, representative_data=None, model=None,
             graph=None) -> bytes:
    """The project's one TFLite converter configuration: builtin ops, never select-TF."""
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
        converter.representative_dataset = representative_data
    with _captured_stderr() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Statistics for quantized inputs were expected..."
        try:
            flatbuffer = converter.convert()
        except Exception as exc:  # ConverterError; its useful part is in the MLIR log
            raise ZooError(_unsupported_message(str(exc) + log.read(), model, graph)) from None
    check_builtin_ops(flatbuffer)
    return flatbuffer


def check_builtin_ops(flatbuffer: bytes) -> None:
    """Raise ZooError if the model needs ops the stock runtime lacks (custom or select-TF)."""
    non_builtin = custom_ops(flatbuffer)
    if non_builtin:
        raise ZooError(f"the TFLite model needs non-builtin ops {', '.join(non_builtin)}; "
                       f"replace the layers that use them")


def _representative(images):
    """Calibration samples, one image each; the first pins the input range to exactly 0-255
    so the uint8 input takes raw pixels (scale 1, zero point 0)."""
    for i, image in enumerate(images):
        if i == 0:
            image = image.copy()
            image[0, 0, :] = 0.0
            image[0, 1, :] = 255.0
        yield [image[None]]


@contextlib.contextmanager
def _captured_stderr():
    """Silence the converter's C++ chatter (fd 2) and keep it, for error messages."""
    with tempfile.TemporaryFile(mode="w+") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            yield log
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)


def _unsupported_message(text: str, model, graph) -> str:
    """One line naming the ops with no builtin TFLite kernel and the layers they come from."""
    ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)))
    if not ops or graph is None:
        first = next((line.strip() for line in text.splitlines() if "error:" in line),
                     text.strip().splitlines()[0] if text.strip() else "unknown error")
        return f"TFLite conversion failed: {first}"
    graph_def = graph.as_graph_def()
    nodes = [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]
    names = {layer.name for layer in _all_layers(model)}
    layers = []
    for node in nodes:
        if node.op in ops:  # node names are scoped: model/layer_1/Op
            for part in node.name.split("/"):
                base = re.sub(r"_\d+$", "", part)
                if part in names or base in names:
                    layers.append(part if part in names else base)
    where = f" in layer {', '.join(dict.fromkeys(layers))}" if layers else ""
    return (f"the model uses TensorFlow op {', '.join(ops)}{where}, which has no builtin TFLite "
            f"equivalent; rewrite that layer with builtin ops (zoo export never uses select-TF ops, "
            f"so the stock mobile runtime runs every file)")


def _all_layers(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _all_layers(layer)


def tflite_ops(flatbuffer: bytes) -> list[str]:
    """Operator names in a TFLite model (builtin names, or the custom name for custom ops,
    e.g. ``FlexCumprod`` for a select-TF op)."""
    return sorted({name for name, _ in _operator_codes(flatbuffer)})


def custom_ops(flatbuffer: bytes) -> list[str]:
    """The ops the stock runtime lacks: custom ops, select-TF (Flex) ops among them."""
    return sorted({name for name, custom in _operator_codes(flatbuffer) if custom})


def _operator_codes(flatbuffer: bytes):
    """(name, is_custom) for each operator code of the model."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if op == schema.BuiltinOperator.CUSTOM:
            yield code.CustomCode().decode(), True
        else:
            yield builtin.get(op, str(op)), False


def _interface(flatbuffer: bytes) -> dict:
    """The input/output dtype and quantization the converter chose."""
    interpreter = _interpreter(flatbuffer)

    def describe(detail):
        scale, zero_point = detail["quantization"]
        spec = {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(s) for s in detail["shape"]]}
        if scale:
            spec["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
        return spec

    return {"input_tensor": describe(interpreter.get_input_details()[0]),
            "output_tensor": describe(interpreter.get_output_details()[0])}


def embed_metadata(flatbuffer: bytes, metadata: dict, labels) -> bytes:
    """Add ``metadata`` as a "zoo_metadata" JSON entry in the model's metadata table, and
    append labels.txt and zoo_metadata.json as a zip (TFLite's "associated files": readable
    with the Support library's MetadataExtractor.getAssociatedFile or any unzip tool)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    text = json.dumps(metadata, sort_keys=True)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()]
    model.metadata.append(entry)
    packed = flatbuffer_utils.convert_object_to_bytearray(model)
    archive = _io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as files:
        files.writestr(LABELS_NAME, "\n".join(labels) + "\n")
        files.writestr(METADATA_NAME + ".json", text)
    return packed + archive.getvalue()


def read_metadata(path) -> dict:
    """The "zoo_metadata" entry of a .tflite file written by :func:`export` (no TensorFlow)."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    if data[4:8] != b"TFL3":
        raise ZooError(f"{path} is not a TFLite file")
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_NAME.encode():
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    raise ZooError(f"{path} has no {METADATA_NAME} metadata; was it written by zoo export?")


def _metadata_or_empty(path) -> dict:
    try:
        return read_metadata(path)
    except ZooError:  # a file from elsewhere: judged as a float model
        return {}


def _interpreter(model, num_threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    with _captured_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter = Interpreter(num_threads=num_threads, **kwargs)
        interpreter.allocate_tensors()
    return interpreter


class TFLiteClassifier:
    """A .tflite file run the way an app runs it: one raw RGB image at a time."""

    def __init__(self, path, num_threads: int = 1):
        try:
            self.interpreter = _interpreter(path, num_threads)
        except (RuntimeError, ValueError) as exc:  # not a model, or ops the runtime lacks
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ZooError(f"the stock LiteRT interpreter cannot run {path}: {first}") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Probabilities for one (H, W, 3) image of raw pixels."""
        return self.run(self.prepare(image))

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """A raw-pixel image as the input tensor: a batch of one in the input's dtype."""
        dtype = self.input["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zero_point = self.input["quantization"]
            info = np.iinfo(dtype)
            image = np.clip(np.round(image / scale + zero_point), info.min, info.max)
        return image[None].astype(dtype)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a prepared input: what an app pays per image."""
        self.interpreter.set_tensor(self.input["index"], batch)
        self.interpreter.invoke()
        scores = self.interpreter.get_tensor(self.output["index"])[0]
        scale, zero_point = self.output["quantization"]
        if scale:
            return (scores.astype(np.float32) - zero_point) * scale
        return scores.astype(np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self(image) for image in images])


# -- SavedModel --------------------------------------------------------------------------------

def write_saved_model(source: ExportSource, path: Path) -> None:
    """A SavedModel whose ``serving_default`` maps a float32 batch of raw images to ``scores``
    (probabilities) and ``classes`` (top-1 class names); ``serving_uint8`` takes uint8."""
    import tensorflow as tf

    height, width = source.image_size
    with tempfile.TemporaryDirectory() as scratch:
        labels_file = Path(scratch) / LABELS_NAME
        labels_file.write_text("\n".join(source.labels) + "\n", encoding="utf-8")
        module = tf.Module()
        module.model = source.model
        # model.variables includes the RNG state of augmentation layers, which the traced
        # function captures though inactive; SavedModel needs every capture reachable.
        module.model_variables = list(source.model.variables)
        module.labels_asset = tf.saved_model.Asset(str(labels_file))
        class_names = tf.constant(source.labels)

        def classify(images):
            scores = source.probabilities(tf.cast(images, tf.float32))
            return {"scores": scores, "classes": tf.gather(class_names, tf.argmax(scores, -1))}

        module.serve = tf.function(classify, autograph=False)
        signatures = {
            name: module.serve.get_concrete_function(
                tf.TensorSpec([None, height, width, 3], dtype, name="images"))
            for name, dtype in (("serving_default", tf.float32), ("serving_uint8", tf.uint8))}
        with _captured_stderr():
            tf.saved_model.save(module, str(path), signatures=signatures)


class SavedModelClassifier:
    """A SavedModel called through its ``serving_default`` signature, as TF Serving calls it."""

    def __init__(self, path):
        import tensorflow as tf

        self.serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.predict(image[None])[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self.serve(images=tf.constant(images, tf.float32))["scores"].numpy()


# -- verification ------------------------------------------------------------------------------

def verify(artifact, source, quantize: str | None = None, heldout=None, num_threads: int = 1,
           verify_size: int = DEFAULT_VERIFY_SIZE) -> dict:
    """Run ``artifact`` (a .tflite file or SavedModel directory) on the held-out images of
    ``source`` (a run) and compare it with the run's Keras model. Returns the report;
    ``report["passed"]`` is False (with ``report["failure"]``) when a float export agrees on
    fewer than 99% of images. ``quantize`` defaults to what the file's metadata says."""
    source = source if isinstance(source, ExportSource) else ExportSource(
        source if isinstance(source, Run) else Run.open(source))
    artifact = Path(artifact)
    if not artifact.exists():
        raise ZooError(f"{artifact} does not exist; pass a .tflite file or SavedModel folder")
    is_tflite = artifact.is_file()
    if quantize is None:
        quantize = _metadata_or_empty(artifact).get("quantize", "none") if is_tflite else "none"
    images, labels, split = heldout if heldout is not None else source.heldout(verify_size)
    classifier = TFLiteClassifier(artifact, num_threads) if is_tflite else SavedModelClassifier(
        artifact)
    expected = np.concatenate([np.asarray(source.probabilities(images[i:i + 64]))
                               for i in range(0, len(images), 64)])
    got = classifier.predict(images) if is_tflite else np.concatenate(
        [classifier.predict(images[i:i + 64]) for i in range(0, len(images), 64)])
    agreement = float(np.mean(expected.argmax(-1) == got.argmax(-1)))
    keras_accuracy = float(np.mean(expected.argmax(-1) == labels))
    accuracy = float(np.mean(got.argmax(-1) == labels))
    report = {
        "format": "tflite" if is_tflite else "saved_model",
        "quantize": quantize,
        "size_bytes": file_size(artifact),
        "heldout_split": split,
        "heldout_images": int(len(images)),
        "agreement": agreement,
        "max_abs_diff": float(np.max(np.abs(expected - got))),
        "accuracy": accuracy,
        "keras_accuracy": keras_accuracy,
        "accuracy_drop_points": round(100 * (keras_accuracy - accuracy), 2),
        "latency_ms": (median_latency_ms(classifier.run, classifier.prepare(images[0]))
                       if is_tflite else median_latency_ms(classifier, images[0])),
        "num_threads": num_threads if is_tflite else None,
        "warnings": [],
        "passed": True,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if is_tflite:
        flatbuffer = artifact.read_bytes()
        report["ops"] = tflite_ops(flatbuffer)
        report["custom_ops"] = custom_ops(flatbuffer)
        report["input"] = classifier.input["dtype"].__name__
    if quantize in FLOAT_QUANTIZATIONS and agreement < MIN_FLOAT_AGREEMENT:
        report["passed"] = False
        report["failure"] = (f"the {quantize} export agrees with the Keras model on only "
                             f"{agreement:.1%} of {len(images)} held-out images "
                             f"(needs {MIN_FLOAT_AGREEMENT:.0%})")
    elif report["accuracy_drop_points"] > MAX_QUANTIZED_DROP_POINTS:
        report["warnings"].append(
            f"{quantize} accuracy is {report['accuracy_drop_points']:.1f} points below the Keras "
            f"model ({accuracy:.3f} vs {keras_accuracy:.3f}); try --quantize dynamic or float16"
            + (", or more --calibration-size" if quantize == "int8" else ""))
    return report


def median_latency_ms(classify, image, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of one single-image call, in milliseconds."""
    for _ in range(warmup):
        classify(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classify(image)
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 4)


def file_size(path) -> int:
    """Bytes in a file, or in all files under a folder (a SavedModel)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir():
        import shutil

        shutil.rmtree(dst)
    os.replace(src, dst)


def write_report(artifact, report: dict) -> None:
    """Merge this artifact's entry into export-report.json in the artifact's folder."""
    artifact = Path(artifact)
    path = artifact.parent / REPORT_NAME
    try:
        reports = io.read_json(path) if path.is_file() else {}
    except ValueError:
        reports = {}
    reports[artifact.name] = report
    io.write_json(path, reports)


def _ends_in_probabilities(model, image_size) -> bool:
    """Whether the model already outputs probabilities: rows in [0, 1] summing to 1 on a black
    and a noise image (logits essentially never do), whatever layer produced them."""
    height, width = image_size
    probes = np.stack([np.zeros((height, width, 3), np.float32),
                       np.random.default_rng(0).uniform(0, 255, (height, width, 3))
                       .astype(np.float32)])
    outputs = np.asarray(model(probes, training=False))
    return bool(outputs.ndim == 2 and outputs.min() >= 0 and outputs.max() <= 1
                and np.allclose(outputs.sum(-1), 1, atol=1e-3))
