"""What a task hands ``zoo export``: :class:`ExportSpec` (one artifact's function, inputs and
held-out examples), how the artifact must match the Keras model (:class:`Agreement`,
:class:`Closeness`, :class:`ExactMatch`) and, for classifiers, the standard TFLite metadata that
on-device clients read (:class:`StandardMetadata`, :class:`RegexTokenizer`).

The pipeline that uses them lives once, in :mod:`zoo.exporting`: it converts (TFLite with
builtin ops only, or a SavedModel), runs the artifact back, compares it with the Keras model
through the spec's comparison, places it atomically (or keeps it as ``*.rejected.*``) and merges
its entry into ``export-report.json``. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

@dataclass(frozen=True)
class ExportFormat:
    """One row of the format table: what ``--format NAME`` writes and which options apply."""

    name: str
    artifact: str
    quantizations: tuple[str, ...]
    options: tuple[str, ...]
    help: str

    def to_dict(self) -> dict:
        return {"format": self.name, "artifact": self.artifact,
                "quantize": list(self.quantizations), "options": list(self.options),
                "help": self.help}


#: Every format ``zoo export`` writes (``zoo export --formats`` prints this table); a task's
#: ``EXPORTS`` picks from it.
EXPORT_FORMATS = {
    "tflite": ExportFormat(
        "tflite", "RUN/exports/<name>-<quantize>.tflite", ("none", "float16", "dynamic", "int8"),
        ("quantize", "calibration", "calibration_size", "out"),
        "LiteRT flatbuffer for phones, builtin ops only; int8 is full-integer with uint8 input "
        "and output, calibrated with --calibration / --calibration-size"),
    "saved_model": ExportFormat(
        "saved_model", "RUN/exports/saved_model/ (a folder)", ("none",), ("out",),
        "TensorFlow SavedModel for servers (TF Serving): a serving_default signature"),
}
FORMATS = tuple(EXPORT_FORMATS)
QUANTIZATIONS = EXPORT_FORMATS["tflite"].quantizations


def export_formats() -> list[dict]:
    """The format table as JSON-ready rows (what ``zoo export --formats`` prints)."""
    return [fmt.to_dict() for fmt in EXPORT_FORMATS.values()]


FLOAT_QUANTIZATIONS = ("none", "float16")
#: Standard-metadata kinds -> the MediaPipe Tasks API that loads such a file.
CLASSIFIER_CLIENTS = {"image_classifier": "ImageClassifier", "text_classifier": "TextClassifier"}


@dataclass(frozen=True)
class Input:
    """One input of an exported function: its name, shape without the batch axis, dtype.

    ``also`` lists other dtypes the SavedModel accepts too, as extra ``serving_<dtype>``
    signatures that cast to ``dtype`` (images as ``uint8`` beside ``float32``).
    """

    name: str
    shape: tuple = ()
    dtype: str = "float32"
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class Agreement:
    """Classifiers: the artifact must pick the Keras model's top class.

    A quantization listed in ``min_agreement`` fails below that share of examples (floats must
    give Keras' answer); the others pass, with a warning when accuracy drops more than
    ``max_drop_points`` below the Keras model's.
    """

    min_agreement: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(FLOAT_QUANTIZATIONS, 0.99))
    max_drop_points: float = 1.0

    def compare(self, expected, got, quantize: str, truth=None, examples: str = "examples") -> dict:
        import numpy as np

        expected, got = np.asarray(expected, np.float32), np.asarray(got, np.float32)
        agreement = float(np.mean(expected.argmax(-1) == got.argmax(-1)))
        report = {"agreement": agreement, "max_abs_diff": float(np.max(np.abs(expected - got)))}
        if truth is not None:
            truth = np.asarray(truth)
            report.update(accuracy=float(np.mean(got.argmax(-1) == truth)),
                          keras_accuracy=float(np.mean(expected.argmax(-1) == truth)))
            report["accuracy_drop_points"] = round(
                100 * (report["keras_accuracy"] - report["accuracy"]), 2)
        needed = self.min_agreement.get(quantize)
        if needed is not None and agreement < needed:
            return {**report, "passed": False, "warnings": [],
                    "failure": f"the {quantize} export agrees with the Keras model on only "
                               f"{agreement:.1%} of {len(expected)} {examples}"
                               f" (needs {needed:.0%})"}
        warnings = []
        if report.get("accuracy_drop_points", 0) > self.max_drop_points:
            warnings.append(
                f"{quantize} accuracy is {report['accuracy_drop_points']:.1f} points below the "
                f"Keras model ({report['accuracy']:.3f} vs {report['keras_accuracy']:.3f}); try "
                f"--quantize dynamic or float16" + (", or more --calibration-size"
                                                   if quantize == "int8" else ""))
        return {**report, "passed": True, "warnings": warnings}


@dataclass(frozen=True)
class Closeness:
    """Regressors, generators and embeddings: every output within
    ``atol[quantize] + rtol[quantize] * mean |Keras output|`` of the Keras model's."""

    atol: Mapping[str, float] = field(default_factory=dict)
    rtol: Mapping[str, float] = field(default_factory=dict)
    unit: str = ""

    def compare(self, expected, got, quantize: str, truth=None, examples: str = "examples") -> dict:
        import numpy as np

        expected, got = np.asarray(expected, np.float32), np.asarray(got, np.float32)
        diff = float(np.max(np.abs(expected - got)))
        scale = float(np.mean(np.abs(expected))) or 1.0
        allowed = self.atol.get(quantize, 0.0) + self.rtol.get(quantize, 0.0) * scale
        report = {"max_abs_diff": diff, "relative_diff": diff / scale, "tolerance": allowed,
                  "warnings": [], "passed": diff <= allowed}
        if not report["passed"]:
            unit = f" {self.unit}" if self.unit else ""
            report["failure"] = (f"the {quantize} export's outputs differ from the Keras model's "
                                 f"by up to {diff:.4g}{unit} on {len(expected)} {examples} "
                                 f"(allowed {allowed:.4g})")
        return report


@dataclass(frozen=True)
class ExactMatch:
    """Outputs that are ids or names (retrieved items): the share equal to the Keras model's."""

    min_share: float = 0.99

    def compare(self, expected, got, quantize: str, truth=None, examples: str = "examples") -> dict:
        import numpy as np

        def text(values):
            values = np.asarray(values)
            return values.astype(str) if values.dtype.kind in "OSU" else values

        share = float(np.mean(text(expected) == text(got)))
        report = {"agreement": share, "warnings": [], "passed": share >= self.min_share}
        if not report["passed"]:
            report["failure"] = (f"the export's outputs equal the Keras model's on only "
                                 f"{share:.1%} of {len(expected)} {examples} "
                                 f"(needs {self.min_share:.0%})")
        return report


# What Keras' TextVectorization does by default (standardize="lower_and_strip_punctuation",
# split="whitespace"): lower-case ASCII letters, delete ASCII punctuation, split on ASCII spaces.
_KERAS_STANDARDIZE = str.maketrans(string.ascii_uppercase, string.ascii_lowercase,
                                   string.punctuation)
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PUNCTUATION = r"[!-/:-@\[-`{-~]"  # RE2 ranges covering exactly string.punctuation
_SPACE = r"[\t\n\v\f\r ]"
# Whitespace plus the punctuation at either end of a word: where Keras' tokens fall.
_WORD_BREAK = rf"(?:{_PUNCTUATION}*{_SPACE}+{_PUNCTUATION}*)+|^{_PUNCTUATION}+|{_PUNCTUATION}+$"


@dataclass(frozen=True)
class RegexTokenizer:
    """How MediaPipe's TextClassifier turns raw text into a model's token ids (the standard
    metadata's RegexTokenizer): the tokens are the text between matches of ``delimiter`` (an RE2
    pattern), each looked up exactly in ``vocabulary`` (token -> id, with ``<PAD>`` and
    ``<UNKNOWN>``); a missing token gets ``<UNKNOWN>``'s id, and the ids are cut or padded with
    ``<PAD>``'s to the model's input length. (A ``<START>`` entry would be put first; zoo's
    models have none, so there is none.)"""

    delimiter: str
    vocabulary: Mapping[str, int]

    def __post_init__(self):
        missing = [token for token in ("<PAD>", "<UNKNOWN>") if token not in self.vocabulary]
        if missing:
            raise ValueError(f"a RegexTokenizer vocabulary needs {' and '.join(missing)}")

    @classmethod
    def for_text_vectorization(cls, vocabulary, texts=()) -> "RegexTokenizer":
        """The tokenizer that gives a Keras ``TextVectorization`` layer's ids (default
        standardisation and split) for ``vocabulary`` (its ``get_vocabulary()``: ``""`` is
        padding, ``"[UNK]"`` unknown, line i is id i).

        Keras deletes punctuation and lower-cases; a regex tokenizer can only split. The
        delimiter is whitespace plus the punctuation at either end of a word, so the tokens fall
        exactly where Keras' do, and the vocabulary lists the spellings that Keras maps to a
        word: each word as spelt in ``texts`` (say the training texts: "Don't" -> the id of
        "dont") and in the vocabulary, each in lower case, Capitalised and UPPER case. Only a
        spelling seen nowhere (e.g. "dOn'T") gets ``<UNKNOWN>`` where Keras finds the word.
        """
        if list(vocabulary[:2]) != ["", "[UNK]"]:
            raise ValueError("expected a TextVectorization vocabulary: '' (padding) then '[UNK]'")
        ids = {word: i for i, word in enumerate(vocabulary) if i >= 2}
        table = {"<PAD>": 0, "<UNKNOWN>": 1}
        spellings = [*ids, *(chunk.strip(string.punctuation) for text in texts
                             for chunk in str(text).split())]
        for spelling in spellings:
            word_id = ids.get(spelling.translate(_KERAS_STANDARDIZE))
            if word_id is not None:  # ASCII case changes only: Keras lower-cases ASCII alone
                lower = spelling.translate(_ASCII_LOWER)
                for form in (spelling, lower, lower[:1].translate(_ASCII_UPPER) + lower[1:],
                             spelling.translate(_ASCII_UPPER)):
                    table.setdefault(form, word_id)
        return cls(_WORD_BREAK, table)


@dataclass(frozen=True)
class StandardMetadata:
    """Standard TFLite metadata (``metadata_schema.fbs``) for a classifier: what MediaPipe
    Tasks' ImageClassifier / TextClassifier (Android, iOS, web, Python) read to feed the model
    and name its classes (the spec's ``labels``).

    ``kind`` is ``"image_classifier"`` (raw RGB 0-255 pixels in) or ``"text_classifier"``
    (token ids in, made from raw text by ``tokenizer``). ``client_inputs`` are the held-out
    examples as an app hands them to that client, in the order of the spec's ``examples``
    (raw texts for a text classifier; None: the spec's images), so the export can check the file
    in MediaPipe too. :meth:`for_run` fills name, description, version and author from a run.
    """

    kind: str
    name: str
    description: str
    version: str
    author: str
    tokenizer: RegexTokenizer | None = None
    client_inputs: tuple | None = None

    def __post_init__(self):
        if self.kind not in CLASSIFIER_CLIENTS:
            raise ValueError(f"unknown standard metadata kind {self.kind!r}; one of "
                             f"{', '.join(CLASSIFIER_CLIENTS)}")
        if (self.kind == "text_classifier") != (self.tokenizer is not None):
            raise ValueError("a text_classifier needs a tokenizer, and only it takes one")

    @property
    def client(self) -> str:
        """The MediaPipe Tasks API that loads the file, e.g. ``ImageClassifier``."""
        return CLASSIFIER_CLIENTS[self.kind]

    @classmethod
    def for_run(cls, run, kind: str, tokenizer: RegexTokenizer | None = None,
                client_inputs=None) -> "StandardMetadata":
        """Name, description, version and author from ``run``'s config.json and labels."""
        config, labels = run.config, run.labels
        model = config.get("model") or run.path.name
        what = "images" if kind == "image_classifier" else "texts"
        shown = ", ".join(map(str, labels[:12])) + (", ..." if len(labels) > 12 else "")
        created = f", created {config['created']}" if config.get("created") else ""
        zoo_version = (config.get("versions") or {}).get("zoo")
        return cls(kind, name=model,
                   description=f"{model} classifying {what} into {len(labels)} classes "
                               f"({shown}); trained with keras-zoo",
                   version=f"run {run.path.name}{created}",
                   author=f"keras-zoo {zoo_version}" if zoo_version else "keras-zoo",
                   tokenizer=tokenizer,
                   client_inputs=tuple(client_inputs) if client_inputs is not None else None)


@dataclass
class ExportSpec:
    """One artifact, as a task describes it to the export pipeline.

    ``function`` is the Keras model's inference: it takes one tensor per entry of ``inputs``
    (batched, in that order) and returns a dict of named outputs; ``output`` names the one the
    artifact is compared on (a TFLite file has that output alone, a SavedModel all of them).
    ``examples`` holds one batch-first numpy array per input: held-out data the artifact and
    the Keras model are both run on, then judged by ``comparison``; ``truth`` (class indices)
    adds accuracy for classifiers.

    ``track`` lists the Keras models or layers whose weights and lookup tables a SavedModel
    keeps. ``labels`` (class names) puts ``labels.txt`` beside a TFLite file and a ``classes``
    output (top-1 name, from a labels asset) in a SavedModel. ``calibration(directory, size)``
    returns representative inputs (one array per input) for int8. ``files`` are written beside
    a TFLite file; ``metadata`` (zoo's own JSON, read back by ``zoo.exporting.read_metadata``)
    is embedded in it, and so is ``standard_metadata`` (MediaPipe Tasks load the file with its
    labels); ``describe`` adds fields to the report.
    """

    function: Callable[..., dict]
    inputs: tuple[Input, ...]
    examples: tuple
    comparison: Any
    output: str
    track: tuple = ()
    name: str = "model"
    examples_from: str = ""
    truth: Any = None
    labels: tuple[str, ...] = ()
    calibration: Callable[[Any, int], tuple] | None = None
    files: dict[str, str] = field(default_factory=dict)
    metadata: dict | None = None
    standard_metadata: StandardMetadata | None = None
    describe: dict = field(default_factory=dict)
