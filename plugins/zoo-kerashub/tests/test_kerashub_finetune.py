"""A KerasHub backbone from a local preset, end to end through the CLI: fine-tuned on an image
folder, killed with SIGKILL and resumed, evaluated, and exported as int8 TFLite that MediaPipe's
ImageClassifier reads with its labels, and as float TFLite and a SavedModel that agree with
Keras."""

import json
import subprocess
import sys

import pytest

import zoo
from zoo.runs import Run

EPOCHS, FINE_TUNE_EPOCHS = 3, 2


@pytest.fixture(scope="module")
def resumed(presets, digits, tmp_path_factory, sigkill_after_checkpoint):
    """``zoo finetune kerashub --weights TINY_RESNET`` killed after its first checkpoint, then
    run again with --resume: (run directory, epoch it died after, the resumed output)."""
    out = tmp_path_factory.mktemp("runs") / "kerashub"
    command = [sys.executable, "-m", "zoo", "finetune", "kerashub", "--weights",
               str(presets["resnet"]), "--data", str(digits), "--image-size", "32",
               "--head-epochs", str(EPOCHS), "--fine-tune-epochs", str(FINE_TUNE_EPOCHS),
               "--lr", "0.01", "--seed", "0", "--out", str(out)]
    killed_after = sigkill_after_checkpoint(command, out)
    assert killed_after < EPOCHS + FINE_TUNE_EPOCHS and not (out / "model.keras").exists()
    again = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    return out, killed_after, again.stdout


def test_the_killed_run_resumes_and_learns(resumed, presets):
    out, killed_after, output = resumed
    assert f"Resuming {out} after epoch {killed_after}" in output
    run = Run.open(out)
    assert [int(row["epoch"]) for row in run.history.rows()] == \
        list(range(1, EPOCHS + FINE_TUNE_EPOCHS + 1))  # no gap, no repeat
    config = run.config
    assert (config["backbone"], config["preprocess"]) == ("kerashub", "none")
    assert config["options"]["weights"] == str(presets["resnet"])
    assert "zoo-kerashub" in config["versions"]["plugins"]
    # The preset was pretrained on digits: its frozen features (its weights behind its own
    # preprocessing) already separate the classes; chance is 0.1.
    head_stage = [row for row in run.history.rows() if row["stage"] == "head"]
    assert float(head_stage[-1]["val_accuracy"]) >= 0.5, head_stage
    assert run.read("metrics.json")["accuracy"] >= 0.6


def test_evaluate_and_predict(resumed, digits):
    out, _, _ = resumed
    run = zoo.open_run(out)
    metrics = run.evaluate(digits / "test")
    assert metrics["count"] == 30 and 0.0 <= metrics["accuracy"] <= 1.0
    rows = run.predict([digits / "test" / "7"], top_k=2)
    assert len(rows) == 3 and {row["class"] for row in rows} <= set(run.labels)


@pytest.mark.parametrize("quantize", ["int8", "none"])
def test_tflite_loads_in_mediapipe_with_its_labels(resumed, mediapipe_check, quantize):
    """Builtin ops only; MediaPipe's ImageClassifier feeds the file raw pixels, as an app does,
    and names the run's classes; a float file agrees with Keras."""
    out, _, _ = resumed
    report = zoo.export(out, format="tflite", quantize=quantize)
    assert report["passed"] and report["custom_ops"] == [], report
    assert mediapipe_check(Run.open(out), report) >= 0.5
    if quantize == "none":
        assert report["agreement"] >= 0.99 and report["max_abs_diff"] < 1e-4, report


def test_saved_model_agrees_with_keras(resumed):
    out, _, _ = resumed
    report = zoo.export(out, format="saved_model")
    assert report["passed"] and report["agreement"] >= 0.99, report
    assert report["max_abs_diff"] < 1e-4, report
    stored = json.loads((out / "exports" / "export-report.json").read_text())
    assert stored["saved_model"]["passed"]
