"""Multi-label and regression image tasks from a CSV (``zoo finetune --head multilabel|regression``)
on real digits at 32 px with a small backbone (zoo-cnn's plain_cnn): the CSV reader, the figures
and export checks against scikit-learn and by hand, and the CLI end to end: train, evaluate,
predict, report, and exports verified (TFLite read by MediaPipe's ImageClassifier, int8, and
SavedModel)."""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.data.digits import write_digits
from zoo.data.image_tables import read_image_table
from zoo.metrics import multilabel_metrics, regression_metrics
from zoo.tasks import LabelAgreement, ScaledCloseness

BACKBONE = "plain_cnn"
LABELS = ["even", "loop", "small"]


def tags(digit: int) -> list[str]:
    """The labels of a digit: even, small (< 5), loop (0, 6, 8, 9); a 7 has none."""
    return [name for name, applies in (("even", digit % 2 == 0), ("loop", digit in (0, 6, 8, 9)),
                                       ("small", digit < 5)) if applies]


def _write_csv(path: Path, header: list[str], rows: list) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _cli(*args):
    from zoo_cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """20 digits per class, and two CSVs of them: ``tags.csv`` (image, tags "even;small", a
    split column sending every tenth row to test, plus a missing and a corrupt file) and
    ``values.csv`` (image, the digit and its ink: the mean grey level)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("tables")
    write_digits(root / "digits", limit=20, seed=0)
    pngs = sorted((root / "digits").rglob("*.png"))
    (root / "digits" / "corrupt.png").write_bytes(os.urandom(300))
    rows, values = [], []
    for i, png in enumerate(pngs):
        digit = int(png.parent.name)
        # relative to the CSV's folder, one absolute path
        name = str(png) if i == 0 else str(png.relative_to(root))
        rows.append([name, ";".join(tags(digit)), "test" if i % 10 == 9 else ""])
        ink = float(np.asarray(Image.open(png).convert("L"), np.float32).mean() / 255)
        values.append([name, digit, round(ink, 4)])
    rows += [["digits/missing.png", "even", ""], ["digits/corrupt.png", "small", ""]]
    _write_csv(root / "tags.csv", ["image", "tags", "split"], rows)
    _write_csv(root / "values.csv", ["image", "digit", "ink"], values)
    return root


# -- the CSV reader ----------------------------------------------------------------------------

def test_tags_csv_is_read_with_its_splits_and_unreadable_files_reported(tables):
    table = read_image_table(tables / "tags.csv", "multilabel", val_split=0.2, seed=0)
    assert table.classes == LABELS and table.columns == ["tags"]
    assert len(table.splits["test"]) == 20 and len(table.splits["val"]) == 36
    assert len(table.splits["train"]) == 144
    assert {Path(p).name for p, _ in table.skipped} == {"missing.png", "corrupt.png"}
    lines = table.report()
    assert lines[0].startswith("Found 200 images with 3 labels in") and "144 train" in lines[0]
    assert any("Skipped 2 file(s)" in line for line in lines)
    digit = {p: int(Path(p).parent.name) for split in table.splits.values() for p, _ in split}
    for path, target in table.splits["train"]:
        assert [name for name, on in zip(LABELS, target) if on] == tags(digit[path])
    # the same seed holds out the same rows
    again = read_image_table(tables / "tags.csv", "multilabel", val_split=0.2, seed=0)
    assert again.splits["val"] == table.splits["val"]


def test_indicator_columns_and_bar_separated_labels(tmp_path, tables):
    image = str(sorted((tables / "digits").rglob("*.png"))[0])
    rows = [[image, 1, 0], [image, 0, 0], [image, 1, 1], [image, 0, 1]]
    table = read_image_table(_write_csv(tmp_path / "ind.csv", ["path", "cat", "dog"], rows),
                             "multilabel", val_split=0.5)
    assert table.classes == ["cat", "dog"] and table.image_column == "path"
    assert sorted(t for _, t in table.splits["train"] + table.splits["val"]) == \
        sorted([[1, 0], [0, 0], [1, 1], [0, 1]])
    bars = read_image_table(_write_csv(tmp_path / "bars.csv", ["file", "labels"],
                                       [[image, "b|a"], [image, ""], [image, "a"]]),
                            "multilabel", val_split=0.0)
    assert bars.classes == ["a", "b"]
    assert [t for _, t in bars.splits["train"]] == [[1, 1], [0, 0], [1, 0]]


@pytest.mark.parametrize("header, rows, kind, options, message", [
    (["image", "digit"], [["x.png", "seven"]], "regression", {}, "line 2: column 'digit' holds "
                                                                 "'seven', not a number"),
    (["image", "digit"], [["x.png", "1"]], "regression", {"target_columns": ["age"]},
     "has no column 'age'"),
    (["image", "cat", "dog"], [["x.png", "1", "2"]], "multilabel", {}, "cannot tell which"),
    (["image", "cat", "dog"], [["x.png", "1", "2"]], "multilabel",
     {"target_columns": ["cat", "dog"]}, "holds '2', not 0 or 1"),
    (["image", "tags", "split"], [["x.png", "a", "later"]], "multilabel", {},
     "split 'later' is not train, val or test"),
    (["image", "digit"], [["nowhere/1.png", "1"], ["nowhere/2.png", "2"]], "regression", {},
     "no readable images"),
])
def test_bad_tables_are_one_line(tmp_path, header, rows, kind, options, message):
    path = _write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(zoo.ZooError, match=message):
        read_image_table(path, kind, **options)


# -- figures and export checks -----------------------------------------------------------------

def test_multilabel_figures_are_scikit_learns():
    from sklearn.metrics import average_precision_score, f1_score

    rng = np.random.default_rng(0)
    truth = rng.random((50, 4)) < [0.5, 0.3, 0.1, 0.0]  # the last label has no positive
    scores = np.clip(truth * 0.4 + rng.random((50, 4)) * 0.7, 0, 1)
    got = multilabel_metrics(truth, scores, list("abcd"), threshold=0.5)
    predicted = scores >= 0.5
    assert got["micro_f1"] == pytest.approx(f1_score(truth, predicted, average="micro"), abs=1e-4)
    # macro F1 and mAP average the labels with a positive image
    assert got["macro_f1"] == pytest.approx(
        f1_score(truth[:, :3], predicted[:, :3], average="macro"), abs=1e-3)
    assert got["map"] == pytest.approx(np.mean([average_precision_score(truth[:, i], scores[:, i])
                                                for i in range(3)]), abs=1e-3)
    assert got["map_chance"] == pytest.approx(truth[:, :3].mean(), abs=1e-3)
    assert got["per_class"]["d"]["ap"] is None and got["per_class"]["d"]["support"] == 0
    assert got["exact_match"] == pytest.approx((predicted == truth).all(axis=1).mean())


def test_regression_figures_and_baseline():
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    truth = rng.normal([10, 0], [3, 0.1], (40, 2))
    predicted = truth + rng.normal(0, [1, 0.05], (40, 2))
    got = regression_metrics(truth, predicted, ["big", "small"], baseline=[10, 0])
    assert got["per_target"]["big"]["r2"] == pytest.approx(r2_score(truth[:, 0], predicted[:, 0]),
                                                           abs=1e-4)
    assert got["mae"] == pytest.approx(np.abs(predicted - truth).mean(axis=0).mean(), abs=1e-4)
    assert got["mae"] < got["baseline_mae"] and 0 < got["r2"] < 1


def test_label_agreement_fails_floats_and_warns_quantized():
    rng = np.random.default_rng(0)
    truth = rng.random((100, 3)) < 0.5
    keras_scores = np.where(truth, 0.9, 0.1)
    flipped = keras_scores.copy()
    flipped[:10, 0] = 1 - flipped[:10, 0]  # 10 of 300 decisions change
    check = LabelAgreement(threshold=0.5)
    assert check.compare(keras_scores, keras_scores + 0.01, "none", truth)["passed"]
    failed = check.compare(keras_scores, flipped, "none", truth)
    assert not failed["passed"] and "96.7% of 300 (example, label) pairs" in failed["failure"]
    quantized = check.compare(keras_scores, flipped, "int8", truth)
    assert quantized["passed"] and "micro F1" in quantized["warnings"][0]


def test_scaled_closeness_measures_each_target_in_its_own_scale():
    truth = np.array([[1000.0, 0.5], [2000.0, 0.7]])
    check = ScaledCloseness(scale=(500.0, 0.1))
    # 0.2 in the big target is 0.0004 of its scale: fine; 0.002 in the small one is 0.02
    assert check.compare(truth, truth + [0.2, 0.0], "none")["passed"]
    failed = check.compare(truth, truth + [0.0, 0.002], "none")
    assert not failed["passed"] and failed["max_scaled_diff"] == pytest.approx(0.02, rel=1e-3)
    worse = check.compare(truth, truth + [0.0, 0.05], "int8", truth + [0.0, 0.01])
    assert worse["passed"] and worse["warnings"] and worse["error_growth"] > 0.1


# -- end to end through the CLI ----------------------------------------------------------------

@pytest.fixture(scope="module")
def multilabel_run(tables, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tags"
    result = _cli("finetune", BACKBONE, "--data", tables / "tags.csv", "--head", "multilabel",
                  "--weights", "none", "--image-size", 32, "--epochs", 5, "--seed", 1,
                  "--lr", 0.003, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def regression_run(tables, multilabel_run, tmp_path_factory):
    """Transfer: the multi-label run's backbone, so stage 1 trains the head on cached features
    of it with float targets, then stage 2 fine-tunes."""
    out = tmp_path_factory.mktemp("runs") / "values"
    result = _cli("finetune", BACKBONE, "--data", tables / "values.csv", "--head", "regression",
                  "--weights", multilabel_run[0], "--image-size", 32, "--epochs", 3,
                  "--seed", 1, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_multilabel_run_learns_and_records_its_data(multilabel_run):
    out, output = multilabel_run
    assert "Found 200 images with 3 labels" in output and "Skipped 2 file(s)" in output
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "image_multilabel" and config["data"]["columns"] == ["tags"]
    assert json.loads((out / "labels.json").read_text()) == LABELS
    splits = json.loads((out / "splits.json").read_text())
    assert len(splits["test"]) == 20 and all(len(target) == 3 for _, target in splits["train"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == "test split" and metrics["count"] == 20
    assert metrics["headline"] == ["map", "micro_f1", "macro_f1", "exact_match"]
    assert metrics["map"] > metrics["map_chance"] + 0.25  # chance: about 0.5 here
    assert metrics["micro_f1"] > 0.75 and set(metrics["per_class"]) == set(LABELS)
    assert "Held-out (test split, 20 examples): map " in output
    report = (out / "report.html").read_text()
    assert "Worst examples" in report and "Per class" in report


def test_multilabel_evaluate_and_predict(multilabel_run, tables):
    out, _ = multilabel_run
    result = _cli("evaluate", out, "--data", tables / "tags.csv")
    assert result.exit_code == 0, result.output
    assert "Held-out (" in result.output and "20 examples): map " in result.output
    zero = sorted((tables / "digits" / "0").glob("*.png"))[:3]
    rows = json.loads(_cli("predict", out, *zero, "--json").stdout)
    assert [row["path"] for row in rows] == [str(p) for p in zero]
    for row in rows:
        assert set(row["scores"]) == set(LABELS) and all(0 <= s <= 1 for s in row["scores"].values())
        assert row["labels"] == sorted((n for n, s in row["scores"].items() if s >= 0.5),
                                       key=lambda n: -row["scores"][n])
    assert sum(set(row["labels"]) == {"even", "loop", "small"} for row in rows) >= 2
    line = _cli("predict", out, zero[0]).output.strip().splitlines()[-1]
    assert line.startswith(str(zero[0])) and ("even  0." in line or "(no label)" in line)


def test_multilabel_exports_verified_and_read_by_mediapipe(multilabel_run):
    pytest.importorskip("mediapipe")
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    out, _ = multilabel_run
    report = json.loads(_cli("export", out, "--json").stdout)
    assert report["passed"] and report["agreement"] >= 0.99 and report["threshold"] == 0.5
    client = report["standard_metadata"]
    assert client["loads"] and client["agreement_with_litert"] >= 0.99
    assert client["compared"] == "labels scoring 0.5 or more"
    rows = json.loads((out / "splits.json").read_text())["test"]
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=report["artifact"]), max_results=-1)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        results = [classifier.classify(mp.Image.create_from_file(path)).classifications[0]
                   .categories for path, _ in rows]
    # every label's score, named from the file's metadata; the labels at 0.5 match the truth
    assert all(sorted(c.category_name for c in found) == LABELS for found in results)
    right = [{c.category_name for c in found if c.score >= 0.5} ==
             {name for name, on in zip(LABELS, target) if on}
             for found, (_, target) in zip(results, rows)]
    assert np.mean(right) >= 0.7

    saved = json.loads(_cli("export", out, "--format", "saved_model", "--json").stdout)
    assert saved["passed"]
    import tensorflow as tf

    serve = tf.saved_model.load(saved["artifact"]).signatures["serving_uint8"]
    from PIL import Image

    pixels = np.stack([np.asarray(Image.open(path).convert("RGB")) for path, _ in rows[:4]])
    answer = serve(images=tf.constant(pixels))
    scores, labels = answer["scores"].numpy(), answer["labels"].numpy()
    assert [label.decode() for label in labels] == [
        ";".join(name for name, s in zip(LABELS, row) if s >= 0.5) for row in scores]


def test_regression_run_learns_from_cached_features_then_fine_tunes(regression_run):
    out, output = regression_run
    assert "Training the head on cached features of" in output and "Stage 2/2" in output
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "image_regression" and config["data"]["columns"] == ["digit", "ink"]
    scaler = json.loads((out / "preprocessor.json").read_text())["config"]
    assert 3 < scaler["mean"][0] < 6 and 2 < scaler["std"][0] < 4  # digits 0-9
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["headline"] == ["mae", "rmse", "r2"] and metrics["data"] == "val split"
    assert metrics["r2"] > 0.5 and metrics["mae"] < 0.6 * metrics["baseline_mae"]
    assert metrics["per_target"]["digit"]["mae"] < 0.6 * metrics["per_target"]["digit"][
        "baseline_mae"]
    assert "Held-out (val split, 40 examples): mae " in output
    assert "Worst examples" in (out / "report.html").read_text()


def test_regression_evaluate_and_predict_in_target_units(regression_run, tables):
    out, _ = regression_run
    metrics = json.loads(_cli("evaluate", out, "--data", tables / "values.csv", "--json").stdout)
    assert metrics["count"] == 200 and metrics["data"] == str(tables / "values.csv")
    small = sorted((tables / "digits" / "1").glob("*.png"))[:5]
    large = sorted((tables / "digits" / "8").glob("*.png"))[:5]
    rows = json.loads(_cli("predict", out, *small, *large, "--json").stdout)
    assert set(rows[0]) == {"path", "digit", "ink"}
    assert np.mean([r["digit"] for r in rows[:5]]) < np.mean([r["digit"] for r in rows[5:]])
    assert all(0 < r["ink"] < 1 for r in rows)


def test_regression_exports_float_and_int8(regression_run):
    out, _ = regression_run
    for quantize in ("none", "int8"):
        report = json.loads(_cli("export", out, "--quantize", quantize, "--json").stdout)
        assert report["passed"], report
        assert report["mae"] < 1.5 * report["keras_mae"]
    from zoo.exporting import read_metadata

    # int8: uint8 pixels in, uint8 values out with a scale and zero point (dequantized above)
    metadata = read_metadata(report["artifact"])
    assert metadata["format"] == "zoo-image-regressor/1"
    assert metadata["output"]["targets"] == ["digit", "ink"]
    assert metadata["input_tensor"]["dtype"] == metadata["output_tensor"]["dtype"] == "uint8"
    assert metadata["output_tensor"]["quantization"]["scale"] > 0


def test_wrong_head_or_data_is_refused_before_the_scan(tmp_path, tables):
    from zoo.tasks.image_classification import ImageClassificationTask

    task = ImageClassificationTask(backbone=BACKBONE, data=str(tmp_path / "nothing"),
                                   head="regression")
    with pytest.raises(zoo.ZooError, match="head 'regression' is for regression"):
        task.check()
    cases = [
        (["--data", tables / "digits", "--head", "regression"], "is a folder"),
        (["--data", tables / "tags.csv"], "--head multilabel or --head regression"),
        (["--data", tables / "values.csv", "--head", "regression", "--target-columns", "age"],
         "has no column 'age'"),
        (["--data", tables / "tags.csv", "--head", "multilabel", "--label-smoothing", "0.1"],
         "has no option --label-smoothing"),
    ]
    for args, message in cases:
        result = _cli("finetune", BACKBONE, *args, "--weights", "none", "--out",
                      tmp_path / "run")
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "run").exists()
