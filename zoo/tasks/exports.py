"""What a task hands ``zoo export``: :class:`ExportSpec` (one artifact's function, inputs and
held-out examples) and how the artifact must match the Keras model (:class:`Agreement`,
:class:`Closeness`, :class:`ExactMatch`).

The pipeline that uses them lives once, in :mod:`zoo.exporting`: it converts (TFLite with
builtin ops only, or a SavedModel), runs the artifact back, compares it with the Keras model
through the spec's comparison, places it atomically (or keeps it as ``*.rejected.*``) and merges
its entry into ``export-report.json``. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

FLOAT_QUANTIZATIONS = ("none", "float16")


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
    a TFLite file; ``metadata`` is embedded in it; ``describe`` adds fields to the report.
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
    describe: dict = field(default_factory=dict)
