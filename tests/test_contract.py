"""The plugin contract is covered: every hook has tests and docs, and the documented plugin works.

``HOOK_TESTS`` maps each hookspec to the tests exercising it; adding a hook to ``zoo.hookspecs``
without a test here and a section in docs/writing-plugins.md fails this file.
"""

import csv
import dataclasses
import json
import re
from pathlib import Path

import zoo
from zoo import hookspecs

TESTS = Path(__file__).parent
DOCS = TESTS.parent / "docs" / "writing-plugins.md"

HOOK_TESTS = {
    "zoo_layers": ["test_contract.py::test_acme_components_of_every_kind_work",
                   "test_contract.py::test_a_plugin_written_from_the_docs_works",
                   "test_saving.py::test_a_saved_plugin_model_reloads_in_a_fresh_process"],
    "zoo_losses": ["test_contract.py::test_acme_components_of_every_kind_work",
                   "test_contract.py::test_a_plugin_written_from_the_docs_works"],
    "zoo_initializers": ["test_contract.py::test_acme_components_of_every_kind_work",
                         "test_contract.py::test_a_plugin_written_from_the_docs_works"],
    "zoo_backbones": ["test_contract.py::test_acme_components_of_every_kind_work",
                      "test_contract.py::test_a_plugin_written_from_the_docs_works",
                      "test_registry.py::test_lookup_by_name_alias_and_case"],
    "zoo_heads": ["test_contract.py::test_acme_components_of_every_kind_work",
                  "test_contract.py::test_a_plugin_written_from_the_docs_works"],
    "zoo_models": ["test_contract.py::test_acme_components_of_every_kind_work",
                   "test_contract.py::test_a_plugin_written_from_the_docs_works"],
    "zoo_commands": ["test_plugins.py::test_a_plugin_command_appears_in_help_and_runs",
                     "test_contract.py::test_a_plugin_written_from_the_docs_works"],
    "zoo_callbacks": [
        "test_plugins.py::test_plugin_callbacks_join_every_task_and_a_failing_one_is_skipped",
        "test_plugins.py::test_a_broken_plugin_is_reported_once_and_skipped",
        "test_plugins.py::test_scaffolded_plugin_installs_lists_and_passes_its_own_tests",
        "test_engine.py::test_a_bare_callback_and_one_that_raises_leave_training_complete",
        "test_contract.py::test_a_plugin_written_from_the_docs_works"],
    "zoo_data_commands": [
        "test_plugins.py::test_scaffolded_plugin_installs_lists_and_passes_its_own_tests",
        "test_contract.py::test_a_plugin_written_from_the_docs_works"],
    "zoo_after_export": ["test_contract.py::test_a_plugin_written_from_the_docs_works"],
}


def hookspec_names():
    return sorted(name for name in dir(hookspecs)
                  if hasattr(getattr(hookspecs, name), "zoo_spec"))  # pluggy's spec marker


def test_every_hookspec_has_tests_and_a_docs_section():
    docs = DOCS.read_text()
    assert hookspec_names() == sorted(HOOK_TESTS), "add the new hook to HOOK_TESTS"
    for hook, tests in HOOK_TESTS.items():
        assert re.search(rf"^### `{hook}\(", docs, flags=re.M), \
            f"docs/writing-plugins.md has no section for {hook}"
        for test in tests:
            module, _, function = test.partition("::")
            assert f"def {function}(" in (TESTS / module).read_text(), f"{test} is missing"
    assert set(hookspecs.KIND_HOOKS.values()) <= set(HOOK_TESTS)


def test_every_spec_field_and_the_contract_version_are_documented():
    docs = DOCS.read_text()
    table = docs[docs.index("## Spec fields"):]
    for spec_class in (zoo.Component, zoo.Backbone, zoo.Head, zoo.Model):
        for field in dataclasses.fields(spec_class):
            assert f"| `{field.name}` |" in table, f"{spec_class.__name__}.{field.name} undocumented"
    assert f"ZOO_CONTRACT = {zoo.CONTRACT_VERSION}" in docs
    for variable in ("ZOO_DISABLE_PLUGINS", "ZOO_LOAD_PLUGINS", "--no-plugin", "safe_mode",
                     "register_keras_serializable", "twine upload", "[project.entry-points.zoo]"):
        assert variable in docs


ACME_CHECKS = """
import numpy as np
import zoo

layer = zoo.get("layer", "acme_scale")(initial=3.0)
assert float(np.asarray(layer(np.ones((1, 2), "float32"))).sum()) == 6.0
assert float(zoo.get("loss", "acme_loss")()(np.zeros((1, 2)), np.full((1, 2), 2.0))) == 2.0
assert np.all(np.asarray(zoo.get("initializer", "acme_init")()((2, 2))) == 0.5)
backbone = zoo.create_backbone("acme_tiny")  # 32 px, scale_0_1 preprocessing inside
features = backbone.predict(np.full((1, 32, 32, 3), 255.0), verbose=0)
assert features.shape == (1, 16), features.shape
head = zoo.get("head", "acme_head")(3)
assert np.asarray(head(features)).shape == (1, 3)
model = zoo.get("model", "acme_mlp")(num_classes=4)
assert model.predict(np.zeros((1, 8)), verbose=0).shape == (1, 4)
print("ok")
"""


def test_acme_components_of_every_kind_work(run_zoo):
    result = run_zoo(code=ACME_CHECKS, plugins=("zoo-acme",))
    assert result.stdout.strip() == "ok", result.stderr[-3000:]


def docs_files(markdown: str) -> dict[str, str]:
    """The code blocks of the docs marked ``file=PATH``, by path."""
    blocks = re.findall(r"^```\w+ file=(\S+)\n(.*?)^```$", markdown, flags=re.M | re.S)
    return dict(blocks)


LOAD = """
import sys
import numpy as np
import zoo

model = zoo.load_model(sys.argv[1])
assert "zoo_tinynets.parts" in sys.modules  # imported by load_model, not by this script
assert [type(layer).__name__ for layer in model.layers][2] == "ChannelScale"
assert type(model.loss).__name__ == "SmoothL1" and model.loss.beta == 0.5
probabilities = model.predict(np.full((1, 32, 32, 3), 128.0), verbose=0)
np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
print("reloaded")
"""

#: The docs' custom task from Python, in a fresh process: train, evaluate, predict, export.
TABULAR = """
import json, sys
import zoo

table, out = sys.argv[1], sys.argv[2]
run = zoo.train("tabular_mlp", data=table, epochs=25, seed=0, out=out, log=lambda line: None)
rows = run.predict([table], top_k=2)
exports = {fmt: zoo.export(run.path, format=fmt) for fmt in ("tflite", "saved_model")}
print(json.dumps({"metrics": run.metrics, "evaluate": run.evaluate(), "rows": rows,
                  "labels": run.labels, "exports": exports}))
"""

#: The trained models and their TFLite files, reloaded in a fresh process and run side by side
#: as an app runs them; the regressor's int8 file gives uint8 values an app dequantizes.
RELOAD = """
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
import zoo
from zoo.data import load_image

def tflite(path, x):
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    scale, zero_point = inp["quantization"]
    if scale:
        x = np.round(x / scale + zero_point)
    interpreter.set_tensor(inp["index"], x[None].astype(inp["dtype"]))
    interpreter.invoke()
    value = interpreter.get_tensor(out["index"])[0]
    scale, zero_point = out["quantization"]
    kind = (out["name"], np.dtype(out["dtype"]).name)
    return ((value.astype("float32") - zero_point) * scale if scale else value), kind

agree, kinds = {}, {}
for run, x, name in ((sys.argv[1], np.full((32, 32, 3), 200.0, "float32"), "model-none"),
                     (sys.argv[2], np.linspace(0.1, 1000.0, 13).astype("float32"), "model-none"),
                     (sys.argv[3], load_image(sys.argv[4], (32, 32)).astype("float32"),
                      "model-int8")):
    keras_scores = zoo.load_model(run + "/model.keras").predict(x[None], verbose=0)[0]
    got, kinds[run] = tflite(f"{run}/exports/{name}.tflite", x)
    agree[run] = float(np.abs(keras_scores - got).max())
print(json.dumps({"agree": agree, "kinds": kinds}))
"""


def test_a_plugin_written_from_the_docs_works(run_zoo, tmp_path):
    package = tmp_path / "zoo-tinynets"
    files = docs_files(DOCS.read_text())
    assert {"pyproject.toml", "zoo_tinynets/plugin.py", "zoo_tinynets/parts.py",
            "zoo_tinynets/tabular.py", "zoo_tinynets/regression.py",
            "tests/test_tinynets.py"} <= set(files)
    for relative, text in files.items():
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text(text)

    # `zoo plugins install PATH` runs pip in zoo's own environment; PIP_TARGET sends it to a
    # private directory instead of .venv. (PIP_NO_BUILD_ISOLATION=0 *disables* isolation.)
    site = tmp_path / "site"
    site.mkdir()
    plugins = ("zoo-tinynets",)
    with_site = {"path": [site], "plugins": plugins}
    install = run_zoo("plugins", "install", str(package), **with_site, env={
        "PIP_TARGET": str(site), "PIP_NO_DEPS": "1", "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_QUIET": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert install.returncode == 0, install.stderr[-3000:]
    assert "Installed." in install.stdout

    rows = json.loads(run_zoo("list", "--json", **with_site).stdout)
    mine = sorted((row["kind"], row["name"]) for row in rows if row["plugin"] == "zoo-tinynets")
    assert mine == [("backbone", "tiny_cnn"), ("head", "mlp_head"),
                    ("initializer", "fan_in_uniform"), ("layer", "channel_scale"),
                    ("loss", "smooth_l1"), ("model", "tabular_mlp"), ("model", "tiny_classifier"),
                    ("model", "tiny_regressor")]
    table = run_zoo("list", **with_site).stdout
    assert re.search(r"^  channel_scale +zoo-tinynets", table, flags=re.M)
    plugin_rows = {r["name"]: r for r in json.loads(
        run_zoo("plugins", "list", "--json", **with_site).stdout)}
    assert (plugin_rows["zoo-tinynets"]["version"], plugin_rows["zoo-tinynets"]["status"]) == \
        ("0.4.0", "ok")
    assert "zoo-tinynets" in run_zoo("plugins", "list", **with_site).stdout
    assert run_zoo("tinynets-sizes", **with_site).stdout == "tiny_cnn: 32 px\n"

    # The docs' own tests save a model built with the plugin's layer and loss through zoo.get;
    # reload that file in a fresh process, where nothing has imported the plugin's modules.
    # They also put the layer through zoo.testing.check_layer and the regression task through
    # check_task (trained, resumed, evaluated, predicted, every declared export verified).
    own_tests = run_zoo("-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "run"),
                        str(package / "tests"), **with_site, timeout=300,
                        code="import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))")
    assert own_tests.returncode == 0, own_tests.stdout[-3000:]
    assert "7 passed" in own_tests.stdout, own_tests.stdout[-3000:]
    (checked,) = (tmp_path / "run").glob("test_the_regression_task*0/check/run")
    # the plugin's zoo_after_export hook saw each of check_task's five exports
    assert [line.split()[:2] for line in (checked / "tinynets-exports.txt").read_text()
            .splitlines()] == [["tflite", q] for q in ("none", "float16", "dynamic", "int8")] + \
        [["saved_model", "none"]]
    (saved,) = (tmp_path / "run").glob("test_a_model_using*0/model.keras")  # not *current
    loaded = run_zoo(str(saved), code=LOAD, **with_site)
    assert loaded.stdout.strip() == "reloaded", loaded.stderr[-3000:]

    # The whole image model, through the CLI: train (the built-in image task; its default loss
    # comes from zoo-transfer), evaluate, predict, export.
    from zoo.data import write_digits

    digits = Path(write_digits(tmp_path / "digits", limit=12)["path"])
    cli = {"path": [site], "plugins": ("zoo-tinynets", "zoo-transfer"), "timeout": 300}
    image_run = tmp_path / "runs" / "tiny"
    trained = run_zoo("train", "tiny_classifier", "--data", str(digits), "--epochs", "1",
                      "--out", str(image_run), **cli)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert f"Run written to {image_run}" in trained.stdout
    # the plugin's zoo_callbacks hook logged the epoch
    assert len((image_run / "tinynets-epochs.csv").read_text().splitlines()) == 2
    metrics = json.loads(run_zoo("evaluate", str(image_run), "--json", **cli).stdout)
    assert 0 <= metrics["accuracy"] <= 1 and metrics["count"] > 0
    one_image = next((digits / "7").iterdir())
    (predicted,) = json.loads(run_zoo("predict", str(image_run), str(one_image), "--json",
                                      **cli).stdout)
    assert predicted["class"] in [str(d) for d in range(10)] and 0 < predicted["probability"] <= 1
    exported = run_zoo("export", str(image_run), "--json", **cli)  # saved_model: check_task's
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert json.loads(exported.stdout)["passed"]

    # The custom task, through Python: it learns (wine has 3 classes: chance is about 0.4).
    from sklearn.datasets import load_wine

    wine = load_wine()
    table = tmp_path / "wine.csv"
    table.write_text(",".join([*wine.feature_names, "label"]) + "\n" + "".join(
        ",".join([*map(str, row), wine.target_names[t]]) + "\n"
        for row, t in zip(wine.data, wine.target)))
    tabular_run = tmp_path / "runs" / "wine"
    done = run_zoo(str(table), str(tabular_run), code=TABULAR, **cli)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["metrics"]["accuracy"] >= 0.8 and result["evaluate"]["count"] > 30
    assert len(result["rows"]) == 178 and result["rows"][0]["class"] in result["labels"]
    assert result["rows"][0]["row"] == f"{table}:1" and len(result["rows"][0]["top"]) == 2
    assert all(report["passed"] for report in result["exports"].values())
    assert (tabular_run / "preprocessor.json").is_file()
    assert (tabular_run / "exports" / "labels.txt").read_text().split() == result["labels"]
    # the same task from the CLI: evaluate on a file, predict rows
    evaluated = run_zoo("evaluate", str(tabular_run), "--data", str(table), **cli)
    assert evaluated.returncode == 0 and "178 examples" in evaluated.stdout, evaluated.stderr

    held_out = json.loads((checked / "splits.json").read_text())["val"][0][0]  # a digit image
    reloaded = run_zoo(str(image_run), str(tabular_run), str(checked), held_out, code=RELOAD,
                       **cli)
    assert reloaded.returncode == 0, reloaded.stderr[-3000:]
    result = json.loads(reloaded.stdout.splitlines()[-1])
    assert result["agree"][str(image_run)] < 1e-4 and result["agree"][str(tabular_run)] < 1e-4
    # the regressor's int8 file: a uint8 output named Identity, dequantized as the docs say
    assert result["kinds"][str(checked)] == ["Identity", "uint8"]
    assert result["agree"][str(checked)] < 0.05  # the docs' int8 tolerance

    # The image regressor through the CLI, on the data its zoo data command writes: --patience
    # stops on its declared figure (a huge learning rate makes val_mae jump about), and
    # zoo evaluate prints its headline figures.
    ink = tmp_path / "ink"
    wrote = run_zoo("data", "tinynets-ink", str(ink), "--per-class", "8", **cli)
    assert wrote.returncode == 0 and (ink / "ink.csv").is_file(), wrote.stderr[-3000:]
    ink_run = tmp_path / "runs" / "ink"
    trained = run_zoo("train", "tiny_regressor", "--data", str(ink / "ink.csv"), "--epochs", "40",
                      "--patience", "2", "--lr", "0.5", "--out", str(ink_run), **cli)
    assert trained.returncode == 0, trained.stderr[-3000:]
    summary = json.loads((ink_run / "metrics.json").read_text())["training"]
    assert summary["monitor"] == "val_mae" and summary["stopped_early"]
    history = [float(row["val_mae"]) for row in csv.DictReader(
        (ink_run / "history.csv").read_text().splitlines())]
    assert len(history) == summary["epochs"] == summary["best_epoch"] + 2 < 40
    assert min(history) == history[summary["best_epoch"] - 1]  # the last 2 epochs did not beat it
    evaluated = run_zoo("evaluate", str(ink_run), **cli)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert re.search(r"^Held-out \(val split, \d+ examples\): mae \d+\.\d{4}, rmse \d+\.\d{4}$",
                     evaluated.stdout, flags=re.M), evaluated.stdout
