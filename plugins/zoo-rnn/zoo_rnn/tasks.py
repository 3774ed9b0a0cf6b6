"""Tasks of zoo-rnn, run by ``zoo train MODEL`` through the core's shared loop (Task API v2).

* :class:`TextClassificationTask`: a ``text,label`` CSV. Its preprocessor,
  :class:`TextVectorizer`, learns the vocabulary from the training split and is saved with the
  run (``vocabulary.txt``); the model takes raw strings (a ``TextVectorization`` layer in front
  of the token-id network). TFLite exports the token-id network with the vocabulary beside it.
* :class:`ForecastingTask`: a CSV column of values in time order; windows of past values predict
  the next ``horizon`` values. Its preprocessor, :class:`Standardizer`, holds the training
  split's mean and standard deviation, which the model applies inside.

Importing this module is light; TensorFlow is imported by the methods.
"""

from __future__ import annotations

import csv
import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo import ZooError, io
from zoo.tasks import (Agreement, Closeness, ExportSpec, Input, Monitor, Option, Preprocessor,
                       Task, TaskData, fraction, non_negative_int, positive_int, sample_rows)
from zoo_rnn import recipe

VOCABULARY_NAME = "vocabulary.txt"
#: The nested model inside a text run's model.keras that takes token ids (what TFLite ships).
SEQUENCE_MODEL = "sequence_model"
#: Quantizations the recurrent models export with (no full-integer recurrent kernels).
QUANTIZATIONS = ("none", "float16", "dynamic")
EXPORTS = {"tflite": QUANTIZATIONS, "saved_model": ("none",)}


def read_csv_columns(path, columns: dict[str, str]) -> list[list[str]]:
    """The given columns of a CSV file, one list per column, rows with a blank cell dropped.

    ``columns`` maps each column name to the option that names it (for the error message).
    """
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"no CSV file at {path}; pass --data FILE.csv")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            for column, option in columns.items():
                if column not in header:
                    raise ZooError(f"{path} has no column {column!r} (columns: "
                                   f"{', '.join(header) or 'none'}); name the right one with "
                                   f"--{option.replace('_', '-')}")
            rows = [[(row[c] or "").strip() for c in columns] for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ZooError(f"{path} is not a readable UTF-8 CSV file ({exc})") from None
    rows = [row for row in rows if all(row)]
    if not rows:
        raise ZooError(f"{path} has no rows with every one of {', '.join(columns)} filled in")
    return [list(column) for column in zip(*rows)]


def split_indices(labels, val_split: float, test_split: float, seed: int, stratify=True):
    """Index arrays (train, val, test); stratified by ``labels`` when ``stratify``."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    labels = np.asarray(labels)

    def cut(idx, size):
        if size == 0:
            return idx, idx[:0]
        try:
            return train_test_split(idx, test_size=size, random_state=seed,
                                    stratify=labels[idx] if stratify else None)
        except ValueError as exc:
            raise ZooError(f"cannot split the data ({exc}); give every class at least a few "
                           f"rows or lower --val-split / --test-split") from None

    rest, test = cut(indices, test_split)
    train, val = cut(rest, val_split / (1 - test_split) if val_split else 0)
    if len(val) == 0:
        raise ZooError("training needs held-out rows to pick the best epoch; use --val-split > 0")
    return train, val, test


class TextVectorizer(Preprocessor):
    """Lower-cases, strips punctuation, splits on whitespace and maps words to ids: the
    ``max_tokens`` most frequent words of the training split (0 padding, 1 unknown), cut or
    padded to ``sequence_length``. The vocabulary is an asset, ``vocabulary.txt`` (line i is
    id i)."""

    def __init__(self, max_tokens: int = 2000, sequence_length: int = 80, vocabulary=None):
        self.max_tokens, self.sequence_length = max_tokens, sequence_length
        self.vocabulary = list(vocabulary or [])

    def get_config(self) -> dict:
        return {"max_tokens": self.max_tokens, "sequence_length": self.sequence_length}

    def fit(self, texts) -> "TextVectorizer":
        import keras
        import tensorflow as tf

        layer = keras.layers.TextVectorization(max_tokens=self.max_tokens)
        layer.adapt(tf.constant(list(texts)))
        self.vocabulary = layer.get_vocabulary()
        return self

    def layer(self):
        """A Keras layer that applies this vocabulary (it goes inside the model)."""
        import keras

        # The layer adds "" (padding) and "[UNK]" itself; the vocabulary file starts with them.
        return keras.layers.TextVectorization(
            max_tokens=self.max_tokens, output_sequence_length=self.sequence_length,
            vocabulary=self.vocabulary[2:], name="vectorize")

    def save_assets(self, directory: Path) -> None:
        io.write_text(Path(directory) / VOCABULARY_NAME, "\n".join(self.vocabulary) + "\n")

    def load_assets(self, directory: Path) -> None:
        self.vocabulary = (Path(directory) / VOCABULARY_NAME).read_text(
            encoding="utf-8").splitlines()


class TextClassificationTask(Task):
    """Classify short texts from a CSV with a recurrent model (``zoo train lstm_classifier``)."""

    name = "zoo_rnn.tasks:TextClassificationTask"
    OPTIONS = {
        "text_column": Option("text", str, "CSV column holding the text"),
        "label_column": Option("label", str, "CSV column holding the class name"),
        # Resolved from the training texts when not given (zoo_rnn.recipe): logged, kept in
        # config.json, read back by --resume.
        "max_tokens": Option(None, positive_int,
                             f"vocabulary size: the most frequent words of the training split "
                             f"(default from the data: all of them, at most "
                             f"{recipe.MAX_TOKENS:,})"),
        "sequence_length": Option(None, positive_int,
                                  "tokens kept per text, the rest cut (default from the data: "
                                  "95% of the training texts whole)"),
        "embedding_dim": Option(None, positive_int,
                                f"word embedding width (default from the data: 32 below "
                                f"{recipe.SMALL_SET:,} training texts, else 64)"),
        "units": Option(64, positive_int, "recurrent units (per direction)"),
        "dropout": Option(None, fraction, f"dropout on embeddings and pooled features (default "
                                          f"from the data: 0.4 below {recipe.SMALL_SET:,} "
                                          f"training texts, else 0.3)"),
        "val_split": Option(0.15, fraction, "fraction held out to pick the best epoch"),
        "test_split": Option(0.15, fraction, "fraction held out for the final metrics"),
        "lr": Option(5e-3, float, "learning rate"),
        "epochs": Option(None, positive_int,
                         f"training epochs (default from the data: about "
                         f"{recipe.TRAIN_STEPS:,} optimizer steps, {recipe.EPOCH_RANGE[0]}-"
                         f"{recipe.EPOCH_RANGE[1]} epochs)"),
        "patience": Option(None, non_negative_int,
                           "stop after this many epochs without validation improvement, 0 never "
                           "(default from the data: a quarter of the epochs)"),
    }

    preprocessor_class = TextVectorizer
    EXPORTS = EXPORTS
    MONITOR = Monitor("val_accuracy", "max", tie_break=Monitor("val_loss", "min"))
    HEADLINE = ("accuracy",)

    # -- data -------------------------------------------------------------------------------
    def _read(self, path):
        return read_csv_columns(path, {self.options["text_column"]: "text_column",
                                       self.options["label_column"]: "label_column"})

    def load_data(self) -> TaskData:
        import tensorflow as tf

        opts = self.options
        if not opts["data"]:
            raise ZooError("pass --data FILE.csv with a text and a label column "
                           "(try: zoo data fortunes fortunes.csv)")
        texts, labels = self._read(opts["data"])
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ZooError(f"{opts['data']} has one class ({classes[0]}); a classifier needs two")
        y = np.array([classes.index(label) for label in labels], dtype="int32")
        texts = np.array(texts, dtype=object)
        parts = dict(zip(("train", "val", "test"),
                         split_indices(y, opts["val_split"], opts["test_split"], opts["seed"])))
        def dataset(idx, shuffle=False):
            ds = tf.data.Dataset.from_tensor_slices((texts[idx].astype(str), y[idx]))
            if shuffle:
                ds = ds.shuffle(len(idx), seed=opts["seed"], reshuffle_each_iteration=True)
            return ds.batch(opts["batch_size"]).prefetch(tf.data.AUTOTUNE)

        counts = {split: {c: int((y[idx] == i).sum()) for i, c in enumerate(classes)}
                  for split, idx in parts.items()}
        for split, per_class in counts.items():
            self.log(f"{split}: {sum(per_class.values())} texts")
        stats = recipe.text_statistics(texts[parts["train"]])
        resolved = self.fill_defaults(recipe.text_defaults(stats, opts["batch_size"]))
        return TaskData(
            train=dataset(parts["train"], shuffle=True), val=dataset(parts["val"]),
            test=dataset(parts["test"]) if len(parts["test"]) else None, classes=classes,
            info={"path": str(Path(opts["data"]).resolve()), "counts": counts},
            splits={split: [[str(texts[i]), int(y[i])] for i in idx]
                    for split, idx in parts.items()},
            recipe=resolved, recipe_basis=recipe.describe(stats))

    def fit_preprocessor(self, data: TaskData) -> TextVectorizer:
        return TextVectorizer(self.options["max_tokens"], self.options["sequence_length"]).fit(
            text for text, _ in data.splits["train"])

    # -- model ------------------------------------------------------------------------------
    def build_model(self, data: TaskData):
        import keras

        import zoo
        from zoo.training import make_optimizer

        opts = self.options
        vectorize = data.preprocessor.layer()
        builder = zoo.get("model", self.model_name)
        # A builder takes the shape options it has (ngram_classifier has no recurrent units).
        accepted = inspect.signature(builder).parameters
        sequence_model = builder(
            num_classes=len(data.classes), vocab_size=int(vectorize.vocabulary_size()),
            **{name: opts[name] for name in ("sequence_length", "embedding_dim", "units",
                                             "dropout") if name in accepted})
        sequence_model.name = SEQUENCE_MODEL
        text = keras.Input(shape=(), dtype="string", name="text")
        model = keras.Model(text, sequence_model(vectorize(text)), name=self.model_name)
        model.compile(optimizer=make_optimizer(opts["optimizer"], opts["lr"]),
                      loss="sparse_categorical_crossentropy",
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        self.log(f"Model: {self.model_name}, vocabulary {vectorize.vocabulary_size()} words, "
                 f"{model.count_params():,} parameters")
        return model

    # -- using a trained run ----------------------------------------------------------------
    def _heldout(self, run, data):
        """(texts, class indices, source name, train rows) for evaluate."""
        splits = run.read("splits.json")
        if data is None or isinstance(data, TaskData):
            split = "test" if splits.get("test") else "val"
            rows = splits[split]
            return [t for t, _ in rows], [c for _, c in rows], f"{split} split", splits["train"]
        texts, labels = self._read(data)
        classes = run.labels
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            raise ZooError(f"{data} has labels the model does not know: {', '.join(unknown[:5])}; "
                           f"its classes are {', '.join(classes)}")
        return texts, [classes.index(label) for label in labels], str(data), splits["train"]

    def evaluate(self, run, data=None) -> dict:
        """Accuracy, per-class precision/recall, the confusion matrix, and, side by side, the
        accuracy of a TF-IDF + logistic-regression baseline fitted on the run's training split."""
        import tensorflow as tf

        from zoo import plots
        from zoo.metrics import classification_metrics

        texts, labels, source, train_rows = self._heldout(run, data)
        classes = run.labels
        model = run.load_model()
        probabilities = model.predict(tf.constant(texts), batch_size=256, verbose=0)
        metrics = classification_metrics(np.asarray(labels), probabilities, classes)
        metrics["data"] = source
        baseline = tfidf_baseline_accuracy([t for t, _ in train_rows], [c for _, c in train_rows],
                                           texts, labels)
        metrics["baseline"] = {"model": "tfidf_logistic_regression", "accuracy": baseline,
                               "relative_accuracy": round(metrics["accuracy"] / baseline, 4)
                               if baseline else None}
        png = run.file("confusion.png" if data is None or isinstance(data, TaskData)
                       else f"confusion-{Path(data).stem}.png")
        plots.plot_confusion(metrics["confusion_matrix"], classes, png,
                             title=f"{self.model_name} on {source}")
        metrics["confusion_png"] = str(png)
        return metrics

    # -- report.html (zoo report RUN): the texts the model gets most wrong -------------------
    REPORT_MISTAKES = 20

    def report_sections(self, run) -> list:
        """The default sections (metrics, per-class table, confusion matrix), then the held-out
        texts whose true class got the lowest probability, as table rows."""
        import tensorflow as tf

        from zoo.metrics import worst_mistakes
        from zoo.reports import Example, Examples, Section

        sections = super().report_sections(run)
        texts, labels, source, _ = self._heldout(run, None)
        if not texts:
            return sections
        classes = run.labels
        probabilities = np.asarray(run.load_model().predict(tf.constant(texts), batch_size=256,
                                                            verbose=0))
        rows = []
        for i in worst_mistakes(labels, probabilities, self.REPORT_MISTAKES):
            predicted = int(probabilities[i].argmax())
            rows.append(Example(id=str(texts[i]), text=str(texts[i]),
                                true=str(classes[labels[i]]), predicted=str(classes[predicted]),
                                true_probability=float(probabilities[i, labels[i]]),
                                predicted_probability=float(probabilities[i, predicted])))
        sections.insert(1, Section("Worst mistakes", [Examples(rows, caption=(
            f"The {len(rows)} texts of the {source} whose true class got the lowest "
            f"probability, worst first."))]))
        return sections

    def predict(self, run, inputs, top_k: int = 1, **_) -> list[dict]:
        """``{"text", "class", "probability", "top": [[class, probability], ...]}`` per text."""
        import tensorflow as tf

        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs]
        if not texts:
            raise ZooError("give at least one text to classify")
        from zoo.metrics import rankings

        probabilities = run.load_model().predict(tf.constant(texts), verbose=0)
        return [{"text": text, **ranking}
                for text, ranking in zip(texts, rankings(probabilities, run.labels, top_k))]

    def export_spec(self, run, format: str, examples: int) -> ExportSpec:
        """SavedModel: raw strings in. TFLite: the token-id network (int32
        ``(1, sequence_length)``, recurrent layers unrolled) with ``vocabulary.txt`` and
        ``labels.txt`` beside it, and standard metadata whose regex tokenizer makes MediaPipe's
        TextClassifier take raw text. Both are compared on the held-out texts."""
        import tensorflow as tf

        from zoo.tasks import RegexTokenizer, StandardMetadata

        texts, labels, source, train_rows = self._heldout(run, None)
        keep = sample_rows(list(range(len(texts))), examples)
        texts = np.array([texts[i] for i in keep], dtype=object)
        model = run.load_model(compile=False)
        common = dict(truth=np.array([labels[i] for i in keep]), output="scores",
                      examples_from=source, labels=tuple(run.labels),
                      # dynamic-range int8 weights may move a few borderline texts
                      comparison=Agreement({"none": 0.99, "float16": 0.99, "dynamic": 0.95}))
        if format == "saved_model":
            return ExportSpec(lambda text: {"scores": model(text, training=False)},
                              (Input("text", (), "string"),), (texts,), track=(model,),
                              **common)
        vectorize, network = model.get_layer("vectorize"), model.get_layer(SEQUENCE_MODEL)
        _unroll_recurrent_layers(network)
        token_ids = vectorize(tf.constant(texts.astype(str))).numpy().astype("int32")
        vocabulary = "\n".join(vectorize.get_vocabulary()) + "\n"
        tokenizer = RegexTokenizer.for_text_vectorization(vectorize.get_vocabulary(),
                                                          [text for text, _ in train_rows])
        return ExportSpec(
            lambda ids: {"scores": network(ids, training=False)},
            (Input("token_ids", (token_ids.shape[1],), "int32"),), (token_ids,), track=(network,),
            files={VOCABULARY_NAME: vocabulary},
            describe={"tokenize": "lowercase, strip punctuation, split on whitespace; line i of "
                                  f"{VOCABULARY_NAME} is id i; unknown words are 1, padding 0"},
            standard_metadata=StandardMetadata.for_run(run, "text_classifier", tokenizer,
                                                       client_inputs=texts.tolist()),
            **common)


def _unroll_recurrent_layers(model) -> None:
    """Unroll ``model``'s recurrent layers over its fixed sequence length (same weights, same
    outputs): its TFLite file then has one subgraph instead of a WHILE loop, which MediaPipe's
    TextClassifier requires."""
    import keras

    def inside(layer):  # nested models, Bidirectional's two directions, TimeDistributed's layer
        yield layer
        for attribute in ("forward_layer", "backward_layer", "layer"):
            if isinstance(getattr(layer, attribute, None), keras.layers.Layer):
                yield from inside(getattr(layer, attribute))
        for inner in getattr(layer, "layers", ()):
            yield from inside(inner)

    for layer in inside(model):
        if isinstance(layer, keras.layers.RNN):
            layer.unroll = True


def tfidf_baseline_accuracy(train_texts, train_labels, texts, labels) -> float:
    """Held-out accuracy of TF-IDF + logistic regression, the usual strong classical baseline:
    word 1-2 grams, sublinear term frequency, scikit-learn's default regularisation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    classifier = LogisticRegression(max_iter=2000)
    classifier.fit(vectorizer.fit_transform(train_texts), train_labels)
    return round(float(classifier.score(vectorizer.transform(texts), labels)), 4)


class Standardizer(Preprocessor):
    """The training split's mean and standard deviation; the model scales inside by them."""

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        self.mean, self.std = float(mean), float(std)

    def get_config(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def fit(cls, values) -> "Standardizer":
        values = np.asarray(values, dtype="float64")
        return cls(values.mean(), values.std() or 1.0)


@dataclass
class SeriesData(TaskData):
    """The forecasting task's data: the whole series and each split's (start, end)."""

    series: np.ndarray | None = None
    bounds: dict | None = None


class ForecastingTask(Task):
    """Forecast a univariate series from a CSV column (``zoo train lstm_forecaster``).

    Splits are chronological (train, then val, then test); windows of ``--window`` past values
    predict the next ``--horizon``. Metrics compare with the naive forecast (repeat the last value).
    """

    name = "zoo_rnn.tasks:ForecastingTask"
    OPTIONS = {
        "value_column": Option("value", str, "CSV column holding the series, in time order"),
        "window": Option(30, positive_int, "past values the model sees"),
        "horizon": Option(1, positive_int, "future values it predicts"),
        "units": Option(32, positive_int, "LSTM units"),
        "val_split": Option(0.15, fraction, "fraction of the series (after train) for validation"),
        "test_split": Option(0.15, fraction, "last fraction of the series, for the final metrics"),
        "lr": Option(3e-3, float, "learning rate"),
        "epochs": Option(20, positive_int, "training epochs"),
        "patience": Option(5, non_negative_int, "stop after this many epochs without a lower "
                                                "validation loss (0 never stops early)"),
    }
    preprocessor_class = Standardizer
    EXPORTS = EXPORTS
    MONITOR = Monitor("val_loss", "min")
    HEADLINE = ("mae", "rmse", "mae_vs_naive")

    def _series(self, path) -> np.ndarray:
        (values,) = read_csv_columns(path, {self.options["value_column"]: "value_column"})
        try:
            return np.array([float(v) for v in values], dtype="float32")
        except ValueError as exc:
            raise ZooError(f"{path}: column {self.options['value_column']!r} must hold numbers "
                           f"({exc})") from None

    def _windows(self, series):
        window, horizon = self.options["window"], self.options["horizon"]
        count = len(series) - window - horizon + 1
        if count < 1:
            raise ZooError(f"a series of {len(series)} values is too short for --window {window} "
                           f"and --horizon {horizon}")
        x = np.stack([series[i:i + window] for i in range(count)])
        y = np.stack([series[i + window:i + window + horizon] for i in range(count)])
        return x, y

    def _split_bounds(self, n):
        opts = self.options
        test_start = int(round(n * (1 - opts["test_split"])))
        val_start = int(round(n * (1 - opts["test_split"] - opts["val_split"])))
        return {"train": (0, val_start), "val": (val_start, test_start), "test": (test_start, n)}

    def _split_windows(self, series, split, bounds):
        """Windows whose targets fall in ``split``; their history may reach into earlier splits."""
        start, end = bounds[split]
        return self._windows(series[max(0, start - self.options["window"]):end])

    def load_data(self) -> TaskData:
        import tensorflow as tf

        opts = self.options
        if not opts["data"]:
            raise ZooError("pass --data FILE.csv with a value column (try: zoo data stocks "
                           "stocks.csv)")
        series = self._series(opts["data"])
        bounds = self._split_bounds(len(series))
        sets = {}
        for split in ("train", "val", "test"):
            if bounds[split][1] > bounds[split][0]:
                x, y = self._split_windows(series, split, bounds)
                ds = tf.data.Dataset.from_tensor_slices((x, y))
                if split == "train":
                    ds = ds.shuffle(len(x), seed=opts["seed"])
                sets[split] = ds.batch(opts["batch_size"])
        return SeriesData(train=sets["train"], val=sets.get("val"), test=sets.get("test"),
                          info={"path": str(Path(opts["data"]).resolve()), "length": len(series),
                                "splits": bounds},
                          series=series, bounds=bounds)

    def fit_preprocessor(self, data: SeriesData) -> Standardizer:
        return Standardizer.fit(data.series[slice(*data.bounds["train"])])

    def build_model(self, data: TaskData):
        import keras

        import zoo
        from zoo.training import make_optimizer

        opts = self.options
        mean, std = data.preprocessor.mean, data.preprocessor.std
        core = zoo.get("model", self.model_name)(window=opts["window"], horizon=opts["horizon"],
                                                 units=opts["units"])
        core.name = SEQUENCE_MODEL
        window = opts["window"]
        history = keras.Input((window,), name="history")
        scaled = keras.layers.Rescaling(1 / std, -mean / std, name="normalize")(history)
        # The network predicts the change from the last value, so an untrained model already
        # gives the naive forecast and training only has to beat it (prices are near random walks).
        last = keras.layers.Flatten(name="last_value")(keras.layers.Cropping1D(
            (window - 1, 0), name="last_step")(keras.layers.Reshape((window, 1))(history)))
        change = keras.layers.Rescaling(std, name="denormalize")(core(scaled))
        forecast = keras.layers.Add(name="forecast")([last, change])
        model = keras.Model(history, forecast, name=self.model_name)
        model.compile(optimizer=make_optimizer(opts["optimizer"], opts["lr"]),
                      loss=keras.losses.Huber(delta=std), metrics=["mae"])
        return model

    def evaluate(self, run, data=None) -> dict:
        """MAE and RMSE on the test split (or the series in ``data``) against the naive forecast."""
        if data is None or isinstance(data, TaskData):
            x, y, split = self._heldout_windows(run)
            source = f"{split} split"
        else:
            x, y = self._windows(self._series(data))
            source = str(data)
        predicted = run.load_model().predict(x, verbose=0)
        naive = np.repeat(x[:, -1:], y.shape[1], axis=1)
        mae = float(np.abs(predicted - y).mean())
        naive_mae = float(np.abs(naive - y).mean())
        return {"mae": round(mae, 4), "rmse": round(float(np.sqrt(((predicted - y) ** 2).mean())), 4),
                "naive_mae": round(naive_mae, 4),
                "mae_vs_naive": round(mae / naive_mae, 4) if naive_mae else None,
                "windows": int(len(x)), "data": source}

    def predict(self, run, inputs, **_) -> list[dict]:
        """The next ``horizon`` values after the given values (numbers) or a CSV file's series."""
        if isinstance(inputs, (str, Path)):
            inputs = [inputs]
        inputs = [str(v) for v in inputs]
        if len(inputs) == 1 and Path(inputs[0]).is_file():
            values = self._series(inputs[0])
        else:
            try:
                values = np.array([float(v) for v in inputs], dtype="float32")
            except ValueError:
                raise ZooError("give the recent values as numbers, or one CSV file") from None
        window = self.options["window"]
        if len(values) < window:
            raise ZooError(f"the model needs the last {window} values; got {len(values)}")
        forecast = run.load_model().predict(values[None, -window:], verbose=0)[0]
        return [{"step": step + 1, "forecast": round(float(v), 4)}
                for step, v in enumerate(forecast)]

    def _heldout_windows(self, run):
        """(history, targets, split name) of the run's test split, else its val split."""
        series = self._series(run.config["data"]["path"])
        bounds = {k: tuple(v) for k, v in run.config["data"]["splits"].items()}
        split = "test" if bounds["test"][1] > bounds["test"][0] else "val"
        return (*self._split_windows(series, split, bounds), split)

    def export_spec(self, run, format: str, examples: int) -> ExportSpec:
        """A float32 ``(window,)`` history in, the next ``horizon`` values out, compared on
        the held-out windows."""
        history, _, split = self._heldout_windows(run)
        model = run.load_model(compile=False)
        return ExportSpec(
            lambda values: {"forecast": model(values, training=False)},
            (Input("history", (self.options["window"],), "float32"),),
            (history[:examples].astype("float32"),), output="forecast", track=(model,),
            examples_from=f"{split} split",
            comparison=Closeness(rtol={"none": 1e-3, "float16": 0.05, "dynamic": 0.05}))
