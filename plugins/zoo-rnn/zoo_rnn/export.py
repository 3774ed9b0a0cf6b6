"""Export of zoo-rnn runs, verified against Keras before anything is replaced.

Text runs: a SavedModel whose ``serve`` takes raw strings (the vocabulary inside), or a TFLite
model of the token-id network (builtin ops only; int32 ``(1, sequence_length)`` in) with
``vocabulary.txt`` (line i is token id i; 0 is padding, 1 out-of-vocabulary) and ``labels.txt``
beside it. Forecast runs: float32 ``(1, window)`` history in, forecast out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo import io
from zoo.errors import ZooError
from zoo.exporting import (LABELS_NAME, REPORT_NAME, check_options,
                           convert_saved_model_tflite, file_size, target_path, tflite_ops)
from zoo.runs import Run
from zoo_rnn.tasks import SEQUENCE_MODEL, TEXT_QUANTIZATIONS, VOCABULARY_NAME

VERIFY_SIZE = 200
#: Float exports must give the Keras model's answer; quantized ones nearly always.
MIN_AGREEMENT = {"none": 0.99, "float16": 0.99, "dynamic": 0.95}


def convert_tflite(model, input_spec, quantize: str) -> bytes:
    """Builtin-ops TFLite of ``model`` for one fixed-shape input (batch 1: the recurrent loop
    then lowers to a builtin WHILE; a dynamic batch would need select-TF tensor lists)."""
    import tempfile

    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=[input_spec])
    with tempfile.TemporaryDirectory() as tmp:
        archive.write_out(tmp, verbose=False)
        return convert_saved_model_tflite(tmp, quantize)


def run_tflite(path: Path, inputs: np.ndarray) -> tuple[np.ndarray, float]:
    """Run a one-input TFLite model on each row of ``inputs`` with ai_edge_litert; returns the
    outputs and the median milliseconds per call."""
    import statistics
    import time

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    rows, times = [], []
    for row in inputs:
        interpreter.set_tensor(inp["index"], row[None].astype(inp["dtype"]))
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000)
        rows.append(interpreter.get_tensor(out["index"])[0])
    return np.stack(rows), statistics.median(times)


def _verify(expected: np.ndarray, got: np.ndarray, quantize: str, labels) -> dict:
    """Compare the artifact's outputs with Keras'; ``labels`` (class indices) for classifiers,
    None for forecasts. Raises ZooError when they disagree."""
    classify = labels is not None
    diff = float(np.abs(expected - got).max())
    report = {"max_abs_diff": diff, "heldout_images": int(len(expected)), "warnings": []}
    if classify:
        agreement = float((expected.argmax(-1) == got.argmax(-1)).mean())
        report.update(agreement=agreement,
                      accuracy=float((got.argmax(-1) == np.asarray(labels)).mean()),
                      keras_accuracy=float((expected.argmax(-1) == np.asarray(labels)).mean()))
        passed = agreement >= MIN_AGREEMENT[quantize]
        failure = f"the export agrees with Keras on {agreement:.1%} of held-out texts"
    else:
        scale = float(np.abs(expected).mean()) or 1.0
        report["relative_diff"] = diff / scale
        passed = diff / scale <= (1e-3 if quantize == "none" else 0.05)
        failure = f"the export's forecasts differ from Keras by up to {diff:.4g}"
    report["passed"] = passed
    if not passed:
        raise ZooError(failure + "; nothing was written")
    return report


def _write(model, target: Path, format: str, quantize: str, inputs, expected, labels,
           tflite_model, tflite_inputs: np.ndarray) -> dict:
    """Write the artifact at ``target`` only once it reproduces ``expected``: a SavedModel of
    ``model`` fed ``inputs``, or a TFLite of ``tflite_model`` fed ``tflite_inputs``."""
    import time

    import tensorflow as tf

    with io.atomic_path(target) as tmp:
        if format == "saved_model":
            model.export(tmp, format="tf_saved_model", verbose=False)
            loaded = tf.saved_model.load(str(tmp))  # keep a reference: it owns the variables
            start = time.perf_counter()
            got = loaded.serve(tf.constant(inputs)).numpy()
            report = _verify(expected, got, quantize, labels)
            report["latency_ms"] = (time.perf_counter() - start) * 1000 / len(inputs)
        else:
            spec = tf.TensorSpec((1, *tflite_inputs.shape[1:]), tf.as_dtype(tflite_inputs.dtype),
                                 name="inputs")
            flatbuffer = convert_tflite(tflite_model, spec, quantize)
            tmp.write_bytes(flatbuffer)
            got, latency_ms = run_tflite(tmp, tflite_inputs)
            report = _verify(expected, got, quantize, labels)
            report["latency_ms"] = latency_ms
            report["ops"] = tflite_ops(flatbuffer)
    report.update(artifact=str(target), format=format, quantize=quantize,
                  size_bytes=file_size(target))
    return report


def export_text_run(run, format: str = "tflite", quantize: str = "none", out=None) -> dict:
    """Export a text-classification run; returns the report (also in export-report.json)."""
    import tensorflow as tf

    check_options(format, quantize, TEXT_QUANTIZATIONS)
    run = run if isinstance(run, Run) else Run.open(run)
    target = target_path(run, format, quantize, out)
    splits = run.read("splits.json")
    split = "test" if splits.get("test") else "val"
    texts = [t for t, _ in splits[split]][:VERIFY_SIZE]
    labels = [c for _, c in splits[split]][:VERIFY_SIZE]
    model = run.load_model()
    expected = model.predict(tf.constant(texts), verbose=0)
    token_ids = model.get_layer("vectorize")(tf.constant(texts)).numpy().astype("int32")
    report = _write(model, target, format, quantize, texts, expected, labels,
                    tflite_model=model.get_layer(SEQUENCE_MODEL), tflite_inputs=token_ids)
    report["heldout_split"] = split
    if format == "tflite":
        vocabulary = model.get_layer("vectorize").get_vocabulary()
        io.write_text(target.parent / VOCABULARY_NAME, "\n".join(vocabulary) + "\n")
        io.write_text(target.parent / LABELS_NAME, "\n".join(run.labels) + "\n")
        report.update(vocabulary=str(target.parent / VOCABULARY_NAME),
                      labels=str(target.parent / LABELS_NAME),
                      input={"name": "token_ids", "dtype": "int32",
                             "shape": [1, int(token_ids.shape[1])],
                             "tokenize": "lowercase, strip punctuation, split on whitespace; "
                                         "unknown words are 1, padding 0"})
    io.write_json(target.parent / REPORT_NAME, report)
    return report


def export_forecast_run(run, format: str = "tflite", quantize: str = "none", out=None) -> dict:
    """Export a forecasting run (float32 ``(1, window)`` history in)."""
    from zoo_rnn.tasks import ForecastingTask

    check_options(format, quantize, TEXT_QUANTIZATIONS)
    run = run if isinstance(run, Run) else Run.open(run)
    target = target_path(run, format, quantize, out)
    task = ForecastingTask.from_run(run)
    series = task._series(run.config["data"]["path"])
    bounds = {k: tuple(v) for k, v in run.config["data"]["splits"].items()}
    history, _ = task._split_windows(series, "test" if bounds["test"][1] > bounds["test"][0]
                                     else "val", bounds)
    history = history[:VERIFY_SIZE].astype("float32")
    model = run.load_model()
    expected = model.predict(history, verbose=0)
    report = _write(model, target, format, quantize, history, expected, None,
                    tflite_model=model, tflite_inputs=history)
    io.write_json(target.parent / REPORT_NAME, report)
    return report
