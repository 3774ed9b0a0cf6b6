"""docs/writing-plugins.md says what the code does: each hook with the signature its hookspec
declares, the plugin API table equal to ``zoo.hookspecs.PLUGIN_API`` and naming every public
name, and the signatures it prints (zoo.data's helpers, zoo.testing's checks, the Task API's
classes) equal to the code's. Reads the docs and imports the modules; trains nothing."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

import zoo.data
from zoo import hookspecs, testing
from zoo.tasks import Closeness, Monitor, Stage, Substitute

DOCS = Path(__file__).resolve().parents[1] / "docs" / "writing-plugins.md"


@pytest.fixture(scope="module")
def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def signature_text(obj, name: str | None = None) -> str:
    """``name(a, b=1, *, c="x")``: how the docs write a callable's signature."""
    parts, keyword_only = [], False
    for parameter in inspect.signature(obj).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD or parameter.kind is parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        default = parameter.default
        shown = default.__name__ if callable(default) else repr(default).replace("'", '"')
        parts.append(parameter.name if default is parameter.empty else
                     f"{parameter.name}={shown}")
    return f"{name or obj.__name__}({', '.join(parts)})"


def inline_code(markdown: str) -> list[str]:
    """Every inline code span, line breaks inside a span read as spaces."""
    return [" ".join(span.split()) for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", markdown)]


def hookspecs_by_name() -> dict:
    return {name: getattr(hookspecs, name) for name in dir(hookspecs)
            if hasattr(getattr(hookspecs, name), "zoo_spec")}  # pluggy's spec marker


def test_the_helpers_read_signatures_as_the_docs_write_them():
    def example(a, b=1, *, c="x", **rest):
        return a

    assert signature_text(example) == 'example(a, b=1, *, c="x")'
    assert inline_code("`f(a,\n  b)` and ``not`` `g()`") == ["f(a, b)", "g()"]


def test_every_hook_is_documented_with_its_hookspec_signature(docs):
    documented = dict(re.findall(r"^### `(zoo_\w+)\(([^)]*)\)`$", docs, flags=re.M))
    specs = hookspecs_by_name()
    assert sorted(documented) == sorted(specs), "a hook section is missing or names no hookspec"
    for name, spec in specs.items():
        written = [p.strip() for p in documented[name].split(",") if p.strip()]
        assert written == list(inspect.signature(spec).parameters), \
            f"docs/writing-plugins.md shows {name}({documented[name]}), the hookspec differs"
    # newer hooks say which contract brought them
    for name, version in hookspecs.HOOK_CONTRACTS.items():
        section = docs[docs.index(f"### `{name}("):]
        assert f"Contract {version}." in section[:section.index("\n###")], name
    assert "on_run_end(run)" in docs


def plugin_api_rows(docs: str) -> dict[str, str]:
    section = docs[docs.index("## The plugin API"):docs.index("## Tasks: the Task API")]
    return dict(re.findall(r"^\| `(zoo(?:\.\w+)*)` \| (.*) \|$", section, flags=re.M))


def test_the_plugin_api_table_is_plugin_api_and_names_every_public_name(docs):
    rows = plugin_api_rows(docs)
    assert list(rows) == list(hookspecs.PLUGIN_API), "the table's modules are not PLUGIN_API"
    for module_name, row in rows.items():
        module = importlib.import_module(module_name)
        mentioned = {re.match(r"[\w.]+", span).group().split(".")[-1]
                     for span in inline_code(row) if re.match(r"[\w.]+", span)}
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.__all__ names {name}, which is missing"
            assert name in mentioned, f"the docs' row for {module_name} does not name {name}"


def test_printed_signatures_are_the_codes(docs):
    spans = inline_code(docs)
    functions = [getattr(zoo.data, name) for name in zoo.data.__all__
                 if inspect.isfunction(getattr(zoo.data, name))]
    for obj in (*functions, testing.check_layer, testing.check_task, Closeness, Monitor, Stage,
                Substitute):
        expected = signature_text(obj)
        written = [span for span in spans if re.match(rf"(\w+\.)*{obj.__name__}\(", span)]
        assert any(span.split(".", span.count(".") - expected.count("."))[-1] == expected
                   for span in written), \
            f"docs/writing-plugins.md should show {expected}; it shows {written}"


def test_closeness_is_what_the_docs_say():
    """``atol + rtol * mean(|Keras output|)``; one number serves every quantization; a dict
    must name the quantization exported."""
    import numpy as np

    from zoo.errors import ZooError

    expected = np.array([[0.0, 2.0], [4.0, 2.0]])  # mean |output| = 2
    loose = Closeness(atol=0.1, rtol=0.05)  # allowed 0.1 + 0.05 * 2 = 0.2, for any quantization
    for quantize in ("none", "int8"):
        assert loose.compare(expected, expected + 0.19, quantize)["passed"]
        failed = loose.compare(expected, expected + 0.21, quantize)
        assert not failed["passed"] and "allowed 0.2" in failed["failure"]
    per_quantization = Closeness(atol={"none": 1e-4, "float16": 1e-2})
    assert per_quantization.compare(expected, expected + 5e-3, "float16")["passed"]
    with pytest.raises(ZooError, match="gives no tolerance for --quantize int8"):
        per_quantization.compare(expected, expected, "int8")
    with pytest.raises(ValueError, match="atol must be a number >= 0"):
        Closeness(atol=-1)
