"""The declared plugin API (contract 2): every module in it lists its API in ``__all__``, the
docs name each one, and the first-party plugins import keras-zoo through it and nothing else."""

import ast
import importlib
from pathlib import Path

import pytest

from zoo.hookspecs import PLUGIN_API

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FILES = sorted(path for package in ROOT.glob("plugins/*/zoo_*/") if package.is_dir()
                      and not package.name.endswith(".egg-info") for path in package.rglob("*.py"))
#: What only the core's export pipeline does: convert, run or write deployable artifacts (and
#: their standard metadata, with mediapipe's writers).
EXPORT_INTERNALS = ("ai_edge_litert", "TFLiteConverter", "tf.lite", "tensorflow.lite",
                    "saved_model.save", "keras.export", "ExportArchive", "mediapipe")


def core_names(source: str):
    """(line, module, name) for each thing a source takes from keras-zoo: ``import zoo.x``,
    ``from zoo.x import y`` and attribute use ``zoo.y``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "zoo" and alias.name != "zoo":
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "zoo":
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == "zoo":
            yield node.lineno, "zoo", node.attr


def undeclared(source: str) -> list[str]:
    """What ``source`` takes from keras-zoo outside the declared plugin API."""
    found = []
    for line, module, name in core_names(source):
        if module not in PLUGIN_API:
            found.append(f"line {line}: {module}")
        elif name is not None and name not in importlib.import_module(module).__all__ and \
                f"{module}.{name}" not in PLUGIN_API:
            found.append(f"line {line}: {module}.{name}")
    return found


def test_the_check_catches_what_it_should():
    assert undeclared("from zoo.exporting import convert_tflite") == ["line 1: zoo.exporting"]
    assert undeclared("from zoo.tasks.base import Task") == ["line 1: zoo.tasks.base"]
    assert undeclared("import zoo\nzoo.registry_internal()") == ["line 2: zoo.registry_internal"]
    assert undeclared("from zoo.tasks import _private") == ["line 1: zoo.tasks._private"]
    assert undeclared("from zoo import ZooError, io\nfrom zoo.tasks import Task\nzoo.get") == []


def test_every_plugin_api_module_lists_real_names_and_is_documented():
    docs = (ROOT / "docs" / "writing-plugins.md").read_text()
    section = docs[docs.index("## The plugin API"):docs.index("## Tasks: the Task API")]
    for module_name in PLUGIN_API:
        module = importlib.import_module(module_name)
        assert module.__all__, module_name
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module_name}.{name}"
        assert f"| `{module_name}` |" in section, f"{module_name} is not in the docs' table"


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT / "plugins")))
def test_first_party_plugins_use_only_the_declared_api(path):
    source = path.read_text()
    assert undeclared(source) == [], f"{path} reaches into the core"
    assert [word for word in EXPORT_INTERNALS if word in source] == [], \
        f"{path} converts or runs exports itself; describe them with export_spec instead"
