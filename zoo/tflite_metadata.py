"""Standard TFLite metadata (``metadata_schema.fbs``): what MediaPipe Tasks' ImageClassifier and
TextClassifier (the same API on Android, iOS, web and Python) read to feed a model and name its
classes.

It is written with MediaPipe's own metadata writers (the ``mediapipe`` package, keras-zoo's
``mobile`` extra), never by hand, and checked by loading the file in MediaPipe Tasks. zoo's own
JSON (:func:`zoo.exporting.read_metadata`) stays beside it as a second entry of the model's
metadata table, which MediaPipe ignores.

mediapipe's wheels since 0.10.30 ship ``metadata.py`` importing a compiled module that they no
longer contain, so the writers fail to import (``No module named 'mediapipe.tasks.cc'``);
:func:`metadata_writer` then stands in for that module with :func:`minimum_parser_version`, a
port of its one function.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.tasks.exports import StandardMetadata

INSTALL = "pip install 'keras-zoo[mobile]'"
#: The entry of a model's metadata table that MediaPipe reads.
ENTRY_NAME = "TFLITE_METADATA"
#: The tokenizer's vocabulary inside the file ("token id" lines, MediaPipe's format).
VOCAB_NAME = "vocab.txt"
#: zoo's image models take raw 0-255 RGB and scale inside; MediaPipe feeds a float input
#: (pixel - mean) / std and a uint8 input the raw pixels, so mean 0 and std 1 leave them as
#: they are in both.
RAW_PIXELS = ([0.0], [1.0])
_PARSER_VERSION_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


def require_mediapipe() -> None:
    """Raise ZooError (one line, what to install) when the mediapipe package is missing."""
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        raise ZooError(f"TFLite classifiers are exported with standard metadata for MediaPipe "
                       f"Tasks, written by the mediapipe package, which is not installed: "
                       f"{INSTALL}") from None


def metadata_writer():
    """MediaPipe's ``metadata_writer`` module; ZooError (one line) when mediapipe is missing."""
    require_mediapipe()
    try:
        importlib.import_module(_PARSER_VERSION_MODULE)
    except ModuleNotFoundError:
        _stand_in_for_parser_version_module()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer as writer

    return writer


def _stand_in_for_parser_version_module() -> None:
    parts = _PARSER_VERSION_MODULE.split(".")
    for depth in range(3, len(parts)):  # mediapipe.tasks.cc, .metadata, .python
        name = ".".join(parts[:depth])
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            package = types.ModuleType(name)
            package.__path__ = []
            sys.modules[name] = package
    module = types.ModuleType(_PARSER_VERSION_MODULE)
    module.GetMinimumMetadataParserVersion = minimum_parser_version
    sys.modules[_PARSER_VERSION_MODULE] = module


def minimum_parser_version(metadata_buffer) -> str:
    """The oldest metadata parser that reads ``metadata_buffer`` (a ModelMetadata flatbuffer):
    the version that added the newest schema member it uses. A port of MediaPipe's C++
    ``GetMinimumMetadataParserVersion`` (mediapipe/tasks/cc/metadata/metadata_version.cc)."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    metadata = fb.ModelMetadataT.InitFromObj(
        fb.ModelMetadata.GetRootAsModelMetadata(bytes(metadata_buffer), 0))
    found = [(1, 0, 0)]

    def files(items):
        for item in items or ():
            found.extend(version for wanted, version in (
                (item.type == fb.AssociatedFileType.VOCABULARY, (1, 0, 1)),
                (item.type == fb.AssociatedFileType.SCANN_INDEX_FILE, (1, 4, 0)),
                (item.version is not None, (1, 4, 1))) if wanted)

    def units(items):
        tokenizers = {fb.ProcessUnitOptions.BertTokenizerOptions: (1, 1, 0),
                      fb.ProcessUnitOptions.SentencePieceTokenizerOptions: (1, 1, 0),
                      fb.ProcessUnitOptions.RegexTokenizerOptions: (1, 2, 1)}
        found.extend(tokenizers.get(item.optionsType, (1, 0, 0)) for item in items or ())

    for subgraph in metadata.subgraphMetadata or ():
        for tensor in [*(subgraph.inputTensorMetadata or ()),
                       *(subgraph.outputTensorMetadata or ())]:
            files(tensor.associatedFiles)
            units(tensor.processUnits)
            if tensor.content is not None and \
                    tensor.content.contentPropertiesType == fb.ContentProperties.AudioProperties:
                found.append((1, 3, 0))
        files(subgraph.associatedFiles)
        for process_units in (subgraph.inputProcessUnits, subgraph.outputProcessUnits):
            if process_units is not None:
                found.append((1, 1, 0))
                units(process_units)
        if subgraph.inputTensorGroups is not None or subgraph.outputTensorGroups is not None:
            found.append((1, 2, 0))
        if subgraph.customMetadata is not None:
            found.append((1, 5, 0))
    files(metadata.associatedFiles)
    return ".".join(map(str, max(found)))


def write(flatbuffer: bytes, standard: StandardMetadata, labels) -> bytes:
    """``flatbuffer`` with ``standard`` metadata: general information, the input (raw pixels,
    or text through the regex tokenizer with its vocabulary file) and the output (scores in
    [0, 1], ``labels`` as the labels.txt associated file). The files are appended as a zip, so
    ``unzip -l`` lists them."""
    from ai_edge_litert import schema_py_generated as schema

    writer_module = metadata_writer()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info

    subgraphs = schema.Model.GetRootAs(flatbuffer, 0).SubgraphsLength()
    if subgraphs != 1:  # MediaPipe's classifier graphs refuse the file otherwise
        raise ZooError(f"MediaPipe Tasks' {standard.client} takes a model with one subgraph, "
                       f"and this one has {subgraphs} (a WHILE loop or another control-flow "
                       f"op); unroll the loop for the TFLite export")
    with tempfile.TemporaryDirectory() as scratch:
        writer = writer_module.MetadataWriter.create(bytearray(flatbuffer))
        # add_general_info() takes a name and a description only
        writer._general_md = metadata_info.GeneralMd(
            name=standard.name, version=standard.version, description=standard.description,
            author=standard.author)
        if standard.kind == "image_classifier":
            writer.add_image_input(*RAW_PIXELS)
        else:
            vocabulary = Path(scratch) / VOCAB_NAME
            vocabulary.write_text("".join(f"{token} {index}\n" for token, index
                                          in standard.tokenizer.vocabulary.items()),
                                  encoding="utf-8")
            writer.add_regex_text_input(writer_module.RegexTokenizer(
                standard.tokenizer.delimiter, str(vocabulary)))
        writer.add_classification_output(
            writer_module.Labels().add([str(label) for label in labels]))
        model, _ = writer.populate()
        del writer  # its __del__ removes a temporary folder: now, not at interpreter exit
    return bytes(model)


def has_standard_metadata(flatbuffer: bytes) -> bool:
    """Whether the model's metadata table has the entry MediaPipe reads."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    return any(model.Metadata(i).Name() == ENTRY_NAME.encode()
               for i in range(model.MetadataLength()))


def client_answers(path, standard: StandardMetadata, inputs) -> list:
    """What MediaPipe Tasks' classifier of ``standard.kind`` answers for each input (raw 0-255
    RGB images, or texts), as an app gets it: the top category name (None where it names none),
    or for a multi-label model (``standard.threshold``) the sorted tuple of the names scoring at
    least the threshold. Raises ValueError or RuntimeError when MediaPipe refuses the file."""
    require_mediapipe()
    from mediapipe.tasks.python.core.base_options import BaseOptions

    base = BaseOptions(model_asset_path=str(path))
    wanted = {"max_results": 1} if standard.threshold is None else \
        {"max_results": -1, "score_threshold": standard.threshold}
    if standard.kind == "image_classifier":
        import mediapipe as mp
        from mediapipe.tasks.python import vision

        classifier = vision.ImageClassifier.create_from_options(
            vision.ImageClassifierOptions(base_options=base, **wanted))

        def classify(image):
            pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)
            return classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB,
                                                data=np.ascontiguousarray(pixels)))
    else:
        from mediapipe.tasks.python import text

        classifier = text.TextClassifier.create_from_options(
            text.TextClassifierOptions(base_options=base, **wanted))
        classify = classifier.classify
    answer = _top_name if standard.threshold is None else _names
    with classifier:  # closed here: left to __del__ at exit, mediapipe 1.2 raises TypeError
        return [answer(classify(example)) for example in inputs]


def _categories(result) -> list:
    return result.classifications[0].categories if result.classifications else []


def _top_name(result) -> str | None:
    categories = _categories(result)
    return categories[0].category_name if categories else None


def _names(result) -> tuple[str, ...]:
    return tuple(sorted(category.category_name for category in _categories(result)))
