"""``zoo plugins new``: write a third-party plugin package that installs, lists and tests green.

The package follows docs/writing-plugins.md: a light hook module (``plugin.py``, no TensorFlow)
whose specs point at a heavy module (``components.py``) holding one working, serializable
component per kind asked for, plus a pytest file that checks each of them once installed (a
layer through :func:`zoo.testing.check_layer`). Two more parts can be asked for: ``task``, a
Task of the plugin's own (``task.py``: a regressor on the rows of a CSV file, its model spec
and a ``zoo data`` command writing example rows), tested with :func:`zoo.testing.check_task`;
and ``callbacks``, a ``zoo_callbacks`` hook (``callbacks.py``) that every training run calls.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from zoo.errors import ZooError
from zoo.hookspecs import CONTRACT_VERSION, KIND_HOOKS

KINDS = tuple(KIND_HOOKS)
#: What ``--kinds`` may name: one component per kind, a task of the plugin's own, callbacks.
PARTS = (*KINDS, "task", "callbacks")

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
    "task": '''zoo.Model("${short}_regressor", "${package}.task:build_regressor",
                      summary="Predicts a number from a row of numbers (a CSV file)",
                      task="${package}.task:RowRegressionTask")''',
}

#: Hooks that are not a list of specs, by part.
_OTHER_HOOKS = {
    "task": '''

@zoo.hookimpl
def zoo_data_commands(data):
    import click

    @data.command("${cli}-rows")
    @click.argument("out", type=click.Path(dir_okay=False))
    @click.option("--rows", type=click.IntRange(min=10), default=500, show_default=True)
    def rows_command(out, rows):
        """Write example rows for ${short}_regressor: x1..x4 and a target."""
        from ${package}.task import write_example  # numpy: imported only by this command

        click.echo(f"Wrote {rows} rows to {write_example(out, rows=rows)}")
''',
    "callbacks": '''

@zoo.hookimpl
def zoo_callbacks(run, task):
    from ${package}.callbacks import EpochLog  # Keras: imported only when training

    return [EpochLog(run.path / "${cli}-epochs.jsonl")]
''',
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
def test_layer_passes_the_layer_check(tmp_path):
    from zoo.testing import check_layer

    layer_class = zoo.get("layer", "${short}_scale")
    # builds, shapes and dtypes, config round trip, saved .keras reload, a training step,
    # mixed precision
    check_layer(layer_class, {"initial": 2.0}, input_shape=(2, 3), expected_output_shape=(2, 3),
                expected_num_trainable_weights=1, workdir=tmp_path)
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(np.asarray(layer_class(initial=2.0)(x)), 2 * x)
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
    "task": '''
def test_the_task_trains_resumes_evaluates_predicts_and_exports(tmp_path):
    from zoo.testing import check_task

    from ${package}.task import write_example

    rows = write_example(tmp_path / "rows.csv", rows=120)
    # one epoch, a resumed second, evaluate, predict, every declared export verified,
    # evaluate again on a task rebuilt from the run
    report = check_task("${short}_regressor", data=rows, inputs=[rows], results=120,
                        workdir=tmp_path / "check")
    assert report["monitor"] == "val_mae" and set(report["headline"]) == {"mae", "rmse"}
''',
    "callbacks": '''
def test_the_callback_logs_epochs_and_the_finished_run(tmp_path):
    import json

    from zoo.runs import Run

    from ${package}.plugin import zoo_callbacks

    run = Run(tmp_path)
    run.write("metrics.json", {"mae": 0.5, "count": 10, "headline": ["mae"]})
    (callback,) = zoo_callbacks(run=run, task=None)
    callback.on_epoch_end(0, {"loss": 2.0})
    callback.on_epoch_end(1, {"loss": 1.0})
    callback.on_run_end(run)
    written = (tmp_path / "${cli}-epochs.jsonl").read_text().splitlines()
    lines = [json.loads(line) for line in written]
    assert [line.get("epoch") for line in lines] == [1, 2, None]
    assert lines[-1]["headline"] == {"mae": 0.5} and "metrics.json" in lines[-1]["files"]
''',
}

_TASK = '''"""${dist}'s task: a number from a row of numbers, read from a CSV file.

``zoo data ${cli}-rows rows.csv`` writes example rows; ``zoo train ${short}_regressor --data
rows.csv`` trains, ``zoo evaluate / predict / export RUN`` use the run. See
docs/writing-plugins.md, "Tasks: the Task API".
"""

import csv
from pathlib import Path

import numpy as np

import zoo
from zoo.tasks import (Closeness, ExportSpec, Input, Monitor, Option, Task, TaskData, fraction,
                       positive_int, sample_rows)


def read_rows(path, target):
    """(feature column names, float32 rows, float32 targets or None) of a CSV file."""
    path = Path(path)
    if not path.is_file():
        raise zoo.ZooError(f"no CSV file at {path}; pass a .csv file with a header row")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise zoo.ZooError(f"{path} has no rows")
    columns = [name for name in rows[0] if name != target]
    try:
        values = np.array([[float(row[name]) for name in columns] for row in rows], "float32")
        targets = np.array([float(row[target]) for row in rows], "float32") \\
            if target in rows[0] else None
    except (TypeError, ValueError) as exc:
        raise zoo.ZooError(f"{path}: every column must hold numbers ({exc})") from None
    return columns, values, targets


def write_example(path, rows=500, seed=0):
    """A CSV of four numbers x1..x4 per row and a target: a fixed mix of them plus noise."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, 4)).astype("float32")
    targets = values @ np.array([2.0, -1.0, 0.5, 0.0]) + 3.0 + rng.normal(0, 0.1, rows)
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["x1", "x2", "x3", "x4", "target"])
        writer.writerows([*map(float, row), float(t)] for row, t in zip(values, targets))
    return path


class RowRegressionTask(Task):
    """A number per row of numbers: ``--data FILE.csv``, the number in ``--target``."""

    name = "${package}.task:RowRegressionTask"  # config.json names the task by this
    OPTIONS = {
        "target": Option("target", str, "CSV column holding the number to predict"),
        "val_split": Option(0.2, fraction, "share of the rows held out"),
        "units": Option(16, positive_int, "hidden units"),
        "epochs": Option(20, positive_int, "training epochs"),
        "lr": Option(0.01, float, "Adam's learning rate (constant)"),
    }
    MONITOR = Monitor("val_mae", "min")  # picks the best epoch; --patience stops on it
    HEADLINE = ("mae", "rmse")  # what zoo evaluate, zoo runs and report.html show first
    EXPORTS = {"tflite": ("none", "float16", "dynamic"), "saved_model": ("none",)}

    def load_data(self):
        import tensorflow as tf

        if not self.options["data"]:
            raise zoo.ZooError("pass --data FILE.csv: numeric columns and a target column")
        columns, values, targets = read_rows(self.options["data"], self.options["target"])
        if targets is None:
            raise zoo.ZooError(f"{self.options['data']} has no column "
                               f"{self.options['target']!r}; name it with --target")
        order = np.random.default_rng(self.options["seed"]).permutation(len(targets))
        cut = int(len(order) * (1 - self.options["val_split"]))
        train, val = order[:cut], order[cut:]

        def dataset(rows, shuffle=False):
            data = tf.data.Dataset.from_tensor_slices((values[rows], targets[rows]))
            data = data.shuffle(len(rows), seed=self.options["seed"]) if shuffle else data
            return data.batch(self.options["batch_size"])

        # classes=None: a regressor has no classes
        return TaskData(dataset(train, shuffle=True), dataset(val), classes=None,
                        info={"path": str(Path(self.options["data"]).resolve()),
                              "rows": len(targets), "columns": columns},
                        splits={"train": train.tolist(), "val": val.tolist()})

    def build_model(self, data):
        import keras

        model = zoo.get("model", self.model_name)(features=len(data.info["columns"]),
                                                  units=self.options["units"])
        model.compile(optimizer=keras.optimizers.Adam(self.options["lr"]), loss="mse",
                      metrics=[keras.metrics.MeanAbsoluteError(name="mae")])  # val_mae
        return model

    def heldout(self, run, path=None):
        """(rows, targets, where from): the run's val rows, or every row of ``path``."""
        columns, values, targets = read_rows(path or self.options["data"],
                                             self.options["target"])
        if columns != run.config["data"]["columns"]:
            raise zoo.ZooError(f"{path} has columns {columns}; the model takes "
                               f"{run.config['data']['columns']}")
        if path is None:
            rows = run.read("splits.json")["val"]
            return values[rows], targets[rows], "val split"
        if targets is None:
            raise zoo.ZooError(f"{path} needs a {self.options['target']!r} column")
        return values, targets, str(path)

    def evaluate(self, run, data=None):
        path = data if isinstance(data, (str, Path)) else None  # None or the training TaskData
        values, targets, source = self.heldout(run, path)
        error = run.load_model().predict(values, verbose=0)[:, 0] - targets
        return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error ** 2))),
                "count": len(targets), "data": source}

    def predict(self, run, inputs, **options):
        """One result per row of the CSV files in ``inputs`` (a target column is ignored)."""
        paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        found = [(path, read_rows(path, self.options["target"])[1]) for path in paths]
        values = np.concatenate([rows for _, rows in found])
        where = [f"{path}:{i + 1}" for path, rows in found for i in range(len(rows))]
        predicted = run.load_model().predict(values, verbose=0)[:, 0]
        return [{"row": row, "value": float(value)} for row, value in zip(where, predicted)]

    def export_spec(self, run, format, examples):
        values, _, source = self.heldout(run)
        keep = sample_rows(list(range(len(values))), examples)
        model = run.load_model(compile=False)
        return ExportSpec(
            function=lambda rows: {"value": model(rows, training=False)},
            inputs=(Input("rows", (values.shape[1],), "float32"),),
            examples=(values[keep],), output="value", track=(model,), examples_from=source,
            # allowed: atol + rtol * mean |Keras output|, per quantization
            comparison=Closeness(atol=1e-4, rtol={"none": 1e-5, "float16": 0.01,
                                                  "dynamic": 0.05}))


def build_regressor(features, units=16):
    """``features`` numbers in, one number out."""
    import keras

    inputs = keras.Input((features,), name="rows")
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden), name="${short}_regressor")
'''

_CALLBACKS = '''"""The callback ${dist} adds to every training run of every task (zoo_callbacks)."""

import json
from pathlib import Path

import keras

from zoo.runs import headline_figures


class EpochLog(keras.callbacks.Callback):
    """One JSON line per epoch (the epoch as history.csv numbers it) and one when the run is
    written: where an experiment tracker would log figures and upload files."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)  # appended to: --resume calls the hook again

    def on_epoch_end(self, epoch, logs=None):
        self.write({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})

    def on_run_end(self, run):
        """Called once the run's model, metrics.json, curves and report.html are written."""
        self.write({"run": str(run.path), "headline": headline_figures(run.metrics),
                    "files": sorted(p.name for p in run.path.iterdir())})

    def write(self, row):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\\n")
'''

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

`${package}/plugin.py` declares what the plugin provides (light: no TensorFlow); the modules
beside it implement it.${parts}

Publish with `python -m build` and `twine upload dist/*`; users then run
`zoo plugins install ${dist}`.
'''

#: How the README names a part, where "a KIND" does not read well.
_PART_NAMES = {"initializer": "an initializer", "task": "a task of its own",
               "callbacks": "training callbacks"}

#: What the README says about each part's module.
_README_PARTS = {
    "task": "\n\n`${package}/task.py` is a task of the plugin's own, trained as `zoo train "
            "${short}_regressor`:\n\n```\nzoo data ${cli}-rows rows.csv\nzoo train "
            "${short}_regressor --data rows.csv --out runs/rows\nzoo evaluate runs/rows\n"
            "zoo predict runs/rows rows.csv\nzoo export runs/rows\n```\n\nIts test runs "
            "`zoo.testing.check_task` on it.",
    "callbacks": "\n\n`${package}/callbacks.py` holds the callback every training run gets "
                 "(the `zoo_callbacks` hook): it writes `RUN/${cli}-epochs.jsonl`.",
}


def plugin_names(name: str) -> dict[str, str]:
    """``acme`` or ``zoo-acme`` -> distribution ``zoo-acme``, package ``zoo_acme``, short ``acme``."""
    short = re.sub(r"^zoo[-_]", "", name.strip().lower()).replace("-", "_")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", short):
        raise ZooError(f"plugin name {name!r} must start with a letter and use only letters, "
                       f"digits, '-' and '_' (for example 'acme')")
    return {"short": short, "dist": f"zoo-{short.replace('_', '-')}", "package": f"zoo_{short}"}


def new_plugin(name: str, directory=".", kinds=KINDS) -> Path:
    """Write the package ``zoo-NAME/`` under ``directory`` with one part per name in ``kinds``
    (component kinds, ``task``, ``callbacks``; a comma-separated string or a list).

    Returns the package directory. Refuses to write into an existing non-empty directory.
    """
    names = plugin_names(name)
    kinds = _check_kinds(kinds)
    root = Path(directory) / names["dist"]
    if root.exists() and any(root.iterdir()):
        raise ZooError(f"{root} already exists and is not empty; pick another --dir or name")
    components = [k for k in kinds if k in KINDS]
    fill = {**names, "contract": CONTRACT_VERSION,
            "cli": names["dist"].removeprefix("zoo-"),
            "kind_list": ", ".join(_PART_NAMES.get(k, f"a {k}") for k in kinds),
            "parts": "".join(_README_PARTS.get(k, "") for k in kinds)}
    specs = {}  # hook -> spec expressions; the task's model joins zoo_models
    for kind in kinds:
        if kind in _HOOKS:
            specs.setdefault(KIND_HOOKS[kind if kind in KINDS else "model"], []).append(
                _HOOKS[kind])
    hooks = "".join(f"\n\n@zoo.hookimpl\ndef {hook}():\n    return [" +
                    ",\n            ".join(found) + "]\n" for hook, found in specs.items())
    hooks += "".join(_OTHER_HOOKS.get(k, "") for k in kinds)
    listed = components + (["model"] if "task" in kinds else [])
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README.replace("${parts}", fill["parts"]),
        f"{names['package']}/__init__.py": '"""${dist}: a keras-zoo plugin."""\n',
        f"{names['package']}/plugin.py": _PLUGIN.replace("${hooks}", hooks),
        "tests/test_plugin.py": _TEST_FILE.replace("${expected}",
                                                   ", ".join(f'"{k}"' for k in listed))
                                          .replace("${tests}", _blocks(_TESTS, kinds)),
    }
    if components:
        files[f"{names['package']}/components.py"] = _COMPONENTS.replace(
            "${code}", _blocks(_CODE, components))
    if "task" in kinds:
        files[f"{names['package']}/task.py"] = _TASK
    if "callbacks" in kinds:
        files[f"{names['package']}/callbacks.py"] = _CALLBACKS
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(fill), encoding="utf-8")
    return root


def _blocks(snippets: dict[str, str], kinds) -> str:
    """Top-level definitions for ``kinds``, two blank lines before each (PEP 8)."""
    return "".join("\n\n" + snippets[k].lstrip("\n") for k in kinds)


def _check_kinds(kinds) -> tuple[str, ...]:
    """The parts named in ``kinds`` (component kinds in singular or plural, ``task``,
    ``callbacks``), in :data:`PARTS` order."""
    from zoo.registry import normalize_kind

    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",") if k.strip()]
    extra = {"task": "task", "tasks": "task", "callback": "callbacks", "callbacks": "callbacks"}
    chosen = {extra.get(k.strip().lower()) or normalize_kind(k) for k in kinds}
    if not chosen:
        raise ZooError(f"--kinds needs at least one of {', '.join(PARTS)}")
    return tuple(k for k in PARTS if k in chosen)
