"""``zoo plugins new``: write a third-party plugin package that installs, lists and tests green.

The package follows docs/writing-plugins.md: a light hook module (``plugin.py``, no TensorFlow)
whose specs point at a heavy module (``components.py``) holding one working, serializable
component per kind asked for, plus a pytest file that checks each of them once installed.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from zoo.errors import ZooError
from zoo.hookspecs import CONTRACT_VERSION, KIND_HOOKS

KINDS = tuple(KIND_HOOKS)

# Per kind: the hook body (spec), the heavy code, and the test. $short is the plugin's short name
# (used to prefix component names), $package its import package, $dist its distribution.
_HOOKS = {
    "layer": '''zoo.Component("${short}_scale", "${package}.components:Scale",
                          summary="Multiplies its input by one learned scalar")''',
    "loss": '''zoo.Component("${short}_loss", "${package}.components:HalfSquaredError",
                          summary="Half the mean squared error")''',
    "initializer": '''zoo.Component("${short}_init", "${package}.components:ScaledUniform",
                          summary="Uniform in [-scale, scale]")''',
    "backbone": '''zoo.Backbone("${short}_tiny", "${package}.components:build_backbone",
                         summary="Two-convolution toy backbone", input_size=32,
                         weights=("none",), preprocess="scale_0_1")''',
    "head": '''zoo.Head("${short}_head", "${package}.components:build_head",
                     summary="Dropout and a softmax Dense layer", task="classification")''',
    "model": '''zoo.Model("${short}_cnn", "${package}.components:build_model",
                      summary="A small CNN classifier for raw RGB images",
                      task="image_classification")''',
}

_CODE = {
    "layer": '''
@keras.saving.register_keras_serializable(package="${package}")
class Scale(keras.layers.Layer):
    """Multiplies its input by one learned scalar."""

    def __init__(self, initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = initial

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), name="scale",
                                     initializer=keras.initializers.Constant(self.initial))

    def call(self, inputs):
        # Cast so the layer also works under mixed precision (float16 inputs, float32 weight).
        return inputs * keras.ops.cast(self.scale, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}
''',
    "loss": '''
@keras.saving.register_keras_serializable(package="${package}")
class HalfSquaredError(keras.losses.Loss):
    """Half the mean squared error."""

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)
''',
    "initializer": '''
@keras.saving.register_keras_serializable(package="${package}")
class ScaledUniform(keras.initializers.Initializer):
    """Uniform in [-scale, scale]."""

    def __init__(self, scale=0.05, seed=None):
        self.scale = scale
        self.seed = seed

    def __call__(self, shape, dtype=None):
        return keras.random.uniform(shape, -self.scale, self.scale, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"scale": self.scale, "seed": self.seed}
''',
    "backbone": '''
def build_backbone(input_shape, weights=None):
    """Images (already scaled to 0-1 by keras-zoo) to a feature vector."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="${short}_tiny")
    if weights:  # None, or a local file keras-zoo resolved for us
        model.load_weights(weights)
    return model
''',
    "head": '''
def build_head(num_outputs, dropout=0.0, **options):
    """Features to class probabilities."""
    return keras.Sequential([keras.layers.Dropout(dropout),
                             keras.layers.Dense(num_outputs, activation="softmax")],
                            name="${short}_head")
''',
    "model": '''
def build_model(num_classes=10, input_shape=(32, 32, 3), **options):
    """A small CNN that takes raw RGB pixels 0-255 and returns class probabilities."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="${short}_cnn")
''',
}

_TESTS = {
    "layer": '''
def test_layer_round_trips_through_a_saved_model(tmp_path):
    layer = zoo.get("layer", "${short}_scale")(initial=2.0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    reloaded = zoo.load_model(tmp_path / "m.keras")
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), 2 * x)
''',
    "loss": '''
def test_loss_is_half_the_mse():
    loss = zoo.get("loss", "${short}_loss")()
    assert float(loss(np.zeros((2, 3)), np.full((2, 3), 2.0))) == 2.0
''',
    "initializer": '''
def test_initializer_stays_in_range():
    values = np.asarray(zoo.get("initializer", "${short}_init")(scale=0.1)((20, 20)))
    assert values.shape == (20, 20) and np.abs(values).max() <= 0.1
''',
    "backbone": '''
def test_backbone_maps_images_to_features():
    backbone = zoo.get("backbone", "${short}_tiny")((32, 32, 3), None)
    assert backbone(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 16)
''',
    "head": '''
def test_head_outputs_probabilities():
    head = zoo.get("head", "${short}_head")(4)
    probabilities = np.asarray(head(np.ones((2, 16), "float32")))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
''',
    "model": '''
def test_model_builds_and_predicts():
    model = zoo.get("model", "${short}_cnn")(num_classes=3)
    assert model.predict(np.zeros((1, 32, 32, 3)), verbose=0).shape == (1, 3)
''',
}

_PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "${dist}"
version = "0.1.0"
description = "A keras-zoo plugin: ${kind_list}."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["keras-zoo>=0.2", "keras>=3"]

[project.optional-dependencies]
test = ["pytest"]

# keras-zoo finds plugins through this entry-point group; the value is the light hook module.
[project.entry-points.zoo]
${short} = "${package}.plugin"

[tool.setuptools.packages.find]
include = ["${package}*"]
'''

_PLUGIN = '''"""Hook module of ${dist}: specs only. Keep it light: no TensorFlow or Keras imports here."""

import zoo

ZOO_CONTRACT = ${contract}
${hooks}'''

_COMPONENTS = '''"""The Keras objects behind ${dist}'s specs; imported only when a component is used."""

import keras
${code}'''

_TEST_FILE = '''"""Checks every component of ${dist}; run with pytest once the package is installed."""

import keras
import numpy as np

import zoo


def test_one_component_of_each_kind_is_listed():
    kinds = sorted(spec.kind for spec in zoo.list() if spec.plugin == "${dist}")
    assert kinds == sorted([${expected}])
${tests}'''

_README = '''# ${dist}

A keras-zoo plugin providing ${kind_list}.

```
zoo plugins install -e .      # or: pip install -e .
zoo list --json | grep ${dist}
python -m pytest tests
```

`${package}/plugin.py` declares the components (light: no TensorFlow);
`${package}/components.py` implements them. Publish with `python -m build` and
`twine upload dist/*`; users then run `zoo plugins install ${dist}`.
'''


def plugin_names(name: str) -> dict[str, str]:
    """``acme`` or ``zoo-acme`` -> distribution ``zoo-acme``, package ``zoo_acme``, short ``acme``."""
    short = re.sub(r"^zoo[-_]", "", name.strip().lower()).replace("-", "_")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", short):
        raise ZooError(f"plugin name {name!r} must start with a letter and use only letters, "
                       f"digits, '-' and '_' (for example 'acme')")
    return {"short": short, "dist": f"zoo-{short.replace('_', '-')}", "package": f"zoo_{short}"}


def new_plugin(name: str, directory=".", kinds=KINDS) -> Path:
    """Write the package ``zoo-NAME/`` under ``directory`` with one component per kind in ``kinds``.

    Returns the package directory. Refuses to write into an existing non-empty directory.
    """
    names = plugin_names(name)
    kinds = _check_kinds(kinds)
    root = Path(directory) / names["dist"]
    if root.exists() and any(root.iterdir()):
        raise ZooError(f"{root} already exists and is not empty; pick another --dir or name")
    fill = {**names, "contract": CONTRACT_VERSION,
            "kind_list": ", ".join(f"a {k}" for k in kinds)}
    hooks = "".join(f"\n\n@zoo.hookimpl\ndef {KIND_HOOKS[k]}():\n    return [{_HOOKS[k]}]\n"
                    for k in kinds)
    expected = ", ".join(f'"{k}"' for k in kinds)
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{names['package']}/__init__.py": '"""${dist}: a keras-zoo plugin."""\n',
        f"{names['package']}/plugin.py": _PLUGIN.replace("${hooks}", hooks),
        f"{names['package']}/components.py":
            _COMPONENTS.replace("${code}", _blocks(_CODE, kinds)),
        "tests/test_plugin.py": _TEST_FILE.replace("${expected}", expected)
                                          .replace("${tests}", _blocks(_TESTS, kinds)),
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(fill), encoding="utf-8")
    return root


def _blocks(snippets: dict[str, str], kinds) -> str:
    """Top-level definitions for ``kinds``, two blank lines before each (PEP 8)."""
    return "".join("\n\n" + snippets[k].lstrip("\n") for k in kinds)


def _check_kinds(kinds) -> tuple[str, ...]:
    from zoo.registry import normalize_kind

    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",") if k.strip()]
    chosen = {normalize_kind(k) for k in kinds}
    if not chosen:
        raise ZooError(f"--kinds needs at least one of {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in chosen)
