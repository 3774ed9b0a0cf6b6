"""Image fine-tuning end to end on real digits at 32 px with a small backbone (zoo-cnn's
plain_cnn): the CLI, the run directory, evaluate/predict in a fresh process, and the two-stage
transfer recipe (frozen stage leaves the backbone alone, the unfrozen stage changes it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from zoo import recipes
from zoo.data.digits import write_digits

BACKBONE = "plain_cnn"  # from the first-party zoo-cnn plugin: 6 convs with BatchNorm


def _zoo(*args, env=None, timeout=240):
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True,
                          text=True, env=environ, timeout=timeout)


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """30 digits per class at 32 px (train/ and test/), plus bad, odd and stray files."""
    from PIL import Image

    root = tmp_path_factory.mktemp("finetune") / "digits"
    write_digits(root, limit=30, test_split=0.2, seed=0)
    train = root / "train"
    first = lambda c: sorted((train / c).glob("*.png"))[0]  # noqa: E731
    gray = first("1")
    Image.open(gray).convert("L").save(gray.with_suffix(".bmp"))
    gray.unlink()
    rgba = first("2")
    Image.open(rgba).convert("RGBA").save(rgba.with_name("alpha.png"))
    rgba.unlink()
    upper = first("4")
    Image.open(upper).save(upper.with_suffix(".JPG"), format="JPEG")
    upper.unlink()
    (train / "3" / "corrupt.jpg").write_bytes(os.urandom(400))
    (train / "8" / "empty.png").write_bytes(b"")
    (root / "README.txt").write_text("stray")
    return root


@pytest.fixture(scope="session")
def trained(digits, tmp_path_factory):
    """One real `zoo finetune` (in-process CLI) from scratch: the run the other tests read."""
    from zoo_cli.main import cli

    out = tmp_path_factory.mktemp("runs") / "digits-run"
    result = CliRunner().invoke(cli, [
        "finetune", BACKBONE, "--data", str(digits), "--weights", "none", "--image-size", "32",
        "--epochs", "6", "--seed", "1", "--lr", "0.003", "--out", str(out)],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_finetune_reports_bad_files_and_trains(trained):
    out, output = trained
    assert "Skipped 2 file(s)" in output and "corrupt.jpg" in output and "empty.png" in output
    assert "Stage 1/1: train" in output and "Best val_data_loss" in output
    assert f"Run written to {out}" in output
    # off a terminal, one line per epoch through the run's log, none of Keras' own
    epochs = [line for line in output.splitlines() if line.startswith("  epoch ")]
    assert [line.split()[1] for line in epochs] == [f"{n}/6" for n in range(1, 7)], epochs
    assert all(" s): " in line and "val_accuracy" in line for line in epochs)
    assert "Epoch 1/6" not in output and "/step" not in output


def test_the_recipe_reads_the_data_and_an_explicit_option_wins(trained):
    """The defaults the run did not get from the command line are resolved from its data
    (zoo.recipes), logged in one line and kept in config.json; --epochs and --lr were given."""
    import zoo

    out, output = trained
    config = json.loads((out / "config.json").read_text())
    resolved = config["recipe"]["resolved"]
    train = len(json.loads((out / "splits.json").read_text())["train"])
    assert config["recipe"]["basis"].startswith(f"{train} training images in 10 classes")
    assert {"batch_size", "patience", "min_steps"} <= set(resolved)
    assert not {"epochs", "lr"} & set(resolved)  # given explicitly: they win
    assert not {"head_epochs", "fine_tune_lr"} & set(resolved)  # from scratch: one stage
    options = config["options"]
    assert (options["epochs"], options["lr"]) == (6, 0.003)
    assert all(options[name] == value for name, value in resolved.items())
    assert resolved["batch_size"] in (8, 16, 32) and train // resolved["batch_size"] >= 10
    (line,) = [line for line in output.splitlines() if line.startswith("Recipe for ")]
    assert f"batch-size {resolved['batch_size']}" in line and "epochs" not in line.replace(
        "an epoch passes", "")
    # a short from-scratch run trains without augmentation (docs/benchmarks.md)
    assert resolved["no_augment"] is True
    assert not [layer for layer in zoo.load_model(out / "model.keras").layers
                if layer.name == "augment"]
    # at least two validation images per class
    val = json.loads((out / "splits.json").read_text())["val"]
    assert min(np.bincount([label for _, label in val], minlength=10)) >= 2


def test_run_directory_is_complete_and_reloads(trained, digits):
    out, _ = trained
    for name in ("model.keras", "labels.json", "config.json", "splits.json", "history.csv",
                 "metrics.json", "curves.png", "confusion.png", "checkpoints/state.json",
                 "checkpoints/best.weights.h5"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "image_classification" and config["backbone"] == BACKBONE
    assert config["image_size"] == [32, 32] and config["preprocess"] == "scale_0_1"
    assert config["options"]["weights"] == "none" and config["options"]["seed"] == 1
    assert config["data"]["classes"] == [str(i) for i in range(10)]
    assert config["data"]["skipped"] == 2
    assert {"zoo", "keras", "tensorflow", "plugins"} <= set(config["versions"])
    assert "zoo-transfer" in config["versions"]["plugins"]
    splits = json.loads((out / "splits.json").read_text())
    assert len(splits["test"]) == 60 and splits["val"] and splits["train"]
    names = {Path(p).name for p, _ in splits["train"] + splits["val"]}
    assert "alpha.png" in names and "corrupt.jpg" not in names
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.5  # chance is 0.1
    assert set(metrics["per_class"]["3"]) == {"precision", "recall", "support"}
    assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["count"] == 60


def test_evaluate_and_predict_in_a_fresh_process(trained, digits):
    out, _ = trained
    evaluated = _zoo("evaluate", out, "--data", digits / "test", "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    metrics = json.loads(evaluated.stdout)
    assert metrics["accuracy"] >= 0.5 and metrics["count"] == 60

    images = [sorted((digits / "test" / str(c)).glob("*.png"))[0] for c in range(10)]
    predicted = _zoo("predict", out, *images, "--top-k", "2")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    lines = predicted.stdout.strip().splitlines()
    assert len(lines) == 10
    path, first, p1, second, p2 = lines[0].split()
    assert path == str(images[0]) and 0 <= float(p2) <= float(p1) <= 1
    right = sum(line.split()[1] == str(c) for c, line in zip(range(10), lines))
    assert right >= 6


def test_python_api_matches(trained, digits):
    import zoo

    out, _ = trained
    run = zoo.open_run(out)
    assert run.path == out and run.labels == [str(i) for i in range(10)]
    assert run.evaluate()["accuracy"] == pytest.approx(run.metrics["accuracy"], abs=1e-4)
    rows = run.predict([digits / "test" / "7"], top_k=3)
    assert len(rows) == 6 and len(rows[0]["top"]) == 3
    assert sum(r["class"] == "7" for r in rows) >= 3


def test_every_tflite_export_loads_in_mediapipe_with_its_labels(trained, mediapipe_check):
    """A plugin's backbone (zoo-cnn's plain_cnn) exported at each quantization: the stock
    MediaPipe Tasks ImageClassifier classifies the held-out image files with the run's labels."""
    import zoo
    from zoo.exporting import QUANTIZATIONS
    from zoo.runs import Run

    out, _ = trained
    run = Run.open(out)
    for quantize in QUANTIZATIONS:
        report = zoo.export(out, format="tflite", quantize=quantize)
        assert report["passed"], report
        mediapipe_check(run, report)


def test_frozen_stage_keeps_the_backbone_and_fine_tuning_changes_it(digits, tmp_path):
    import keras

    import zoo
    import zoo.loop as loop
    from zoo.runs import Run
    from zoo.tasks.image_classification import ImageClassificationTask, backbone

    # "Pretrained" weights: a randomly initialised backbone saved to a file.
    pretrained = tmp_path / "pretrained.weights.h5"
    zoo.create_backbone(BACKBONE, "none", 32).get_layer("backbone").save_weights(pretrained)
    task = ImageClassificationTask(backbone=BACKBONE, data=str(digits), weights=str(pretrained),
                                   image_size=32, epochs=1, fine_tune_epochs=1, lr=0.01,
                                   unfreeze="all", no_augment=True)
    task.log = lambda line: None
    loop.setup(seed=0)
    data = task.load_data()
    # stage 2's learning rate follows the given --lr: a small set fine-tunes at the full rate
    assert len(data.splits["train"]) < recipes.SMALL_SET and data.recipe["fine_tune_lr"] == 0.01
    model = task.build_model(data)
    head_stage, tune_stage = task.stages(model, data)
    net = backbone(model)
    moving = [w for w in net.weights if "moving" in w.path]
    assert moving, "plain_cnn has BatchNorm"

    def snapshot(variables):
        return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]

    start, head_start = snapshot(net.weights), snapshot(model.get_layer("head").weights)
    loop.fit(model, data, Run.create(tmp_path / "r1", "x").make(), [head_stage],
             monitor=task.MONITOR, log=lambda line: None)
    after_head = snapshot(net.weights)
    for before, after in zip(start, after_head):
        np.testing.assert_array_equal(before, after)  # weights and BatchNorm statistics
    assert any(not np.array_equal(a, b) for a, b in
               zip(head_start, snapshot(model.get_layer("head").weights)))

    loop.fit(model, data, Run.create(tmp_path / "r2", "x").make(), [tune_stage],
             monitor=task.MONITOR, log=lambda line: None)
    kernels = [i for i, w in enumerate(net.weights) if w.path.endswith("kernel")]
    assert all(not np.array_equal(after_head[i], keras.ops.convert_to_numpy(net.weights[i]))
               for i in kernels)
    # BatchNorm stays in inference mode when fine-tuning a pretrained backbone.
    for before, variable in zip(snapshot(moving), moving):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(variable))


def test_unfreeze_top_n_layers():
    import keras

    from zoo.tasks.image_classification import set_trainable_top

    model = keras.Sequential([keras.Input((4,))] + [keras.layers.Dense(4) for _ in range(5)])
    assert set_trainable_top(model, "2") == 2
    assert [layer.trainable for layer in model.layers] == [False] * 3 + [True] * 2
    assert set_trainable_top(model, "none") == 0 and not model.trainable_weights
    assert set_trainable_top(model, "all") == 5 and len(model.trainable_weights) == 10


def test_offline_imagenet_weights_fail_in_one_line(digits, tmp_path):
    result = _zoo("finetune", "mobilenet_v2", "--data", digits, "--out", tmp_path / "r",
                  env={"ZOO_HOME": str(tmp_path / "home"), "KERAS_HOME": str(tmp_path / "k"),
                       # a closed local port: no download can happen, with or without network
                       "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "--weights" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_option_gets_did_you_mean(digits):
    import zoo

    with pytest.raises(zoo.ZooError, match="did you mean --fine-tune-lr"):
        zoo.finetune(BACKBONE, digits, fine_tune_rl=0.1)


def test_weights_run_starts_from_that_runs_backbone(trained, digits, zoo_caches, tmp_path,
                                                    capsys):
    """--weights RUN: the backbone an earlier finetune run trained, tensor by tensor, its head
    dropped; the frozen stage alone then classifies well above chance (0.1)."""
    import zoo
    from zoo.backbones_build import nested_layers

    out, _ = trained
    (trained_backbone,) = [layer for layer in nested_layers(zoo.load_model(out / "model.keras"))
                           if layer.name == "backbone"]
    restored = zoo.create_backbone(BACKBONE, weights=str(out), input_shape=32)
    pairs = list(zip(trained_backbone.weights, restored.get_layer("backbone").weights))
    assert len(pairs) == len(trained_backbone.weights) > 20
    for saved, loaded in pairs:
        assert saved.path == loaded.path
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())

    capsys.readouterr()
    run = zoo.finetune(BACKBONE, digits, weights=str(out), image_size=32, epochs=3,
                       fine_tune_epochs=1, lr=0.01, out=str(tmp_path / "from-run"),
                       log=lambda line: None)
    assert capsys.readouterr().out == ""  # a silent log silences training, Keras' lines too
    assert run.config["options"]["weights"] == str(out)
    assert run.metrics["accuracy"] >= 0.3, run.metrics["accuracy"]

    result = _zoo("finetune", "resnet20", "--data", digits, "--weights", out,
                  "--out", tmp_path / "other", env={"ZOO_HOME": str(zoo_caches["ZOO_HOME"])})
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr
    assert f"trained backbone '{BACKBONE}', not 'resnet20'" in errors[0]

    text_run = tmp_path / "text-run"
    text_run.mkdir()
    (text_run / "config.json").write_text(json.dumps({"task": "text", "model": "gru_classifier"}))
    with pytest.raises(zoo.ZooError, match="with no backbone; --weights RUN takes a run of"):
        zoo.create_backbone(BACKBONE, weights=str(text_run), input_shape=32)


@pytest.mark.parametrize("feature_cache, killed_at", [("auto", 3), ("off", 1)])
def test_cached_and_streaming_stage_1_give_the_same_kind_of_run(trained, digits, tmp_path,
                                                                sigkill_after_checkpoint,
                                                                feature_cache, killed_at):
    """Stage 1 on cached features (the default) and streamed images (--feature-cache off):
    killed inside stage 1 and resumed with --resume alone, each continues with its stored
    options, writes the same files with no gap or repeat in its history, and exports verified."""
    import zoo

    base, _ = trained
    out = tmp_path / "run"
    command = [sys.executable, "-m", "zoo", "finetune", BACKBONE, "--data", str(digits),
               "--weights", str(base), "--image-size", "32", "--head-epochs", "5",
               "--epochs", "3", "--fine-tune-epochs", "2", "--patience", "0",
               "--fine-tune-lr", "0.002", "--feature-cache", feature_cache, "--out", str(out)]
    assert sigkill_after_checkpoint(command, out, epoch=killed_at) >= killed_at
    config = json.loads((out / "config.json").read_text())
    # a given stage-2 learning rate wins over the recipe's
    assert config["options"]["fine_tune_lr"] == 0.002
    assert "fine_tune_lr" not in config["recipe"]["resolved"]
    resumed = _zoo("finetune", BACKBONE, "--data", digits, "--resume", "--out", out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "config.json").read_text()) == config
    streaming = "Stage 1 streams the images through the frozen backbone every epoch " \
                "(--feature-cache off)"
    assert (streaming in resumed.stdout) == (feature_cache == "off")
    rows = [line.split(",")[:2] for line in (out / "history.csv").read_text().splitlines()[1:]]
    head = 5 if feature_cache == "auto" else 3
    assert [int(epoch) for epoch, _ in rows] == list(range(1, head + 3))
    assert [stage for _, stage in rows] == ["head"] * head + ["fine-tune"] * 2
    for name in ("model.keras", "metrics.json", "curves.png", "report.html", "splits.json",
                 "checkpoints/best.weights.h5"):
        assert (out / name).is_file(), name
    assert not list((out / "checkpoints").glob("*.substitute.weights.h5"))
    assert json.loads((out / "metrics.json").read_text())["accuracy"] >= 0.5  # chance 0.1
    assert zoo.export(out, format="tflite", log=lambda line: None)["passed"]


def test_frozen_stage_matches_a_logistic_regression_on_the_same_features(trained, digits,
                                                                          tmp_path):
    """With its defaults, the head trained on a real backbone's cached features (10 labelled
    images per class) classifies held-out digits as well as scikit-learn's logistic regression
    fitted on the same images' pooled features, within two test images."""
    import shutil

    from sklearn.linear_model import LogisticRegression

    import zoo
    from zoo.data import load_images
    from zoo.tasks.image_classification import feature_extractor

    base, _ = trained
    few = tmp_path / "few"
    for folder in sorted((digits / "train").iterdir()):
        (few / folder.name).mkdir(parents=True)
        for image in sorted(p for p in folder.iterdir() if p.suffix == ".png")[:10]:
            shutil.copy(image, few / folder.name / image.name)
    run = zoo.finetune(BACKBONE, few, weights=str(base), image_size=32, fine_tune_epochs=0,
                       out=str(tmp_path / "frozen"), log=lambda line: None)
    test = sorted((path, int(label.name)) for label in (digits / "test").iterdir()
                  for path in label.glob("*.png"))
    frozen = run.evaluate(digits / "test")["accuracy"]
    # A pretrained small set resolves stage 2's own epochs, patience and learning rate.
    resolved = run.config["recipe"]["resolved"]
    assert (resolved["epochs"], resolved["patience"]) == (recipes.FINE_TUNE_EPOCHS[True],
                                                          recipes.FINE_TUNE_PATIENCE[True])
    assert resolved["fine_tune_lr"] == resolved["lr"]  # a small set: stage 1's rate
    assert resolved["head_epochs"] == recipes.HEAD_EPOCHS

    extractor = feature_extractor(run.load_model())

    def pooled(paths):
        features = np.asarray(extractor(load_images(paths, (32, 32)), training=False))
        return features.mean(axis=(1, 2)) if features.ndim == 4 else features

    train = run.run.splits["train"]
    probe = LogisticRegression(max_iter=5000).fit(pooled([p for p, _ in train]),
                                                  [label for _, label in train])
    referee = probe.score(pooled([p for p, _ in test]), [label for _, label in test])
    assert frozen >= referee - 2 / len(test), (frozen, referee)
