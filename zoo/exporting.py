"""Export a run for phones (TFLite) and servers (SavedModel), and prove the artifact works.

One pipeline serves every task. The run's task describes each artifact as a
:class:`zoo.tasks.ExportSpec` (its Keras inference function, named inputs, held-out examples
and how an artifact must match it); this module

1. checks the format and quantization against :data:`EXPORT_FORMATS` and the task's
   ``EXPORTS``,
2. converts: TFLite from a traced concrete function with builtin ops only (never
   select-TF/Flex), or a SavedModel through ``keras.export.ExportArchive``,
3. writes to a temporary name (TFLite metadata embedded when the spec has some: zoo's JSON,
   and the standard metadata MediaPipe Tasks read, see :mod:`zoo.tflite_metadata`),
4. runs the artifact back the way its users do (``ai_edge_litert``, one example at a time; the
   SavedModel's ``serving_default`` signature; a classifier's TFLite file in MediaPipe Tasks
   too) on the held-out examples and compares it with the Keras model through the spec's
   comparison,
5. moves it into place only if it passed, else keeps it aside as ``*.rejected.*``; each
   artifact's report is merged into ``export-report.json`` beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from zoo import engine, io, tflite_metadata
from zoo.errors import ZooError
from zoo.nested import nested_layers
from zoo.progress import progress
from zoo.runs import EXPORT_REPORT, Run, rejected_path
from zoo.tasks import task_for_run
from zoo.tasks.exports import EXPORT_FORMATS, FORMATS, QUANTIZATIONS, ExportSpec

DEFAULT_CALIBRATION_SIZE = 300
DEFAULT_VERIFY_SIZE = 1000
METADATA_NAME = "zoo_metadata"
LABELS_NAME = "labels.txt"
#: Examples per Keras / SavedModel call while comparing.
BATCH = 64


def export(run, format: str | None = None, quantize: str = "none", out=None, calibration=None,
           calibration_size: int = DEFAULT_CALIBRATION_SIZE, verify_size: int = DEFAULT_VERIFY_SIZE,
           num_threads: int = 1, log=print) -> dict:
    """Export ``run`` through its task and verify the artifact; returns the report (also merged
    into export-report.json beside the artifact).

    ``format`` is a key of :data:`EXPORT_FORMATS` (None: ``tflite`` when the run's task exports
    it, else the task's first format); ``quantize`` (TFLite only) is ``"none"``,
    ``"float16"``, ``"dynamic"`` (int8 weights) or ``"int8"`` (full integer, calibrated on
    ``calibration_size`` training examples or the images under ``calibration``). ``out``
    defaults to ``RUN/exports/<name>-<quantize>.tflite`` or ``RUN/exports/saved_model``; a task
    that writes several artifacts puts them in the folder ``out`` and returns
    ``{"artifacts": {name: report}, ...}``. Raises ZooError when the artifact needs non-builtin
    ops or does not match the Keras model (the artifact is then kept beside the target as
    ``*.rejected*`` and the good one is left alone). Plugins' ``zoo_after_export`` hooks see
    the report of a written artifact (a plugin that fails there costs a ``log`` line).
    """
    if calibration_size < 1:
        raise ZooError("--calibration-size must be at least 1")
    if format is not None:
        check_options(format, quantize, out, calibration)  # a typo fails before anything loads
    run = run if isinstance(run, Run) else Run.open(run)
    task = task_for_run(run)
    if format is None:
        format = "tflite" if "tflite" in task.EXPORTS else next(iter(task.EXPORTS), "tflite")
        check_options(format, quantize, out, calibration)
    check_task(task, format, quantize)
    specs = engine.export_spec(task, run, format, verify_size)
    options = dict(calibration=calibration, calibration_size=calibration_size,
                   num_threads=num_threads)
    if isinstance(specs, ExportSpec):
        report = export_artifact(specs, format, quantize,
                                 target_path(run, specs.name, format, quantize, out), **options)
    else:
        folder = Path(out) if out else run.exports_dir
        reports = {spec.name: export_artifact(spec, format, quantize, folder / spec.name,
                                              **options) for spec in specs}
        report = {"format": format, "quantize": quantize, "artifact": str(folder),
                  "artifacts": reports, "passed": all(r["passed"] for r in reports.values())}
    engine.after_export(run, report, log)
    return report


def check_options(format: str, quantize: str, out=None, calibration=None) -> None:
    """Raise ZooError unless ``format`` and ``quantize`` are in the format table, ``out`` (for
    TFLite) names a .tflite file, and ``calibration`` comes only with int8."""
    if format not in EXPORT_FORMATS:
        raise ZooError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise ZooError(f"unknown quantization {quantize!r}; choose one of "
                       f"{', '.join(QUANTIZATIONS)}")
    table = EXPORT_FORMATS[format]
    used = {"quantize": quantize != "none", "calibration": calibration is not None}
    for option in (name for name, given in used.items() if given and name not in table.options):
        takers = [name for name, other in EXPORT_FORMATS.items() if option in other.options]
        raise ZooError(f"--{option} applies to {' and '.join(takers)} only; use --format "
                       f"{takers[0]}, or drop --{option} for {format}")
    if quantize not in table.quantizations:
        raise ZooError(f"--format {format} takes --quantize {', '.join(table.quantizations)}, "
                       f"not {quantize}")
    if format == "tflite" and out is not None and Path(out).suffix != ".tflite":
        raise ZooError(f"--out {out} must end in .tflite")
    if calibration is not None and quantize != "int8":
        raise ZooError("--calibration calibrates full-integer models: use it with --format "
                       "tflite --quantize int8")


def check_task(task, format: str, quantize: str) -> None:
    """Raise ZooError unless ``task`` exports ``format`` with ``quantize``."""
    if getattr(type(task), "export", None) is not None:
        raise ZooError(f"task {task.title} overrides export(), the contract-1 way to export; "
                       f"contract 2 asks for export_spec() and EXPORTS instead (see "
                       f"docs/writing-plugins.md, 'Exporting a task's runs')")
    exports = task.EXPORTS
    if not exports:
        raise ZooError(task.NOT_EXPORTED.format(title=task.title))
    if format not in exports:
        raise ZooError(f"{task.title} runs export {' and '.join(exports)} only, not {format}")
    if quantize not in exports[format]:
        raise ZooError(f"this model exports with --quantize {', '.join(exports[format])}, "
                       f"not {quantize!r}")


def target_path(run: Run, name: str, format: str, quantize: str, out=None) -> Path:
    """``out``, else ``RUN/exports/<name>-<quantize>.tflite`` or ``RUN/exports/saved_model``
    (``<name>_saved_model`` for an artifact not named ``model``)."""
    if out:
        return Path(out)
    if format == "tflite":
        return run.exports_dir / f"{name}-{quantize}.tflite"
    return run.exports_dir / ("saved_model" if name == "model" else f"{name}_saved_model")


def export_artifact(spec: ExportSpec, format: str, quantize: str, target, calibration=None,
                    calibration_size: int = DEFAULT_CALIBRATION_SIZE, num_threads: int = 1) -> dict:
    """Convert, verify and place one artifact at ``target``; returns its report."""
    target = Path(target)
    if format == "tflite" and spec.standard_metadata is not None:
        tflite_metadata.require_mediapipe()  # one line now, not after converting
    with io.atomic_path(target) as tmp:
        if format == "tflite":
            representative = (spec.calibration(calibration, calibration_size)
                              if quantize == "int8" else None)
            tmp.write_bytes(tflite_bytes(spec, quantize, representative))
        else:
            write_saved_model(spec, tmp)
        report = check_artifact(tmp, spec, quantize, num_threads)
        report["artifact"] = str(target)
        if not report["passed"]:
            rejected = rejected_path(target)
            _replace(tmp, rejected)
            report["artifact"] = str(rejected)
            write_report(rejected, report)
            raise ZooError(report["failure"] + f"; the artifact was kept as {rejected} and "
                           f"nothing was replaced")
    if format == "tflite":
        beside = {**({LABELS_NAME: "\n".join(spec.labels) + "\n"} if spec.labels else {}),
                  **spec.files}
        for name, text in beside.items():
            io.write_text(target.parent / name, text)
        report["files"] = sorted(str(target.parent / name) for name in beside)
    write_report(target, report)
    return report


def verify(artifact, run, quantize: str | None = None, verify_size: int = DEFAULT_VERIFY_SIZE,
           num_threads: int = 1) -> dict:
    """Check an artifact on disk (a .tflite file or SavedModel folder) against ``run``'s Keras
    model, as export does; returns the report (``report["passed"]``). ``quantize`` defaults to
    what the file's metadata says, else ``none``."""
    run = run if isinstance(run, Run) else Run.open(run)
    artifact = Path(artifact)
    if not artifact.exists():
        raise ZooError(f"{artifact} does not exist; pass a .tflite file or SavedModel folder")
    format = "tflite" if artifact.is_file() else "saved_model"
    specs = engine.export_spec(task_for_run(run), run, format, verify_size)
    if not isinstance(specs, ExportSpec):  # several artifacts: the one named like this file
        specs = next((s for s in specs if s.name == artifact.name), specs[0])
    if quantize is None:
        quantize = _metadata_or_empty(artifact).get("quantize", "none") if format == "tflite" \
            else "none"
    return check_artifact(artifact, specs, quantize, num_threads)


def check_artifact(artifact, spec: ExportSpec, quantize: str, num_threads: int = 1) -> dict:
    """Run ``artifact`` on the spec's held-out examples and compare it with the Keras model."""
    artifact = Path(artifact)
    is_tflite = artifact.is_file()
    # TensorFlow's C++ notes (oneDNN, XNNPACK) as graphs first run are silenced; a progress bar
    # (a big model on many examples) still reaches the terminal.
    with _terminal_stream() as terminal, _captured_stderr():
        runner = TFLiteArtifact(artifact, spec.inputs, num_threads) if is_tflite \
            else SavedModelArtifact(artifact, spec)
        expected = keras_outputs(spec)
        got = runner.predict(spec.examples, progress_file=terminal)
    noun = f"examples from the {spec.examples_from}" if spec.examples_from else "examples"
    judged = spec.comparison.compare(expected, got, quantize, spec.truth, noun)
    if is_tflite and spec.standard_metadata is not None \
            and tflite_metadata.has_standard_metadata(artifact.read_bytes()):
        judged = check_in_client(artifact, spec, got, judged, noun)
    report = {"format": "tflite" if is_tflite else "saved_model", "quantize": quantize,
              "size_bytes": io.file_size(artifact), "heldout_split": spec.examples_from,
              "heldout_examples": int(len(expected)), **judged,
              "latency_ms": runner.latency_ms(spec.examples),
              "num_threads": num_threads if is_tflite else None,
              "inputs": runner.describe_inputs(), **spec.describe,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if is_tflite:
        flatbuffer = artifact.read_bytes()
        report.update(ops=tflite_ops(flatbuffer), custom_ops=custom_ops(flatbuffer))
    return report


def check_in_client(artifact, spec: ExportSpec, litert_scores, judged: dict, noun: str) -> dict:
    """``judged`` with a ``standard_metadata`` entry: the file run in MediaPipe Tasks'
    classifier on the held-out examples as an app hands them over (raw pixels or texts). It
    fails when MediaPipe refuses the file, and warns when MediaPipe's answer (the top class; a
    multi-label model's labels at its threshold) differs from the LiteRT run's (the same model
    fed by the metadata's preprocessing) on over 1%."""
    standard = spec.standard_metadata
    inputs = standard.client_inputs if standard.client_inputs is not None else spec.examples[0]
    entry = {"kind": standard.kind, "client": f"MediaPipe Tasks {standard.client}",
             "labels": len(spec.labels),
             "compared": "top class" if standard.threshold is None else
             f"labels scoring {standard.threshold:g} or more"}
    try:
        with _captured_stderr():  # MediaPipe's C++ logs
            names = tflite_metadata.client_answers(artifact, standard, inputs)
    except (ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())
        failed = {"passed": False, "failure": f"MediaPipe Tasks' {standard.client} refuses the "
                                              f"file: {reason}"} if judged["passed"] else {}
        return {**judged, "standard_metadata": {**entry, "loads": False, "error": reason},
                **failed}
    litert = client_answers_from_scores(spec, litert_scores)
    agreement = float(np.mean([a == b for a, b in zip(names, litert)]))
    entry.update(loads=True, agreement_with_litert=agreement, examples=len(names))
    if spec.truth is not None:
        truth = client_answers_from_scores(spec, spec.truth) if standard.threshold is not None \
            else [spec.labels[t] for t in spec.truth]
        entry["accuracy"] = float(np.mean([a == b for a, b in zip(names, truth)]))
    flagged = list(judged["warnings"])
    if agreement < 0.99:
        flagged.append(f"MediaPipe Tasks' {standard.client} gives LiteRT's {entry['compared']} "
                       f"on only {agreement:.1%} of {len(names)} {noun}: its preprocessing "
                       f"from the standard metadata differs from the model's")
    return {**judged, "standard_metadata": entry, "warnings": flagged}


def client_answers_from_scores(spec: ExportSpec, scores) -> list:
    """What a classifier client answers for each row of ``scores`` (or of 0/1 truth rows): the
    top label, or a multi-label model's sorted labels scoring at least its threshold."""
    scores = np.asarray(scores)
    threshold = spec.standard_metadata.threshold
    if threshold is None:
        return [spec.labels[i] for i in scores.argmax(-1)]
    return [tuple(sorted(spec.labels[i] for i in np.flatnonzero(row >= threshold)))
            for row in scores]


def _outputs(spec: ExportSpec, tensors) -> dict:
    """The spec's function on ``tensors``, as a dict of named outputs."""
    result = spec.function(*tensors)
    return result if isinstance(result, dict) else {spec.output: result}


def _tensors(spec: ExportSpec, arrays):
    import tensorflow as tf

    return [tf.constant(array, tf.as_dtype(i.dtype)) for i, array in zip(spec.inputs, arrays)]


def in_batches(call, examples) -> np.ndarray:
    """``call`` on ``examples`` (one batch-first array per input), BATCH at a time, joined."""
    count = len(examples[0])
    return np.concatenate([np.asarray(call([x[i:i + BATCH] for x in examples]))
                           for i in range(0, count, BATCH)])


def keras_outputs(spec: ExportSpec) -> np.ndarray:
    """The Keras model's compared output on every held-out example."""
    return in_batches(lambda batch: _outputs(spec, _tensors(spec, batch))[spec.output],
                      spec.examples)


def median_latency_ms(call, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of ``call()`` (one example), in milliseconds."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 4)


# -- TFLite ------------------------------------------------------------------------------------

def tflite_bytes(spec: ExportSpec, quantize: str, representative=None) -> bytes:
    """The spec's function as TFLite flatbuffer bytes: batch 1, its compared output alone, the
    spec's metadata (with the tensors' dtypes and quantization) embedded when it has some.
    ``representative`` (int8) is one array per input of calibration examples."""
    import tensorflow as tf

    signature = [tf.TensorSpec([1, *i.shape], tf.as_dtype(i.dtype), name=i.name)
                 for i in spec.inputs]
    infer = tf.function(lambda *inputs: _outputs(spec, inputs)[spec.output], autograph=False,
                        input_signature=signature)
    with _terminal_stream() as terminal:  # the converter silences fd 2 while it calibrates
        calibrate = (lambda: ([x[None] for x in example] for example in progress(
            zip(*representative), "Calibrating int8", total=len(representative[0]),
            unit="example", file=terminal))) if representative is not None else None
        flatbuffer = convert_tflite(infer.get_concrete_function(), quantize, calibrate,
                                    spec.track[0] if spec.track else None)
    if spec.metadata is not None:
        flatbuffer = embed_metadata(flatbuffer, {**spec.metadata, **_interface(flatbuffer),
                                                 "quantize": quantize})
    if spec.standard_metadata is not None:  # last: it appends the associated files' zip
        flatbuffer = tflite_metadata.write(flatbuffer, spec.standard_metadata, spec.labels)
    return flatbuffer


class TFLiteArtifact:
    """A .tflite file run the way an app runs it: one example at a time, in the stock LiteRT
    interpreter. ``inputs`` (the spec's) match the file's input tensors by name."""

    def __init__(self, path, inputs=(), num_threads: int = 1):
        try:
            self.interpreter = _interpreter(path, num_threads)
        except (RuntimeError, ValueError) as exc:  # not a model, or ops the runtime lacks
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ZooError(f"the stock LiteRT interpreter cannot run {path}: {first}") from None
        details = self.interpreter.get_input_details()
        by_name = [_input_named(details, i.name) for i in inputs]
        self.inputs = by_name if by_name and None not in by_name else details
        self.output = self.interpreter.get_output_details()[0]

    def prepare(self, example) -> list[np.ndarray]:
        """One example (an array per input, no batch axis) as input tensors: a batch of one in
        each input's dtype, quantized for integer inputs."""
        tensors = []
        for detail, value in zip(self.inputs, example):
            value = np.asarray(value)
            scale, zero_point = detail["quantization"]
            if scale and np.issubdtype(detail["dtype"], np.integer):
                info = np.iinfo(detail["dtype"])
                value = np.clip(np.round(value / scale + zero_point), info.min, info.max)
            tensors.append(value[None].astype(detail["dtype"]))
        return tensors

    def run(self, tensors) -> np.ndarray:
        """The output for prepared tensors, dequantized: what an app pays per example."""
        for detail, tensor in zip(self.inputs, tensors):
            self.interpreter.set_tensor(detail["index"], tensor)
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self.output["index"])[0]
        scale, zero_point = self.output["quantization"]
        if scale:
            return (output.astype(np.float32) - zero_point) * scale
        return output.astype(np.float32)

    def predict(self, examples, progress_file=None) -> np.ndarray:
        """One example at a time (the file takes batch 1); a bar on ``progress_file``."""
        return np.stack([self.run(self.prepare(example)) for example in progress(
            zip(*examples), "Checking the export", total=len(examples[0]), unit="example",
            file=progress_file)])

    def latency_ms(self, examples) -> float:
        tensors = self.prepare([x[0] for x in examples])
        return median_latency_ms(lambda: self.run(tensors))

    def describe_inputs(self) -> list[dict]:
        return [_describe_tensor(detail) for detail in self.inputs]


def _input_named(details, name: str):
    """The input tensor called ``name`` (the converter may prefix a signature name)."""
    for wanted in (name, f"serving_default_{name}:0"):
        found = [d for d in details if d["name"] == wanted]
        if found:
            return found[0]
    return None


def _describe_tensor(detail) -> dict:
    scale, zero_point = detail["quantization"]
    row = {"name": detail["name"], "dtype": np.dtype(detail["dtype"]).name,
           "shape": [int(s) for s in detail["shape"]]}
    if scale:
        row["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
    return row


def _interpreter(model, num_threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    with _captured_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter = Interpreter(num_threads=num_threads, **kwargs)
        interpreter.allocate_tensors()
    return interpreter


# -- SavedModel --------------------------------------------------------------------------------

def write_saved_model(spec: ExportSpec, path) -> None:
    """A SavedModel of the spec's function: ``serving_default`` takes a batch of each input
    (by name) and returns every named output, plus ``classes`` (top-1 class names, from a
    labels.txt asset) for a classifier; ``serving_<dtype>`` for each alternative input dtype."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    for item in spec.track:
        archive.track(item)
    with tempfile.TemporaryDirectory() as scratch:
        table = None
        if spec.labels:
            labels_file = Path(scratch) / LABELS_NAME
            labels_file.write_text("\n".join(spec.labels) + "\n", encoding="utf-8")
            table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
                str(labels_file), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string, tf.lookup.TextFileIndex.WHOLE_LINE), default_value="")
            archive.track(table)  # the table's file becomes the SavedModel's assets/labels.txt

        def serve(*inputs):
            inputs = [tf.cast(x, i.dtype) for x, i in zip(inputs, spec.inputs)]
            outputs = dict(_outputs(spec, inputs))
            if table is not None:
                outputs["classes"] = table.lookup(tf.argmax(outputs[spec.output], -1))
            return outputs

        dtypes = [None, *dict.fromkeys(d for i in spec.inputs for d in i.also)]
        for dtype in dtypes:  # None: every input in its own dtype
            signature = [tf.TensorSpec([None, *i.shape], dtype if dtype in i.also else i.dtype,
                                       name=i.name) for i in spec.inputs]
            archive.add_endpoint(f"serving_{dtype}" if dtype else "serving_default", serve,
                                 input_signature=signature)
        with _captured_stderr():
            archive.write_out(str(path), verbose=False)


class SavedModelArtifact:
    """A SavedModel called through its ``serving_default`` signature, as TF Serving calls it."""

    def __init__(self, path, spec: ExportSpec):
        import tensorflow as tf

        self.spec = spec
        self.loaded = tf.saved_model.load(str(path))  # keep: it owns the variables
        self.serve = self.loaded.signatures["serving_default"]

    def __call__(self, batch) -> np.ndarray:
        tensors = _tensors(self.spec, batch)
        outputs = self.serve(**{i.name: t for i, t in zip(self.spec.inputs, tensors)})
        return outputs[self.spec.output].numpy()

    def predict(self, examples, progress_file=None) -> np.ndarray:
        """In batches: fast enough to need no bar."""
        return in_batches(self, examples)

    def latency_ms(self, examples) -> float:
        one = [x[:1] for x in examples]
        return median_latency_ms(lambda: self(one))

    def describe_inputs(self) -> list[dict]:
        return [{"name": name, "dtype": spec.dtype.name, "shape": spec.shape.as_list()}
                for name, spec in self.serve.structured_input_signature[1].items()]


# -- files -------------------------------------------------------------------------------------

def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir():
        shutil.rmtree(dst)
    os.replace(src, dst)


def write_report(artifact, report: dict) -> None:
    """Merge this artifact's entry into export-report.json in the artifact's folder."""
    artifact = Path(artifact)
    path = artifact.parent / EXPORT_REPORT
    try:
        reports = io.read_json(path) if path.is_file() else {}
    except ValueError:
        reports = {}
    reports[artifact.name] = report
    io.write_json(path, reports)


# -- conversion, ops and metadata ------------------------------------------------------------

def convert_tflite(concrete_function, quantize: str, representative_data=None,
                   model=None) -> bytes:
    """TFLite flatbuffer bytes of a fixed-shape ``tf.function`` concrete function: the project's
    one converter configuration, builtin ops only (never select-TF). ``quantize`` is one of
    QUANTIZATIONS; ``"int8"`` needs ``representative_data`` (a callable yielding lists of input
    arrays) and gives uint8 input and output. ``model`` (the Keras model traced) only names the
    layers in the error raised for unsupported ops."""
    import tensorflow as tf

    with _captured_stderr():  # absl warns that this path is deprecated; it is the one that works
        # No trackable object: the converter then freezes every variable into a constant. With
        # the model passed, it goes through a SavedModel and keras.applications models keep
        # their weights as resource variables (READ_VARIABLE ops, unfolded BatchNorm, int8
        # calibration fails; a GAN generator's uninitialised variables give NaNs).
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function])
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
            raise ZooError(_unsupported_message(str(exc) + log.read(), model,
                                                concrete_function.graph)) from None
    check_builtin_ops(flatbuffer)
    return flatbuffer


def check_builtin_ops(flatbuffer: bytes) -> None:
    """Raise ZooError if the model needs ops the stock runtime lacks (custom or select-TF)."""
    non_builtin = custom_ops(flatbuffer)
    if non_builtin:
        raise ZooError(f"the TFLite model needs non-builtin ops {', '.join(non_builtin)}; "
                       f"replace the layers that use them")


def _terminal_stream():
    """A text stream on a copy of fd 2 as it is now: where progress bars go while
    :func:`_captured_stderr` silences fd 2 (close it, e.g. with ``with``)."""
    return os.fdopen(os.dup(2), "w")


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
    names = {layer.name for layer in nested_layers(model)}
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
    return {"input_tensor": _describe_tensor(interpreter.get_input_details()[0]),
            "output_tensor": _describe_tensor(interpreter.get_output_details()[0])}


def embed_metadata(flatbuffer: bytes, metadata: dict) -> bytes:
    """Add ``metadata`` as a "zoo_metadata" JSON entry in the model's metadata table (beside
    the standard "TFLITE_METADATA" entry, which :mod:`zoo.tflite_metadata` writes)."""
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
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


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
