"""``zoo train`` of zoo-rnn's models on real data: the LSTM classifier against a TF-IDF baseline
on the fortunes set, raw-text predict/evaluate, a fresh-process reload, verified exports; the
forecaster on a periodic series."""

import csv
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.runs import Run
from zoo_cli.main import cli
from zoo_rnn import datasets

STARTREK = "Captain, the Klingons are firing on the Enterprise and Spock says it is illogical"


@pytest.fixture(scope="module")
def fortunes_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "fortunes.csv"
    summary = datasets.write_fortunes_csv(path)
    assert len(summary["counts"]) == 5 and 800 <= summary["rows"] <= 1000
    return path


@pytest.fixture(scope="module")
def text_training(fortunes_csv, tmp_path_factory):
    """(the run, what ``zoo train`` printed): lstm_classifier trained through the CLI."""
    out = tmp_path_factory.mktemp("runs") / "lstm"
    done = CliRunner().invoke(cli, ["train", "lstm_classifier", "--data", str(fortunes_csv),
                                    "--seed", "1", "--epochs", "14", "--out", str(out)])
    assert done.exit_code == 0, done.output
    return zoo.open_run(out, log=lambda line: None), done.output


@pytest.fixture(scope="module")
def text_run(text_training):
    return text_training[0]


def heldout_block(output: str) -> list[str]:
    """The headline line ``Held-out (...): ...`` of a ``zoo train`` or ``zoo evaluate`` output,
    with the per-class table under it (up to the confusion matrix's path)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Held-out"))
    end = next(i for i, line in enumerate(lines) if line.startswith("Confusion matrix:"))
    return lines[start:end]


@pytest.fixture(scope="module")
def text_tflite(text_run):
    """The run's float32 TFLite export (RUN/exports/model-none.tflite), made once."""
    return zoo.export(text_run.path, format="tflite")


def test_lstm_classifier_reaches_the_tfidf_baseline(text_run):
    metrics = text_run.metrics
    baseline = metrics["baseline"]
    assert baseline["model"] == "tfidf_logistic_regression" and baseline["accuracy"] > 0.6
    assert metrics["accuracy"] >= 0.9 * baseline["accuracy"], metrics
    run = Run.open(text_run.path)
    vocabulary = run.file("vocabulary.txt").read_text().splitlines()
    assert vocabulary[:2] == ["", "[UNK]"]
    assert sorted(run.labels) == sorted(datasets.FORTUNE_CATEGORIES)
    assert len(run.read("splits.json")["test"]) > 100


def test_the_recipe_is_read_from_the_training_texts_and_an_option_wins(text_training):
    """Every word of the training split is in the vocabulary, 95% of the training texts fit
    whole, and the recipe is logged in one line and kept in config.json; --epochs, given,
    is not resolved."""
    from zoo_rnn import recipe

    trained, printed = text_training
    run = Run.open(trained.path)
    config = run.config
    resolved, options = config["recipe"]["resolved"], config["options"]
    assert set(resolved) == {"max_tokens", "sequence_length", "embedding_dim", "dropout",
                             "patience"} and options["epochs"] == 14
    assert all(options[name] == value for name, value in resolved.items())
    train = [text for text, _ in run.read("splits.json")["train"]]
    words = {word for text in train for word in recipe.words(text)}
    vocabulary = run.file("vocabulary.txt").read_text().splitlines()
    assert len(vocabulary) == resolved["max_tokens"] == len(words) + 2
    lengths = sorted(len(recipe.words(text)) for text in train)
    assert lengths[int(0.95 * len(lengths)) - 1] <= resolved["sequence_length"] < lengths[-1]
    assert config["recipe"]["basis"].startswith(f"{len(train):,} training texts")
    (line,) = [line for line in printed.splitlines() if line.startswith("Recipe for ")]
    assert f"max-tokens {resolved['max_tokens']}," in line and "epochs" not in line
    assert line.endswith("(an option you pass wins)")


def test_the_text_recipe_follows_the_data():
    """More texts: no more epochs, as many optimizer steps within the bounds, wider embeddings
    past the small-set line; longer texts: a longer sequence, within its bounds."""
    from zoo_rnn import recipe

    def defaults(texts, words, distinct=5000, batch=32):
        stats = {"texts": texts, "median_words": words, "long_words": 2 * words,
                 "distinct_words": distinct}
        return recipe.text_defaults(stats, batch)

    small, large = defaults(600, 15), defaults(20000, 15)
    assert small["epochs"] >= large["epochs"] and small["patience"] >= recipe.MIN_PATIENCE
    assert recipe.EPOCH_RANGE[0] <= large["epochs"] <= small["epochs"] <= recipe.EPOCH_RANGE[1]
    assert small["embedding_dim"] < large["embedding_dim"]
    assert small["dropout"] >= large["dropout"]
    assert defaults(600, 15)["sequence_length"] < defaults(600, 60)["sequence_length"]
    assert defaults(600, 1)["sequence_length"] == recipe.LENGTH_RANGE[0]
    assert defaults(600, 5000)["sequence_length"] == recipe.LENGTH_RANGE[1]
    assert defaults(600, 15, distinct=10**6)["max_tokens"] == recipe.MAX_TOKENS
    assert defaults(600, 15, distinct=999)["max_tokens"] == 1001  # + padding and unknown
    assert recipe.words("Don't PANIC -- it's fine.") == ["dont", "panic", "its", "fine"]


def test_cli_predicts_and_evaluates_raw_text(text_training, fortunes_csv, tmp_path):
    text_run, trained = text_training
    runner = CliRunner()
    done = runner.invoke(cli, ["predict", str(text_run.path), STARTREK, "--json"])
    assert done.exit_code == 0, done.output
    (row,) = json.loads(done.stdout)
    assert row["text"] == STARTREK and row["class"] == "startrek"
    done = runner.invoke(cli, ["predict", str(text_run.path), STARTREK])
    # "TEXT  CLASS  P": the class and a probability in (0, 1], never a trained number's digits
    line = re.fullmatch(rf"{re.escape(STARTREK)}  startrek  ([01]\.\d\d)\n", done.stdout)
    assert done.exit_code == 0 and line, done.output
    assert 0 < float(line.group(1)) <= 1

    subset = tmp_path / "law.csv"
    lines = fortunes_csv.read_text().splitlines()
    subset.write_text("\n".join([lines[0]] + [l for l in lines if l.endswith(",law")][:20]) + "\n")
    done = runner.invoke(cli, ["evaluate", str(text_run.path), "--data", str(subset), "--json"])
    assert done.exit_code == 0, done.output
    metrics = json.loads(done.stdout)
    assert metrics["data"] == str(subset) and sum(metrics["per_class"]["law"].get(k, 0)
                                                  for k in ("support",)) == 20

    # The end of zoo train and zoo evaluate RUN: the headline (HEADLINE: accuracy) on the test
    # split, counting its texts, then the same per-class table.
    done = runner.invoke(cli, ["evaluate", str(text_run.path)])
    assert done.exit_code == 0, done.output
    block = heldout_block(done.stdout)
    assert re.fullmatch(r"Held-out \(test split, \d+ examples\): accuracy [01]\.\d{4}",
                        block[0]), block[0]
    assert len(block) == 2 + len(datasets.FORTUNE_CATEGORIES) and "precision" in block[1]
    assert heldout_block(trained) == block

    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhello,law\n")
    done = runner.invoke(cli, ["evaluate", str(text_run.path), "--data", str(bad)])
    assert done.exit_code == 1 and "--text-column" in done.output


def test_resume_uses_the_saved_vocabulary_not_a_refitted_one(tmp_path):
    texts = datasets.write_fortunes_csv(tmp_path / "few.csv", per_class=30)["path"]
    options = dict(data=texts, epochs=2, out=str(tmp_path / "run"), log=lambda line: None)
    run = zoo.train("gru_classifier", **options).run
    assert json.loads(run.file("preprocessor.json").read_text())["class"] == \
        "zoo_rnn.tasks:TextVectorizer"
    # The run as if killed after epoch 1, its saved vocabulary with two words swapped: a
    # resumed run must keep what the checkpoint's embedding rows were trained on.
    state = json.loads((run.checkpoint_dir / "state.json").read_text())
    state.update(stage=0, epoch=1, global_epoch=1)
    (run.checkpoint_dir / "state.json").write_text(json.dumps(state))
    words = run.file("vocabulary.txt").read_text().splitlines()
    words[2], words[3] = words[3], words[2]
    run.file("vocabulary.txt").write_text("\n".join(words) + "\n")
    zoo.train("gru_classifier", resume=True, **options)
    resumed = run.load_model().get_layer("vectorize").get_vocabulary()
    assert resumed[:4] == words[:4]
    # --resume reads the recipe back from config.json instead of resolving it again
    assert Run.open(run.path).config["options"]["max_tokens"] == len(words)


def test_patience_stops_text_training_on_its_validation_figures(tmp_path):
    """``--patience 2`` stops after two epochs without validation improvement, as its help says:
    a higher val_accuracy, or an equal one with a lower val_loss (TextClassificationTask.MONITOR).
    At learning rate 0 neither ever improves."""
    from zoo_rnn.tasks import TextClassificationTask

    texts = datasets.write_fortunes_csv(tmp_path / "few.csv", per_class=30)["path"]
    out = tmp_path / "ngram"
    done = CliRunner().invoke(cli, ["train", "ngram_classifier", "--data", str(texts),
                                    "--epochs", "10", "--patience", "2", "--lr", "0",
                                    "--out", str(out)])
    assert done.exit_code == 0, done.output
    summary = json.loads((out / "metrics.json").read_text())["training"]
    monitor = TextClassificationTask.MONITOR
    assert summary["monitor"] == monitor.metric == "val_accuracy" and summary["stopped_early"]
    with open(out / "history.csv", newline="") as f:
        rows = [{k: float(v) for k, v in row.items() if k.startswith("val_")}
                for row in csv.DictReader(f)]
    assert len(rows) == summary["epochs"] == summary["best_epoch"] + 2 < 10
    best = rows[summary["best_epoch"] - 1]
    assert not any(monitor.better(row, best) for row in rows[summary["best_epoch"]:])


def test_run_model_reloads_in_a_fresh_process(text_run):
    expected = text_run.load_model().predict(np.array([STARTREK], dtype=object), verbose=0)
    script = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf, zoo
        model = zoo.load_model({str(text_run.path / 'model.keras')!r})
        print(json.dumps(model.predict(tf.constant([{STARTREK!r}]), verbose=0).tolist()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_exports_verify_against_keras_and_share_one_report(text_run, text_tflite):
    import tensorflow as tf

    exports = text_run.path / "exports"
    tflite = text_tflite
    assert tflite["passed"] and tflite["agreement"] >= 0.99 and tflite["heldout_examples"] > 100
    length = Run.open(text_run.path).config["options"]["sequence_length"]  # the recipe's
    assert tflite["inputs"] == [{"name": "token_ids", "dtype": "int32", "shape": [1, length]}]
    assert tflite["custom_ops"] == [] and not [op for op in tflite["ops"] if "FLEX" in op.upper()]
    assert (exports / "vocabulary.txt").read_text().splitlines()[1] == "[UNK]"
    assert (exports / "labels.txt").read_text().split() == Run.open(text_run.path).labels

    saved = zoo.export(text_run.path, format="saved_model")
    assert saved["passed"] and saved["agreement"] >= 0.99 and saved["latency_ms"] > 0
    # one merged report: the TFLite entry survives the SavedModel export
    assert set(json.loads((exports / "export-report.json").read_text())) == \
        {"model-none.tflite", "saved_model"}
    serve = tf.saved_model.load(saved["artifact"]).signatures["serving_default"]
    out = serve(text=tf.constant([STARTREK]))
    assert out["classes"].numpy()[0].decode() in Run.open(text_run.path).labels
    np.testing.assert_allclose(out["scores"].numpy().sum(), 1.0, rtol=1e-5)


def test_mediapipe_text_classifier_takes_raw_sentences_like_the_keras_model(text_run, text_tflite,
                                                                          tmp_path):
    """The stock MediaPipe Tasks TextClassifier loads each quantization, tokenises raw held-out
    sentences from the standard metadata alone and names the run's classes."""
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.metadata import metadata

    run = Run.open(text_run.path)
    rows = run.read("splits.json")["test"]
    sentences, truth = [t for t, _ in rows], np.array([c for _, c in rows])
    keras_top = text_run.load_model().predict(np.array(sentences, dtype=object),
                                              verbose=0).argmax(-1)
    reports = {"none": text_tflite, **{q: zoo.export(text_run.path, format="tflite", quantize=q,
                                                     out=tmp_path / f"model-{q}.tflite")
                                       for q in ("float16", "dynamic")}}
    for quantize, report in reports.items():
        assert report["passed"] and report["standard_metadata"]["agreement_with_litert"] >= 0.99
        options = text.TextClassifierOptions(
            base_options=BaseOptions(model_asset_path=report["artifact"]))
        with text.TextClassifier.create_from_options(options) as classifier:
            names = [[c.category_name for c in classifier.classify(s).classifications[0].categories]
                     for s in sentences]
        assert all(sorted(found) == sorted(run.labels) for found in names), names[0]
        top = np.array([run.labels.index(found[0]) for found in names])
        assert abs(np.mean(top == truth) - report["accuracy"]) <= 0.01, quantize
        if quantize != "dynamic":  # same tokens, same float model: Keras' answers
            assert np.mean(top == keras_top) >= 0.99, quantize
            assert abs(np.mean(top == truth) - np.mean(keras_top == truth)) <= 0.01, quantize

    displayer = metadata.MetadataDisplayer.with_model_file(text_tflite["artifact"])
    shown = json.loads(displayer.get_metadata_json())
    (tokenizer,) = shown["subgraph_metadata"][0]["input_tensor_metadata"][0]["process_units"]
    assert tokenizer["options_type"] == "RegexTokenizerOptions"
    assert displayer.get_associated_file_buffer("vocab.txt").decode().splitlines()[:2] == \
        ["<PAD> 0", "<UNKNOWN> 1"]
    assert displayer.get_associated_file_buffer("labels.txt").decode().split() == run.labels
    assert shown["name"] == "lstm_classifier" and shown["min_parser_version"] == "1.2.1"


def test_a_text_export_that_disagrees_is_kept_as_rejected(text_run, monkeypatch, tmp_path):
    from zoo import exporting

    def wrong_answers(spec, quantize, representative=None):  # a file that always says class 0
        import dataclasses

        import tensorflow as tf

        always_first = dataclasses.replace(spec, function=lambda ids: {
            "scores": tf.one_hot(ids[:, 0] * 0, len(spec.labels))})
        return convert(always_first, quantize, representative)

    convert = exporting.tflite_bytes
    monkeypatch.setattr(exporting, "tflite_bytes", wrong_answers)
    target = tmp_path / "text.tflite"
    with pytest.raises(zoo.ZooError, match="agrees with the Keras model on only"):
        zoo.export(text_run.path, out=target)
    assert not target.exists() and (tmp_path / "text.rejected.tflite").is_file()
    assert json.loads((tmp_path / "export-report.json").read_text())[
        "text.rejected.tflite"]["passed"] is False


def test_forecaster_beats_the_naive_forecast_and_exports(tmp_path, monkeypatch):
    steps = np.arange(700)
    noise = np.random.default_rng(0).normal(scale=0.05, size=700)
    series = 10 + np.sin(2 * np.pi * steps / 25) + noise
    csv = tmp_path / "series.csv"
    csv.write_text("value\n" + "\n".join(f"{v:.4f}" for v in series) + "\n")
    run = zoo.train("lstm_forecaster", data=csv, window=25, epochs=6, seed=0,
                    out=str(tmp_path / "run"), log=lambda line: None)
    metrics = run.metrics
    assert metrics["mae_vs_naive"] < 0.6, metrics
    forecast = zoo.predict(run, [f"{v:.4f}" for v in series[-25:]])
    assert len(forecast) == 1 and abs(forecast[0]["forecast"] - (10 + np.sin(
        2 * np.pi * 700 / 25))) < 0.4
    report = zoo.export(run.path, format="tflite")
    assert report["passed"] and report["inputs"][0]["shape"] == [1, 25]
    assert report["max_abs_diff"] <= report["tolerance"]

    def late(spec, quantize, representative=None):  # a file whose forecasts are 1.0 too high
        import dataclasses

        return convert(dataclasses.replace(spec, function=lambda values: {
            "forecast": spec.function(values)["forecast"] + 1.0}), quantize, representative)

    from zoo import exporting

    convert = exporting.tflite_bytes
    monkeypatch.setattr(exporting, "tflite_bytes", late)
    with pytest.raises(zoo.ZooError, match="differ from the Keras model"):
        zoo.export(run.path, format="tflite", out=tmp_path / "late.tflite")
    assert (tmp_path / "late.rejected.tflite").is_file() and not (tmp_path / "late.tflite").exists()


def test_forecaster_cli_prints_its_errors_and_patience_stops_on_validation_loss(tmp_path):
    """The end of ``zoo train`` and ``zoo evaluate RUN`` print the same headline line, the
    forecaster's errors on the test split (ForecastingTask.HEADLINE); ``--patience 2`` stops
    after two epochs without a lower validation loss, as its help says (at learning rate 0 the
    loss never falls)."""
    from zoo_rnn.tasks import ForecastingTask

    steps = np.arange(200)
    series = tmp_path / "series.csv"
    series.write_text("value\n" + "\n".join(f"{10 + np.sin(2 * np.pi * t / 25):.4f}"
                                             for t in steps) + "\n")
    out = tmp_path / "run"
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", "lstm_forecaster", "--data", str(series),
                                  "--window", "10", "--units", "4", "--epochs", "10",
                                  "--patience", "2", "--lr", "0", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    lines = [line for line in trained.output.splitlines() if line.startswith("Held-out")]
    assert len(lines) == 1, trained.output
    found = re.fullmatch(r"Held-out \(test split\): (.+)", lines[0])
    assert found, lines[0]
    figures = dict(pair.split(" ") for pair in found.group(1).split(", "))
    assert list(figures) == list(ForecastingTask.HEADLINE), lines[0]
    assert all(re.fullmatch(r"\d+\.\d{4}", value) for value in figures.values()), lines[0]
    evaluated = runner.invoke(cli, ["evaluate", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    assert [line for line in evaluated.output.splitlines() if line.startswith("Held-out")] == lines

    summary = json.loads((out / "metrics.json").read_text())["training"]
    assert summary["monitor"] == ForecastingTask.MONITOR.metric == "val_loss"
    assert summary["stopped_early"]
    with open(out / "history.csv", newline="") as f:
        losses = [float(row["val_loss"]) for row in csv.DictReader(f)]
    assert len(losses) == summary["epochs"] == summary["best_epoch"] + 2 < 10
    assert min(losses) == losses[summary["best_epoch"] - 1]  # the last two were not lower


def test_cli_writes_the_docstrings_set(tmp_path):
    done = CliRunner().invoke(cli, ["data", "docstrings", str(tmp_path / "docs.csv"),
                                    "--per-class", "50"])
    assert done.exit_code == 0, done.output
    texts, labels = zip(*[line.rsplit(",", 1) for line in
                          (tmp_path / "docs.csv").read_text().splitlines()[1:]])
    assert sorted(set(labels)) == sorted(datasets.DOCSTRING_PACKAGES) and len(texts) == 250
    assert len(set(texts)) == len(texts)  # a summary two packages share is in neither
    done = CliRunner().invoke(cli, ["data", "docstrings", str(tmp_path / "x.csv"),
                                    "--packages", "asyncio,no_such_package"])
    assert done.exit_code == 1 and "no standard-library package 'no_such_package'" in done.output


def test_cli_writes_the_quotes_set_apart_from_the_fortunes(tmp_path):
    done = CliRunner().invoke(cli, ["data", "quotes", str(tmp_path / "quotes.csv")])
    assert done.exit_code == 0, done.output
    with open(tmp_path / "quotes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    labels = [row["label"] for row in rows]
    assert sorted(set(labels)) == sorted(datasets.QUOTE_CATEGORIES)
    assert 2500 <= len(rows) <= 3500 and min(map(labels.count, set(labels))) >= 500
    fortunes = datasets.write_fortunes_csv(tmp_path / "fortunes.csv")["path"]
    with open(fortunes, newline="") as f:
        assert not {row["text"] for row in csv.DictReader(f)} & {row["text"] for row in rows}
    assert all(20 <= len(row["text"]) <= datasets.MAX_TEXT_CHARS for row in rows)


def test_ngram_classifier_matches_tfidf_on_docstrings_and_exports_without_loops(tmp_path):
    data = datasets.write_docstrings_csv(tmp_path / "docs.csv")["path"]
    run = zoo.train("ngram_classifier", data=data, seed=1, out=str(tmp_path / "ngram"),
                    log=lambda line: None)
    metrics = run.metrics
    assert metrics["accuracy"] >= 0.9 * metrics["baseline"]["accuracy"], metrics
    report = zoo.export(run.path, format="tflite", quantize="dynamic")
    assert report["passed"] and report["agreement"] >= 0.95
    assert "WHILE" not in report["ops"] and not report["custom_ops"]
