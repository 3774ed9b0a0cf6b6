"""zoo-gan: a class-conditional GAN trained through ``zoo train`` on scikit-learn's digits
(16 px, about 25 s of CPU on 2 cores, shared by the session) must produce images that look like
digits; generate, export, resume and errors are checked on it and on tiny runs."""

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.data.digits import write_digits
from zoo_cli.main import cli

QUIET = {"log": lambda line: None}


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("gan") / "digits", size=16)["path"]


@pytest.fixture(scope="session")
def cgan_run(digits_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cgan"
    return zoo.train("cgan", data=digits_dir, out=str(out), image_size=16, epochs=15,
                     quality_samples=200, seed=0, **QUIET).run


@pytest.fixture(scope="session")
def digit_judge():
    from zoo_gan.quality import independent_digit_judge

    return independent_digit_judge()


def test_generated_images_look_like_digits_of_every_class(cgan_run, digit_judge, tmp_path):
    result = CliRunner().invoke(cli, ["generate", str(cgan_run.path), "--n", "200", "--out",
                                      str(tmp_path / "gen"), "--seed", "1"])
    assert result.exit_code == 0, result.output
    paths = sorted((tmp_path / "gen").glob("*.png"))
    assert len(paths) == 200
    probabilities = digit_judge(paths)
    predicted = probabilities.argmax(1)
    assert len(set(predicted)) >= 8  # no mode collapse
    # Each file is named after the class it was asked for; the independent judge agrees.
    asked = np.array([int(p.name.split("-")[0]) for p in paths])
    assert np.mean(predicted == asked) > 0.6
    metrics = cgan_run.read("metrics.json")
    assert metrics["near_real_fraction"] >= 0.5  # most sit as close to real as real to real
    assert metrics["classes_covered"] >= 8


def test_run_directory_tracks_samples_losses_and_quality(cgan_run):
    import csv

    files = {p.name for p in cgan_run.path.iterdir()}
    assert {"model.keras", "generator.keras", "discriminator.keras", "quality.keras",
            "curves.png", "history.csv", "labels.json", "config.json"} <= files
    assert len(list((cgan_run.path / "samples").glob("epoch-*.png"))) == 15
    config = cgan_run.config
    assert config["image_size"] == [16, 16] and config["channels"] == 1
    assert config["data"]["channels"] == 1 and config["data"]["images"] > 0
    rows = list(csv.DictReader(open(cgan_run.file("history.csv"))))
    frechet = [float(r["frechet"]) for r in rows]
    assert frechet[-1] < 0.5 * frechet[0]
    assert {"d_loss", "g_loss"} <= set(rows[0])


def test_networks_reload_with_zoo_load_model(cgan_run):
    from zoo_gan.models import GAN

    gan = zoo.load_model(cgan_run.model_path)
    generator = zoo.load_model(cgan_run.file("generator.keras"))
    discriminator = zoo.load_model(cgan_run.file("discriminator.keras"))
    assert isinstance(gan, GAN) and gan.num_classes == 10
    latent = np.random.default_rng(0).standard_normal((4, 64)).astype("float32")
    labels = np.arange(4, dtype="int32")
    np.testing.assert_allclose(gan.generator.predict([latent, labels], verbose=0),
                               generator.predict([latent, labels], verbose=0), atol=1e-4)
    assert discriminator.predict([generator.predict([latent, labels], verbose=0), labels],
                                 verbose=0).shape == (4, 1)
    code = ("import sys, zoo; m = zoo.load_model(sys.argv[1]); "
            "print(type(m).__name__, m.num_classes)")
    out = subprocess.run([sys.executable, "-c", code, str(cgan_run.model_path)],
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["GAN", "10"]  # a fresh process, Keras' safe_mode on


def test_label_and_seed(cgan_run, digit_judge, tmp_path):
    from zoo_gan.api import generate

    paths = generate(cgan_run.path, n=20, out=tmp_path / "sevens", label="7", seed=3)
    assert np.mean(digit_judge(paths).argmax(1) == 7) > 0.6
    again = generate(cgan_run.path, n=20, out=tmp_path / "again", label="7", seed=3)
    assert all(np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
               for a, b in zip(paths, again))
    with pytest.raises(zoo.ZooError, match="unknown class"):
        generate(cgan_run.path, n=1, label="eleven")


def test_generator_exports_run_and_agree(cgan_run, tmp_path):
    import json

    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    report = zoo.export(cgan_run.path, format="tflite")
    target = cgan_run.file("exports") / "generator-none.tflite"
    assert report["artifact"] == str(target) and target.is_file()
    assert report["passed"] and report["max_abs_diff"] < 1.0
    assert report["heldout_examples"] == 8 and report["image_shape"] == [16, 16, 1]
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in report["ops"])
    assert not report["custom_ops"]
    names = " ".join(i["name"] for i in report["inputs"])
    assert "latent" in names and "label" in names
    interpreter = Interpreter(model_path=str(target))
    names = " ".join(d["name"] for d in interpreter.get_input_details())
    assert "latent" in names and "label" in names
    (image,) = interpreter.get_output_details()
    assert list(image["shape"]) == [1, 16, 16, 1] and image["dtype"] == np.float32

    half = zoo.export(cgan_run.path, format="tflite", quantize="float16",
                      out=tmp_path / "g16.tflite")
    assert half["passed"] and half["quantize"] == "float16"
    assert half["size_bytes"] < report["size_bytes"]

    report = zoo.export(cgan_run.path, format="saved_model")
    folder = cgan_run.file("exports") / "generator_saved_model"
    assert report["passed"] and report["artifact"] == str(folder)
    assert {i["name"] for i in report["inputs"]} == {"latent", "label"}
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    images = serve(latent=tf.zeros((2, 64)), label=tf.constant([1, 2]))["images"].numpy()
    assert images.shape == (2, 16, 16, 1) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255
    reports = json.loads((cgan_run.file("exports") / "export-report.json").read_text())
    assert reports["generator-none.tflite"]["passed"]
    assert reports["generator_saved_model"]["passed"]

    with pytest.raises(zoo.ZooError, match="int8"):
        zoo.export(cgan_run.path, format="tflite", quantize="int8")


def test_an_export_that_differs_from_keras_is_kept_aside(cgan_run, monkeypatch):
    import json

    from zoo import exporting

    good = cgan_run.file("exports") / "generator-none.tflite"
    if not good.is_file():
        zoo.export(cgan_run.path, format="tflite")
    before = good.read_bytes()

    def brighter(spec, quantize, representative=None):  # a file 40 levels off the generator
        import dataclasses

        return convert(dataclasses.replace(spec, function=lambda *inputs: {
            "images": spec.function(*inputs)["images"] + 40.0}), quantize, representative)

    convert = exporting.tflite_bytes
    monkeypatch.setattr(exporting, "tflite_bytes", brighter)
    with pytest.raises(zoo.ZooError, match="differ from the Keras model") as error:
        zoo.export(cgan_run.path, format="tflite")
    assert "of 255 per pixel" in str(error.value)
    assert good.read_bytes() == before  # the good artifact is left alone
    rejected = good.with_name("generator-none.rejected.tflite")
    assert rejected.is_file() and rejected.read_bytes() != before
    reports = json.loads((good.parent / "export-report.json").read_text())
    assert reports[rejected.name]["passed"] is False
    assert reports[rejected.name]["max_abs_diff"] > 1.0
    assert reports[good.name]["passed"] is True


def test_wgan_gp_trains_and_resumes_with_both_optimizers(tmp_path):
    import csv
    import json

    from zoo_gan.api import generate

    digits = write_digits(tmp_path / "few", size=16, limit=12)["path"]
    options = dict(data=digits, out=str(tmp_path / "wgan"), image_size=16, epochs=2,
                   quality_samples=50, judge_epochs=1, **QUIET)
    run = zoo.train("wgan_gp", **options).run
    # Make the run look killed after epoch 1: the shared loop then reloads the last checkpoint,
    # weights and both optimizers' state, and runs epoch 2 again.
    state_path = run.checkpoint_dir / "state.json"
    state = json.loads(state_path.read_text())
    state.update(stage=0, epoch=1, global_epoch=1)
    state_path.write_text(json.dumps(state))
    zoo.train("wgan_gp", resume=True, **options)
    rows = list(csv.DictReader(open(run.file("history.csv"))))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(np.isfinite(float(r["d_loss"])) for r in rows)
    with pytest.raises(zoo.ZooError, match="unconditional"):
        generate(run.path, n=1, label="3")
    assert len(generate(run.path, n=3, out=tmp_path / "g")) == 3
    assert len(generate(run.path, n=3, out=tmp_path / "g")) == 3  # its own images: overwritten
    # the run's samples/ holds the per-epoch grids: generated images never mix with them
    grids = sorted(p.name for p in run.file("samples").iterdir())
    with pytest.raises(zoo.ZooError, match="already holds other files .epoch-001.png"):
        generate(run.path, n=2, out=run.file("samples"))
    assert sorted(p.name for p in run.file("samples").iterdir()) == grids
    # An unconditional generator exports with the latent vector as its only input.
    report = zoo.export(run.path, format="tflite", quantize="dynamic")
    assert report["passed"] and report["artifact"].endswith("generator-dynamic.tflite")
    assert len(report["inputs"]) == 1 and "latent" in report["inputs"][0]["name"]
    # Evaluated again from the run alone: the task rebuilds its data from config.json.
    figures = zoo.evaluate(run.path, **QUIET)
    assert figures["samples"] == 50 and figures["frechet"] >= 0
    assert 0 <= figures["near_real_fraction"] <= 1


def test_cli_prints_the_quality_headline_and_patience_stops_on_frechet(tmp_path):
    """The end of ``zoo train`` and ``zoo evaluate RUN`` print the same line of the figures a GAN
    is judged on (GANTask.HEADLINE), saying what was compared; ``--patience 2`` stops after two
    epochs without a lower Frechet distance, as its help says. At learning rate 0 the generator
    never changes: epochs differ only by the images they sample, so the distance stalls."""
    import csv
    import json
    import re

    from zoo_gan.tasks import GANTask

    digits = write_digits(tmp_path / "few", size=16, limit=6)["path"]
    out = tmp_path / "dcgan"
    trained = CliRunner().invoke(cli, [
        "train", "dcgan", "--data", str(digits), "--image-size", "16", "--width", "8",
        "--epochs", "8", "--patience", "2", "--lr", "0", "--quality-samples", "50",
        "--judge-epochs", "1", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    lines = [line for line in trained.output.splitlines() if line.startswith("Held-out")]
    assert len(lines) == 1, trained.output
    line = re.fullmatch(r"Held-out \(50 generated images vs the training images\): (.+)", lines[0])
    assert line, lines[0]
    figures = dict(pair.split(" ") for pair in line.group(1).split(", "))
    assert list(figures) == list(GANTask.HEADLINE), lines[0]
    assert all(re.fullmatch(r"\d+\.\d{4}", figures[name])
               for name in ("frechet", "near_real_fraction", "mean_confidence")), lines[0]
    assert 0 <= float(figures["near_real_fraction"]) <= 1
    assert 0 < float(figures["mean_confidence"]) <= 1
    assert figures["classes_covered"].isdigit() and int(figures["classes_covered"]) <= 10

    evaluated = CliRunner().invoke(cli, ["evaluate", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    assert [line for line in evaluated.output.splitlines() if line.startswith("Held-out")] == \
        lines  # the same samples (a fixed seed), the same judge: the same figures

    summary = json.loads((out / "metrics.json").read_text())["training"]
    assert summary["monitor"] == GANTask.MONITOR.metric == "frechet" and summary["stopped_early"]
    frechet = [float(row["frechet"]) for row in csv.DictReader(open(out / "history.csv"))]
    assert len(frechet) == summary["epochs"] == summary["best_epoch"] + 2 < 8
    assert min(frechet) == frechet[summary["best_epoch"] - 1]  # the last two were not lower


def test_dcgan_train_step_updates_both_networks():
    from zoo_gan.models import build

    gan = build("dcgan", image_size=16, width=8)
    gan.compile()
    before = [w.numpy().copy() for w in (gan.generator.weights[0], gan.discriminator.weights[0])]
    images = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 1)).astype("float32")
    logs = gan.fit(images, np.zeros(32), batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
    after = [gan.generator.weights[0].numpy(), gan.discriminator.weights[0].numpy()]
    assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_bad_inputs_are_one_line_errors(tmp_path):
    result = CliRunner().invoke(cli, ["train", "dcgan", "--data", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "Error:" in result.output
    result = CliRunner().invoke(cli, ["generate", str(tmp_path), "--n", "2"])
    assert result.exit_code == 1 and "not a run directory" in result.output
    from zoo_gan.models import build

    with pytest.raises(zoo.ZooError, match="power of two"):
        build("dcgan", image_size=20)


def test_hook_module_is_light():
    code = ("import sys, zoo_gan.plugin, zoo; zoo.list('model'); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_quality_benchmark_measures_each_model_rendering_and_seed(tmp_path):
    """benchmarks/digits_quality.py (tiny options here): one row per model, rendering and seed,
    medians per model and rendering, the dcgan relative to the cgan; finished runs are read
    back, not trained again."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "digits_quality.py"
    main = runpy.run_path(str(script))["main"]
    argv = ["--seeds", "1", "--renderings", "nearest", "--image-size", "16", "--work",
            str(tmp_path)] + [arg for option in ("epochs=1", "width=8", "quality_samples=50",
                                                 "judge_epochs=1") for arg in ("--option", option)]
    summary = main(argv)
    rows = summary["runs"]
    assert [(r["model"], r["rendering"], r["seed"]) for r in rows] == [
        ("cgan", "nearest", 1), ("dcgan", "nearest", 1)]
    for row in rows:
        assert row["frechet"] > 0 and 0 <= row["near_real_fraction"] <= 1
        assert 1 <= row["classes_covered"] <= 10 and 1 <= row["independent_classes"] <= 10
        assert row["epochs"] == row["best_epoch"] == 1
    assert "independent_agreement" in rows[0] and "independent_agreement" not in rows[1]
    cgan, dcgan = summary["medians"]
    assert (cgan["model"], dcgan["model"]) == ("cgan", "dcgan") and "frechet_vs_cgan" not in cgan
    assert dcgan["frechet_vs_cgan"] == pytest.approx(rows[1]["frechet"] / rows[0]["frechet"])
    model = tmp_path / "runs" / "epochs=1-width=8-quality_samples=50-judge_epochs=1" / \
        "nearest-dcgan-1-16px" / "model.keras"
    written = model.stat().st_mtime_ns
    assert main(argv)["runs"] == rows and model.stat().st_mtime_ns == written
