"""zoo.load_model: plugin objects reload in a fresh process; every failure is one clear ZooError."""

import json
import sys
import zipfile

import pytest

import zoo
from zoo.saving import saved_modules

SAVE = """
import sys
import keras
import zoo

inputs = keras.Input((4,))
x = zoo.get("layer", "acme_scale")(initial=2.0)(inputs)
outputs = keras.layers.Dense(2, kernel_initializer=zoo.get("initializer", "acme_init")())(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="sgd", loss=zoo.get("loss", "acme_loss")())
model.save(sys.argv[1])
"""

LOAD = """
import sys
import numpy as np
import zoo

model = zoo.load_model(sys.argv[1])
print(type(model.layers[1]).__module__, type(model.loss).__name__,
      float(model.predict(np.ones((1, 4)), verbose=0).sum()))

# A module of a distribution a plugin requires (zoo-acme requires click) may be imported too;
# the file is still not a model, which Keras reports as one ZooError line.
try:
    zoo.load_model(sys.argv[2])
except zoo.ZooError as error:
    print("click.testing" in sys.modules, str(error).startswith("cannot load"), "\\n" in str(error))
"""


@pytest.fixture(scope="module")
def acme_model(run_zoo, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "acme.keras"
    result = run_zoo(str(path), code=SAVE, plugins=("zoo-acme",))
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def test_a_saved_plugin_model_reloads_in_a_fresh_process(run_zoo, acme_model, tmp_path):
    assert saved_modules(acme_model)["zoo_acme.parts"].startswith("zoo_acme>")
    not_a_model = write_keras_zip(tmp_path / "other.keras", {
        "module": "click.testing", "class_name": "CliRunner", "registered_name": "CliRunner"})
    result = run_zoo(str(acme_model), str(not_a_model), code=LOAD, plugins=("zoo-acme",))
    # 4 inputs * 2.0 (scale) * 0.5 (every kernel weight) per output, two outputs
    assert result.stdout.split() == ["zoo_acme.parts", "HalfSquaredError", "8.0",
                                     "True", "True", "False"], result.stderr[-3000:]


@pytest.mark.parametrize("disabled, message", [
    (False, "needs module zoo_acme.parts (zoo_acme>Scale), which no installed zoo plugin provides; "
         "install the plugin that provides it"),
    (True, "needs module zoo_acme.parts from plugin zoo-acme, which is disabled; enable it"),
])
def test_a_missing_or_disabled_plugin_is_named(run_zoo, acme_model, disabled, message):
    code = "import sys, zoo\ntry:\n    zoo.load_model(sys.argv[1])\nexcept zoo.ZooError as e:\n" \
           "    print(e)\nprint('keras' in sys.modules)"
    result = run_zoo(str(acme_model), code=code, plugins=("zoo-acme",), site=disabled,
                     env={"ZOO_DISABLE_PLUGINS": "zoo-acme"} if disabled else {})
    error, keras_imported = result.stdout.splitlines()
    assert message in error and keras_imported == "False"  # refused before importing Keras


def write_keras_zip(path, config):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")
    return path


def test_only_plugin_modules_are_imported(tmp_path):
    config = {"module": "keras.src.models.functional", "class_name": "Functional", "config": {
        "layers": [{"module": "xmlrpc.server", "class_name": "SimpleXMLRPCServer",
                    "registered_name": "evil>Server"}]}}
    with pytest.raises(zoo.ZooError, match="needs module xmlrpc.server .*no installed zoo plugin"):
        zoo.load_model(write_keras_zip(tmp_path / "evil.keras", config))
    assert "xmlrpc.server" not in sys.modules


@pytest.mark.parametrize("content, message", [
    (None, "no model file at"),
    (b"not a zip", "is not a readable .keras file"),
    ("zip-without-config", "is not a readable .keras file"),
])
def test_a_missing_or_corrupt_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "model.keras"
    if content == "zip-without-config":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("weights.h5", b"")
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(zoo.ZooError, match=message) as err:
        zoo.load_model(path)
    assert "\n" not in str(err.value)
