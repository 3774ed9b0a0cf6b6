"""What a task hands ``zoo export``: :class:`ExportSpec` (one artifact's function, inputs and
held-out examples), how the artifact must match the Keras model (:class:`Agreement`,
:class:`LabelAgreement`, :class:`Closeness`, :class:`ScaledCloseness`, :class:`ExactMatch`)
and, for classifiers, the standard TFLite metadata that on-device clients read
(:class:`StandardMetadata`, :class:`RegexTokenizer`).

The pipeline that uses them lives once, in :mod:`zoo.exporting`: it converts (TFLite with
builtin ops only, or a SavedModel), runs the artifact back, compares it with the Keras model
through the spec's comparison, places it atomically (or keeps it as ``*.rejected.*``) and merges
its entry into ``export-report.json``. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from zoo.errors import ZooError
from zoo.metrics import micro_f1

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


def verdict(report: dict, quantize: str, failure: str | None = None,
            worse: str | None = None) -> dict:
    """A comparison's ``report`` with its verdict: failed with ``failure`` (a float export that
    differs), else passed, with a warning when ``worse`` says how the task's figure degraded
    (and what to try instead)."""
    if failure:
        return {**report, "passed": False, "warnings": [], "failure": failure}
    warnings = [worse + "; try --quantize dynamic or float16" + (
        ", or more --calibration-size" if quantize == "int8" else "")] if worse else []
    return {**report, "passed": True, "warnings": warnings}


def _figure_drop(report: dict, key: str, said: str, artifact: float, keras: float,
                 quantize: str, max_drop_points: float) -> str | None:
    """Record the task's figure on the artifact and on the Keras model in ``report`` (``key``,
    ``keras_<key>``, ``<key>_drop_points``); the warning when it fell by more than
    ``max_drop_points`` (None otherwise)."""
    drop = round(100 * (keras - artifact), 2)
    report.update({key: artifact, f"keras_{key}": keras, f"{key}_drop_points": drop})
    if drop <= max_drop_points:
        return None
    return (f"{quantize} {said} is {drop:.1f} points below the Keras model ({artifact:.3f} vs "
            f"{keras:.3f})")


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
        worse = None
        if truth is not None:
            truth = np.asarray(truth)
            worse = _figure_drop(report, "accuracy", "accuracy",
                                 float(np.mean(got.argmax(-1) == truth)),
                                 float(np.mean(expected.argmax(-1) == truth)), quantize,
                                 self.max_drop_points)
        needed = self.min_agreement.get(quantize)
        failure = f"the {quantize} export agrees with the Keras model on only " \
                  f"{agreement:.1%} of {len(expected)} {examples} (needs {needed:.0%})" \
            if needed is not None and agreement < needed else None
        return verdict(report, quantize, failure, worse)


@dataclass(frozen=True)
class Closeness:
    """Regressors, generators and embeddings: every output value of the artifact within
    ``atol + rtol * mean(|Keras output|)`` of the Keras model's.

    The mean runs over every compared value of every example: ``rtol`` is relative to the
    output's typical size, one tolerance for the whole output (numpy's ``allclose`` holds each
    value to its own size, which fails values near zero). ``atol`` and ``rtol`` are each one
    number for every quantization, or a dict ``{quantize: number}`` that must name every
    quantization the artifact is exported with (a missing one is an error, not a tolerance of
    0). ``unit`` names the output's unit in the report (``"of 255 per pixel"``). A
    full-integer (int8) artifact is compared on its dequantized outputs.
    """

    atol: float | Mapping[str, float] = 0.0
    rtol: float | Mapping[str, float] = 0.0
    unit: str = ""

    def __post_init__(self):
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            values = value.values() if isinstance(value, Mapping) else [value]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                       for v in values):
                raise ValueError(f"Closeness {name} must be a number >= 0 or a dict of them by "
                                 f"quantization, got {value!r}")

    def tolerance(self, quantize: str, scale: float) -> float:
        """The largest difference allowed for ``quantize`` when the mean |Keras output| is
        ``scale``; ZooError when a dict tolerance does not name ``quantize``."""
        return self._for("atol", quantize) + self._for("rtol", quantize) * scale

    def _for(self, name: str, quantize: str) -> float:
        value = getattr(self, name)
        if not isinstance(value, Mapping):
            return float(value)
        if quantize not in value:
            raise ZooError(f"the task's Closeness({name}={dict(value)!r}) gives no tolerance for "
                           f"--quantize {quantize}; name every quantization its EXPORTS allow, "
                           f"or give one number for all")
        return float(value[quantize])

    def compare(self, expected, got, quantize: str, truth=None, examples: str = "examples") -> dict:
        import numpy as np

        expected, got = np.asarray(expected, np.float32), np.asarray(got, np.float32)
        diff = float(np.max(np.abs(expected - got)))
        scale = float(np.mean(np.abs(expected))) or 1.0
        allowed = self.tolerance(quantize, scale)
        report = {"max_abs_diff": diff, "relative_diff": diff / scale, "tolerance": allowed,
                  "warnings": [], "passed": diff <= allowed}
        if not report["passed"]:
            unit = f" {self.unit}" if self.unit else ""
            report["failure"] = (f"the {quantize} export's outputs differ from the Keras model's "
                                 f"by up to {diff:.4g}{unit} on {len(expected)} {examples} "
                                 f"(allowed {allowed:.4g})")
        return report


@dataclass(frozen=True)
class LabelAgreement:
    """Multi-label classifiers (an independent score per label): the artifact must make the
    Keras model's decision on every label, a label being present when its score is at least
    ``threshold``.

    A quantization listed in ``min_agreement`` fails below that share of (example, label)
    decisions (floats must decide as Keras does); the others pass, with a warning when micro F1
    against the truth (0/1 rows) drops more than ``max_drop_points`` below the Keras model's.
    """

    threshold: float = 0.5
    min_agreement: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(FLOAT_QUANTIZATIONS, 0.99))
    max_drop_points: float = 1.0

    def compare(self, expected, got, quantize: str, truth=None, examples: str = "examples") -> dict:
        import numpy as np

        expected, got = np.asarray(expected, np.float32), np.asarray(got, np.float32)
        decided, artifact = expected >= self.threshold, got >= self.threshold
        agreement = float(np.mean(decided == artifact))
        report = {"threshold": self.threshold, "agreement": agreement,
                  "example_agreement": float(np.mean((decided == artifact).all(axis=1))),
                  "max_abs_diff": float(np.max(np.abs(expected - got)))}
        worse = None
        if truth is not None:
            worse = _figure_drop(report, "micro_f1", "micro F1", micro_f1(truth, artifact),
                                 micro_f1(truth, decided), quantize, self.max_drop_points)
        needed = self.min_agreement.get(quantize)
        failure = f"the {quantize} export makes the Keras model's label decisions (score >= " \
                  f"{self.threshold:g}) on only {agreement:.1%} of {expected.size} (example, " \
                  f"label) pairs of {len(expected)} {examples} (needs {needed:.0%})" \
            if needed is not None and agreement < needed else None
        return verdict(report, quantize, failure, worse)


@dataclass(frozen=True)
class ScaledCloseness:
    """Regressors whose outputs are on their own scales (targets in any units): each output is
    compared in units of its ``scale`` (say each target's standard deviation on the training
    data), so one tolerance fits a price and a probability alike.

    A quantization listed in ``tolerance`` fails when any output of any example differs from
    the Keras model's by more than that many scales (floats give Keras' numbers, up to float
    rounding); the others pass, with a warning when the mean absolute error against the truth
    (one row of targets per example), in scales, grows by more than ``max_error_growth`` (a
    fraction) over the Keras model's.
    """

    scale: tuple[float, ...]
    tolerance: Mapping[str, float] = field(
        default_factory=lambda: {"none": 1e-3, "float16": 1e-2})
    max_error_growth: float = 0.1

    def compare(self, expected, got, quantize: str, truth=None, examples: str = "examples") -> dict:
        import numpy as np

        scale = np.asarray(self.scale, np.float64)
        expected = np.asarray(expected, np.float64).reshape(len(expected), -1)
        got = np.asarray(got, np.float64).reshape(expected.shape)
        diff = float(np.max(np.abs(expected - got) / scale))
        report = {"max_abs_diff": float(np.max(np.abs(expected - got))),
                  "max_scaled_diff": diff}
        if truth is not None:
            truth = np.asarray(truth, np.float64).reshape(expected.shape)
            report.update(mae=float(np.mean(np.abs(got - truth))),
                          keras_mae=float(np.mean(np.abs(expected - truth))),
                          scaled_mae=float(np.mean(np.abs(got - truth) / scale)),
                          keras_scaled_mae=float(np.mean(np.abs(expected - truth) / scale)))
            report["error_growth"] = round(report["scaled_mae"] / report["keras_scaled_mae"] - 1,
                                           4) if report["keras_scaled_mae"] else 0.0
        allowed = self.tolerance.get(quantize)
        failure = f"the {quantize} export's outputs differ from the Keras model's by up to " \
                  f"{diff:.3g} standard deviations of a target on {len(expected)} {examples} " \
                  f"(allowed {allowed:g})" if allowed is not None and diff > allowed else None
        worse = None
        if report.get("error_growth", 0) > self.max_error_growth:
            worse = (f"{quantize} mean absolute error, in standard deviations of the targets, "
                     f"is {report['error_growth']:.0%} above the Keras model's "
                     f"({report['scaled_mae']:.3g} vs {report['keras_scaled_mae']:.3g})")
            if quantize == "int8" and len(scale) > 1:
                worse += ("; int8 gives all outputs one scale, so a target with a narrower "
                          "range than the others loses the most")
        return verdict(report, quantize, failure, worse)


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

    ``threshold`` marks a multi-label classifier (independent scores, say sigmoids): MediaPipe
    returns the scores as the model gives them, so an app asks for every label
    (``max_results=-1``) scoring at least the threshold (``score_threshold``), and the export
    checks that those labels are the ones LiteRT's scores give, where a classifier's check
    compares the top class.
    """

    kind: str
    name: str
    description: str
    version: str
    author: str
    tokenizer: RegexTokenizer | None = None
    client_inputs: tuple | None = None
    threshold: float | None = None

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
                client_inputs=None, threshold: float | None = None) -> "StandardMetadata":
        """Name, description, version and author from ``run``'s config.json and labels."""
        config, labels = run.config, run.labels
        model = config.get("model") or run.path.name
        what = "images" if kind == "image_classifier" else "texts"
        shown = ", ".join(map(str, labels[:12])) + (", ..." if len(labels) > 12 else "")
        created = f", created {config['created']}" if config.get("created") else ""
        zoo_version = (config.get("versions") or {}).get("zoo")
        job = f"classifying {what} into {len(labels)} classes" if threshold is None else \
            f"tagging {what} with any of {len(labels)} labels (independent scores; a label " \
            f"applies at {threshold:g} or more)"
        return cls(kind, name=model,
                   description=f"{model} {job} ({shown}); trained with keras-zoo",
                   version=f"run {run.path.name}{created}",
                   author=f"keras-zoo {zoo_version}" if zoo_version else "keras-zoo",
                   tokenizer=tokenizer,
                   client_inputs=tuple(client_inputs) if client_inputs is not None else None,
                   threshold=threshold)


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
