"""``zoo pretrain``: self-supervised pretraining on images without labels, its run, --resume
after a SIGKILL, and fine-tuning from it with --weights RUN."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.data import scan_unlabelled, write_digits
from zoo.errors import ZooError
from zoo.runs import Run

ZOO = [sys.executable, "-m", "zoo_cli.main"]
EPOCHS = 6


def _zoo(*args, timeout=300):
    return subprocess.Popen([*ZOO, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("pretrain") / "digits", limit=24)["path"]


@pytest.fixture(scope="module")
def resumed(digits, tmp_path_factory):
    """`zoo pretrain` killed with SIGKILL after its first checkpoint, then run with --resume:
    (run directory, the epoch it was killed after, the resumed process' output)."""
    out = tmp_path_factory.mktemp("runs") / "ssl"
    args = ["pretrain", "plain_cnn", "--data", digits, "--image-size", "32", "--epochs",
            str(EPOCHS), "--batch-size", "64", "--seed", "3", "--out", str(out)]
    child = _zoo(*args)
    state = out / "checkpoints" / "state.json"
    deadline = time.monotonic() + 240
    while not (state.is_file() and json.loads(state.read_text())["global_epoch"] >= 1):
        assert child.poll() is None, child.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_after = json.loads(state.read_text())["global_epoch"]
    assert killed_after < EPOCHS and not (out / "model.keras").exists()
    again = _zoo(*args, "--resume")
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output[-3000:]
    return out, killed_after, output


def test_pretrain_resumes_after_sigkill_and_learns(resumed):
    out, killed_after, output = resumed
    assert f"Resuming {out} after epoch {killed_after}" in output
    run = Run.open(out)
    history = run.history.rows()
    assert [int(row["epoch"]) for row in history] == list(range(1, EPOCHS + 1))  # no gap/repeat
    # The label-free signal learns: the held-out loss falls and views find their pair far
    # above chance (1 in 2 x 24 - 1 for the 24 held-out images).
    first, last = history[0], history[-1]
    assert float(last["val_loss"]) < float(first["val_loss"])
    assert float(last["val_pair_accuracy"]) > 5 / (2 * 24 - 1)
    # Class folders only score the k-NN monitor: every epoch has it, well above chance (0.1).
    assert all(0.0 <= float(row["val_knn_accuracy"]) <= 1.0 for row in history)
    metrics = run.read("metrics.json")
    assert metrics["knn_accuracy"] > 0.5 and metrics["training"]["epochs"] == EPOCHS
    config = run.config
    assert (config["task"], config["backbone"], config["method"]) == \
        ("image_pretraining", "plain_cnn", "simclr")
    assert "Report: " in output and (out / "report.html").is_file()
    assert (out / "curves.png").is_file()


def test_finetune_from_a_pretrain_run_starts_from_its_backbone(resumed, digits, tmp_path):
    """The frozen stage keeps the backbone exactly as pretrained: tensor by tensor equal."""
    from zoo.backbones_build import nested_layers

    out, _, _ = resumed
    run = zoo.finetune("plain_cnn", digits, weights=str(out), image_size=32, epochs=1,
                       fine_tune_epochs=0, out=str(tmp_path / "ft"), log=lambda line: None)

    def backbone_weights(model):
        (backbone,) = [layer for layer in nested_layers(model) if layer.name == "backbone"]
        return backbone.get_weights()

    pretrained = backbone_weights(Run.open(out).load_model(compile=False))
    tuned = backbone_weights(Run.open(run.path).load_model(compile=False))
    assert len(pretrained) == len(tuned) > 0
    for a, b in zip(pretrained, tuned):
        np.testing.assert_array_equal(a, b)

    with pytest.raises(ZooError, match="trained backbone 'plain_cnn', not 'resnet20'"):
        zoo.finetune("resnet20", digits, weights=str(out), image_size=32, epochs=1,
                     out=str(tmp_path / "other"), log=lambda line: None)


def test_a_pretrain_run_is_listed_evaluated_and_refused_for_export(resumed, digits):
    out, _, _ = resumed
    (row,) = zoo.list_runs(out.parent)
    assert (row["status"], row["task"], row["model"]) == ("done", "image_pretraining",
                                                          "plain_cnn")
    again = zoo.evaluate(out, log=lambda line: None)
    assert again["knn_accuracy"] == Run.open(out).read("metrics.json")["knn_accuracy"]
    image = sorted(Path(digits, "7").glob("*.png"))[0]
    (result,) = zoo.predict(out, [image], log=lambda line: None)
    assert result["path"] == str(image) and len(result["embedding"]) == 128  # plain_cnn's width
    with pytest.raises(ZooError, match="fine-tune it first: zoo finetune plain_cnn --data DIR "
                                       "--weights RUN"):
        zoo.export(out, format="tflite")


def test_unlabelled_folders_keep_every_image_at_any_depth(tmp_path):
    """No class folders: every readable image, nested or not, with class -1; a non-image file
    is reported, not trained on. Class folders keep their labels."""
    flat = tmp_path / "photos"
    (flat / "2024" / "june").mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    for index in range(10):
        folder = flat if index < 4 else flat / "2024" / "june"
        Image.fromarray(pixels).save(folder / f"{index}.png")
    (flat / "notes.txt").write_text("not an image")
    folder = scan_unlabelled(flat, val_split=0.2, seed=0)
    assert folder.classes == [] and folder.layout == "images without labels"
    assert (len(folder.splits["train"]), len(folder.splits["val"])) == (8, 2)
    assert {label for _, label in folder.splits["train"] + folder.splits["val"]} == {-1}
    assert [Path(path).name for path, _ in folder.skipped] == ["notes.txt"]
    assert "Found 10 images in" in folder.report()[0]

    digits = write_digits(tmp_path / "digits", limit=3)["path"]
    labelled = scan_unlabelled(digits, val_split=0.34)
    assert labelled.classes == [str(d) for d in range(10)]

    (tmp_path / "empty").mkdir()
    with pytest.raises(ZooError, match="no readable images"):
        scan_unlabelled(tmp_path / "empty", 0.1)
