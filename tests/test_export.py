"""zoo export: TFLite (float32, float16, dynamic, int8) and SavedModel from a digits run.

One session-scoped run (sklearn digits as 32 px PNGs, a tiny CNN that scales raw pixels itself
and carries augmentation and dropout) feeds every test; exports are shared where they can be.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.exporting import QUANTIZATIONS
from zoo.runs import Run
from zoo_cli.main import cli

keras = pytest.importorskip("keras")


@keras.saving.register_keras_serializable(package="zoo_test_export")
class CumulativeProduct(keras.layers.Layer):
    """A layer whose op (tf.Cumprod) has no builtin TFLite kernel."""

    def call(self, inputs):
        import tensorflow as tf

        return tf.math.cumprod(inputs, axis=1)


def _tiny_cnn(extra_layer=None):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)  # the model takes raw 0-255 pixels
    x = keras.layers.RandomFlip("horizontal", name="augment_flip")(x)
    x = keras.layers.RandomRotation(0.03, name="augment_rotate")(x)
    if extra_layer is not None:
        x = extra_layer(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def make_run(path: Path, digits: Path, epochs: int = 8, extra_layer=None) -> Run:
    """A run directory in the shared format, trained on ``digits``."""
    from zoo.data.images import load_images, scan_folder

    folder = scan_folder(digits, val_split=0.2, seed=0)
    run = Run(path)
    run.path.mkdir(parents=True)
    model = _tiny_cnn(extra_layer)
    if epochs:
        train = folder.splits["train"]
        x = load_images([p for p, _ in train], (32, 32))
        y = np.array([c for _, c in train])
        keras.utils.set_random_seed(0)
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    model.save(run.model_path)
    run.write("labels.json", folder.classes)
    run.write("splits.json", folder.to_json())
    run.write("config.json", {"task": "image_classification", "model": "tiny_cnn",
                              "backbone": "tiny_cnn", "image_size": [32, 32],
                              "preprocess": "scale_0_1", "options": {},
                              "data": {"path": str(digits), "classes": folder.classes}})
    return run


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from zoo.data.digits import write_digits

    root = tmp_path_factory.mktemp("export-digits") / "digits"
    write_digits(root)
    return root


@pytest.fixture(scope="session")
def run(tmp_path_factory, digits):
    return make_run(tmp_path_factory.mktemp("export-run") / "run", digits)


@pytest.fixture(scope="session")
def heldout(run):
    """Held-out PNGs read from disk as raw pixels, the way an app would get them."""
    from PIL import Image

    rows = run.read("splits.json")["val"]
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p, _ in rows])
    return images, np.array([c for _, c in rows])


@pytest.fixture(scope="session")
def exports(run):
    """Every TFLite quantization, exported once: quantize -> report."""
    return {q: zoo.export(run, format="tflite", quantize=q) for q in QUANTIZATIONS}


def _litert(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def _classify(interpreter, images):
    """Probabilities for raw uint8 pixels, fed the way the file's metadata says to."""
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
        interpreter.invoke()
        scores = interpreter.get_tensor(out["index"])[0].astype(np.float32)
        scale, zero_point = out["quantization"]
        results.append((scores - zero_point) * scale if scale else scores)
    return np.stack(results)


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_tflite_runs_in_litert_on_raw_pixels_with_labels_beside(run, exports, heldout, quantize):
    report = exports[quantize]
    path = run.file("exports") / f"model-{quantize}.tflite"
    assert report["artifact"] == str(path) and path.is_file() and report["passed"]
    labels = (path.parent / "labels.txt").read_text().split()
    assert labels == run.labels

    interpreter = _litert(path)
    detail = interpreter.get_input_details()[0]
    assert list(detail["shape"]) == [1, 32, 32, 3]
    if quantize == "int8":  # raw pixels as they are: scale 1, zero point 0
        assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)
        assert interpreter.get_output_details()[0]["dtype"] == np.uint8
    else:
        assert detail["dtype"] == np.float32
    images, truth = heldout
    scores = _classify(interpreter, images)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=0.05)  # probabilities
    accuracy = np.mean(scores.argmax(-1) == truth)
    assert report["keras_accuracy"] > 0.8, report  # the fixture model learned
    assert accuracy >= report["keras_accuracy"] - 0.02, report
    assert labels[scores[0].argmax()] in run.labels

    # builtin ops only, and augmentation / dropout are not in the inference graph
    ops = report["ops"]
    assert report["custom_ops"] == [] and not [op for op in ops if op.startswith("Flex")]
    assert not [op for op in ops if "RANDOM" in op or "MULTINOMIAL" in op]
    names = " ".join(t["name"] for t in interpreter.get_tensor_details())
    assert "augment" not in names and "dropout" not in names
    assert report["heldout_split"] == "val split" and report["heldout_examples"] == len(images)
    assert report["latency_ms"] > 0 and report["size_bytes"] == path.stat().st_size
    if quantize in ("none", "float16"):
        assert report["agreement"] >= 0.99
    written = json.loads((path.parent / "export-report.json").read_text())
    assert written[path.name]["quantize"] == quantize


def test_int8_is_small_and_as_accurate_as_float(exports):
    float32, int8 = exports["none"], exports["int8"]
    assert int8["size_bytes"] <= 0.35 * float32["size_bytes"]
    assert float32["accuracy"] - int8["accuracy"] <= 0.02
    assert int8["keras_accuracy"] == float32["keras_accuracy"]  # quantized next to float
    assert exports["float16"]["size_bytes"] < float32["size_bytes"]
    assert exports["dynamic"]["size_bytes"] < exports["float16"]["size_bytes"]


def test_labels_and_metadata_are_embedded(run, exports):
    from zoo.exporting import read_metadata

    path = run.file("exports") / "model-int8.tflite"
    metadata = read_metadata(path)
    assert metadata["labels"] == run.labels
    assert (metadata["input"]["height"], metadata["input"]["width"]) == (32, 32)
    assert metadata["input"]["range"] == [0, 255] and metadata["input"]["color"] == "RGB"
    assert metadata["input_tensor"]["dtype"] == "uint8"
    assert metadata["output"]["kind"] == "probabilities"
    assert metadata["quantize"] == "int8"
    with zipfile.ZipFile(path) as files:  # associated files appended to the flatbuffer
        assert files.namelist() == ["labels.txt"]
        assert files.read("labels.txt").decode().split() == run.labels
    assert read_metadata(run.file("exports") / "model-none.tflite")["input_tensor"]["dtype"] \
        == "float32"


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_mediapipe_image_classifier_reads_the_standard_metadata(run, exports, quantize,
                                                                mediapipe_check):
    from mediapipe.tasks.python.metadata import metadata

    report = exports[quantize]
    assert report["standard_metadata"]["client"] == "MediaPipe Tasks ImageClassifier"
    assert abs(mediapipe_check(run, report) - report["keras_accuracy"]) <= 0.01
    displayer = metadata.MetadataDisplayer.with_model_file(report["artifact"])
    shown = json.loads(displayer.get_metadata_json())
    assert displayer.get_associated_file_buffer("labels.txt").decode().split() == run.labels
    image = shown["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert image["content"]["content_properties"]["color_space"] == "RGB"
    (normalization,) = image["process_units"]
    assert normalization["options"] == {"mean": [0.0], "std": [1.0]}  # raw pixels pass as they are
    (scores,) = shown["subgraph_metadata"][0]["output_tensor_metadata"]
    assert scores["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
    assert shown["name"] == "tiny_cnn" and "10 classes" in shown["description"]
    assert shown["version"] == f"run {run.path.name}" and shown["author"].startswith("keras-zoo")
    assert shown["min_parser_version"] == "1.0.0"


def test_a_file_mediapipe_refuses_fails_verification(run, tmp_path):
    """Standard metadata of the wrong kind (a text tokenizer on the image model): LiteRT runs
    the file, MediaPipe's ImageClassifier refuses it, and the check says so in one line."""
    import dataclasses

    from zoo import tflite_metadata
    from zoo.exporting import tflite_bytes, verify
    from zoo.tasks import RegexTokenizer, StandardMetadata, task_for_run

    spec = task_for_run(run).export_spec(run, "tflite", 50)
    bare = tflite_bytes(dataclasses.replace(spec, standard_metadata=None), "none")
    text = StandardMetadata("text_classifier", "wrong", "", "1", "tests",
                            tokenizer=RegexTokenizer(r"\s+", {"<PAD>": 0, "<UNKNOWN>": 1}))
    wrong = tmp_path / "wrong.tflite"
    wrong.write_bytes(tflite_metadata.write(bare, text, spec.labels))
    report = verify(wrong, run)
    assert report["agreement"] >= 0.99 and not report["passed"]
    assert report["standard_metadata"]["loads"] is False
    assert report["failure"].startswith("MediaPipe Tasks' ImageClassifier refuses the file: ")
    assert "ImageProperties" in report["failure"] and "\n" not in report["failure"]


def test_without_mediapipe_a_classifier_export_is_one_line(run, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # as if it were not installed
    target = tmp_path / "model.tflite"
    code, lines, _ = _cli("export", run.path, "--out", target)
    assert code == 1 and len(lines) == 1 and "pip install 'keras-zoo[mobile]'" in lines[0], lines
    assert not target.exists()


def test_saved_model_serving_default_classifies_a_batch(run, heldout, tmp_path):
    import tensorflow as tf

    report = zoo.export(run, format="saved_model")
    path = run.file("exports") / "saved_model"
    assert report["passed"] and report["agreement"] >= 0.99 and report["artifact"] == str(path)
    assert (path / "assets" / "labels.txt").read_text().split() == run.labels

    loaded = tf.saved_model.load(str(path))
    images, truth = heldout
    batch = images[:16]
    result = loaded.signatures["serving_default"](images=tf.constant(batch, tf.float32))
    assert result["scores"].shape == (16, 10)
    classes = [c.decode() for c in result["classes"].numpy()]
    assert classes == [run.labels[i] for i in result["scores"].numpy().argmax(-1)]
    assert np.mean(np.array(classes) == np.array([run.labels[t] for t in truth[:16]])) > 0.8
    as_uint8 = loaded.signatures["serving_uint8"](images=tf.constant(batch, tf.uint8))
    np.testing.assert_allclose(as_uint8["scores"].numpy(), result["scores"].numpy(), atol=1e-5)
    written = json.loads((path.parent / "export-report.json").read_text())
    assert written["saved_model"]["format"] == "saved_model"


def _tamper(data: bytes) -> bytes:
    """Scramble the largest constant buffer (a weight matrix) of a .tflite file."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    largest = max((model.Buffers(i) for i in range(model.BuffersLength())),
                  key=lambda b: b.DataLength())
    start = largest.Offset() if largest.Offset() else \
        largest._tab.Vector(largest._tab.Offset(4))
    weights = np.frombuffer(data, np.float32, largest.DataLength() // 4, start).copy()
    np.random.default_rng(0).shuffle(weights)
    return data[:start] + weights.tobytes() + data[start + weights.nbytes:]


def test_parity_check_fails_on_a_tampered_artifact(run, exports, tmp_path, monkeypatch):
    from zoo import exporting as export_module
    from zoo.exporting import verify

    good = run.file("exports") / "model-none.tflite"
    tampered = tmp_path / "tampered.tflite"
    tampered.write_bytes(_tamper(good.read_bytes()))
    report = verify(tampered, run)
    assert not report["passed"] and report["agreement"] < 0.99
    assert "agrees with the Keras model on only" in report["failure"]
    # Judged as a quantized file, the same numbers are a flagged accuracy drop, not a failure.
    flagged = verify(tampered, run, quantize="int8")
    assert flagged["passed"] and flagged["accuracy_drop_points"] > 1
    assert f"{flagged['accuracy_drop_points']:.1f} points below" in flagged["warnings"][0]

    # A different model's file (an untrained twin) fails too.
    other = make_run(tmp_path / "untrained", Path(run.config["data"]["path"]), epochs=0)
    untrained = zoo.export(other, format="tflite")
    assert not verify(untrained["artifact"], run)["passed"]

    # Through export: the good artifact stays, the bad one is kept aside with its report.
    before = good.read_bytes()
    convert = export_module.convert_tflite
    monkeypatch.setattr(export_module, "convert_tflite",
                        lambda *args: _tamper(convert(*args)))
    with pytest.raises(zoo.ZooError, match="agrees with the Keras model on only"):
        zoo.export(run, format="tflite")
    assert good.read_bytes() == before
    rejected = good.with_name("model-none.rejected.tflite")
    assert rejected.is_file()
    reports = json.loads((good.parent / "export-report.json").read_text())
    assert reports[rejected.name]["passed"] is False and reports[good.name]["passed"] is True


def test_interrupted_export_leaves_the_earlier_artifact(run, exports, monkeypatch):
    import subprocess
    import sys
    import time

    from zoo import exporting as export_module

    good = run.file("exports") / "model-none.tflite"
    before = good.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "check_artifact", interrupted)
    with pytest.raises(KeyboardInterrupt):
        zoo.export(run, format="tflite")
    assert good.read_bytes() == before
    assert not list(good.parent.glob(".model-none.tflite.*"))  # temp files cleaned up

    # A process killed mid-export (after its temporary file exists) replaces nothing.
    child = subprocess.Popen([sys.executable, "-c", f"import zoo; zoo.export({str(run.path)!r})"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(good.parent.glob(".model-none.tflite.*")) and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child.kill()
    child.wait()
    assert good.read_bytes() == before


def _cli(*args):
    """Exit code and the lines printed (stdout and stderr), and stdout alone."""
    result = CliRunner().invoke(cli, list(map(str, args)))
    return result.exit_code, result.output.strip().splitlines(), result.stdout


def test_cli_bad_inputs_give_one_line(run, tmp_path):
    cases = [((tmp_path,), "is not a run directory"),
             ((run.path, "--format", "onnx"), "unknown export format 'onnx'"),
             ((run.path, "--quantize", "int4"), "unknown quantization 'int4'"),
             ((run.path, "--format", "saved_model", "--quantize", "int8"), "applies to tflite only"),
             ((run.path, "--quantize", "int8", "--calibration-size", 0), "at least 1"),
             ((run.path, "--out", tmp_path / "model.bin"), "must end in .tflite"),
             ((run.path, "--calibration", tmp_path), "use it with --format tflite --quantize int8")]
    for args, message in cases:
        code, lines, _ = _cli("export", *args)
        assert code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), (args, lines)
        assert message in lines[0]


def test_cli_lists_the_export_formats():
    code, lines, stdout = _cli("export", "--formats", "--json")
    rows = {row["format"]: row for row in json.loads(stdout)}
    assert code == 0 and rows["tflite"]["quantize"] == list(QUANTIZATIONS)
    assert rows["saved_model"]["quantize"] == ["none"]
    assert "calibration" in rows["tflite"]["options"] and rows["saved_model"]["options"] == ["out"]
    code, lines, _ = _cli("export", "--formats")
    assert code == 0 and lines[0].split() == ["format", "quantize", "options", "artifact", "what"]


def test_cli_rejects_a_layer_without_builtin_ops(digits, tmp_path):
    bad = make_run(tmp_path / "bad", digits, epochs=0,
                   extra_layer=CumulativeProduct(name="cumulative_product"))
    code, lines, _ = _cli("export", bad.path)
    assert code == 1 and len(lines) == 1
    assert "Cumprod" in lines[0] and "cumulative_product" in lines[0]
    assert not (bad.path / "exports" / "model-none.tflite").exists()


def test_a_select_tf_file_is_caught(run, tmp_path):
    """What the builtin-only check guards against: a Flex file (as Keras' litert export may
    make) lists its select-TF op and fails verification with one line."""
    import tensorflow as tf

    from zoo.exporting import custom_ops, verify

    model = keras.Sequential([keras.Input((32, 32, 3)), CumulativeProduct(),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    infer = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec([1, 32, 32, 3])])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([infer.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    flex = tmp_path / "flex.tflite"
    flex.write_bytes(converter.convert())
    assert custom_ops(flex.read_bytes()) == ["FlexCumprod"]
    with pytest.raises(zoo.ZooError, match="cannot run") as error:
        verify(flex, run)
    assert "\n" not in str(error.value)


def test_cli_int8_with_calibration_folder(run, digits, tmp_path):
    out = tmp_path / "phone" / "digits.tflite"
    code, lines, stdout = _cli("export", run.path, "--quantize", "int8", "--out", out,
                               "--calibration", digits, "--calibration-size", 60, "--json")
    assert code == 0, lines
    report = json.loads(stdout)
    assert report["artifact"] == str(out) and report["accuracy"] > 0.8
    assert (out.parent / "labels.txt").is_file() and (out.parent / "export-report.json").is_file()
    code, lines, _ = _cli("export", run.path, "--format", "saved_model", "--out", tmp_path / "srv")
    assert code == 0 and any(line.startswith("agreement") for line in lines)


def test_a_finetuned_mobilenet_run_exports_with_builtin_ops(tmp_path, mediapipe_check):
    """The real path: zoo.finetune's model (Preprocess layer, keras.applications backbone,
    augmentation, head) converts to builtin ops and matches Keras, and MediaPipe Tasks read
    every quantization with its labels. (Accuracy is measured by benchmarks/export.py; this
    model has barely trained.)"""
    from zoo.data.digits import write_digits

    write_digits(tmp_path / "digits", limit=8)
    result = zoo.finetune("mobilenet_v2", tmp_path / "digits", weights="none", image_size=32,
                          epochs=1, fine_tune_epochs=0, batch_size=16, min_steps=1,
                          out=str(tmp_path / "run"),
                          log=lambda line: None)
    report = zoo.export(result.path)
    assert report["passed"] and report["agreement"] >= 0.99
    assert "DEPTHWISE_CONV_2D" in report["ops"]
    assert report["custom_ops"] == []
    assert (result.path / "exports" / "labels.txt").read_text().split() == result.labels
    for quantize in QUANTIZATIONS:
        report = report if quantize == "none" else zoo.export(result.path, quantize=quantize)
        assert report["passed"] and report["quantize"] == quantize
        mediapipe_check(Run.open(result.path), report)
