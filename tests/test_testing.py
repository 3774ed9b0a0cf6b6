"""zoo.testing: check_layer and check_task pass what keeps the contract and name what does not,
in one line a plugin author can act on. In process, with real layers and the zoo-tinytask
fixture plugin's task (tests/fixtures), really trained, resumed and exported."""

import re
import sys

import pytest

from zoo.testing import check_layer, check_task


@pytest.fixture(scope="module")
def layers():
    """Layer classes: one that keeps the contract, and one per way of breaking it."""
    import keras

    @keras.saving.register_keras_serializable(package="zoo_test_testing")
    class Scale(keras.layers.Layer):
        def __init__(self, initial=1.0, **kwargs):
            super().__init__(**kwargs)
            self.initial = initial

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), name="scale",
                                         initializer=keras.initializers.Constant(self.initial))

        def call(self, inputs):
            return inputs * keras.ops.cast(self.scale, inputs.dtype)

        def get_config(self):
            return {**super().get_config(), "initial": self.initial}

    class Unregistered(Scale):
        pass

    @keras.saving.register_keras_serializable(package="zoo_test_testing")
    class Uncast(Scale):
        def call(self, inputs):
            return inputs * self.scale  # float32 weight times bfloat16 inputs

    @keras.saving.register_keras_serializable(package="zoo_test_testing")
    class Unused(Scale):
        def build(self, input_shape):
            super().build(input_shape)
            self.spare = self.add_weight(shape=(2,), name="spare")

    @keras.saving.register_keras_serializable(package="zoo_test_testing")
    class Forgetful(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return super().get_config()  # loses "factor": a reloaded model multiplies by 2

    @keras.saving.register_keras_serializable(package="zoo_test_testing")
    class Swallower(Scale):
        def __init__(self, initial=1.0, **kwargs):
            super().__init__(initial)  # name and dtype lost

    return {cls.__name__: cls for cls in (Scale, Unregistered, Uncast, Unused, Forgetful,
                                          Swallower)}


def test_a_layer_that_keeps_the_contract_passes_every_check(layers, tmp_path):
    report = check_layer(layers["Scale"], {"initial": 2.0}, (2, 3),
                         expected_output_shape=(None, 3), expected_num_trainable_weights=1,
                         workdir=tmp_path)
    assert report["checks"] == ["registered", "eager call", "symbolic call", "config round trip",
                                "saved and reloaded", "training step", "mixed precision"]
    assert (report["output_shape"], report["output_dtype"]) == ((2, 3), "float32")
    assert (tmp_path / "check_layer_Scale.keras").is_file()


@pytest.mark.parametrize("name, init_kwargs, expected", [
    ("Unregistered", {}, "not registered, so a saved model cannot find it"),
    ("Uncast", {}, "under mixed_bfloat16 the layer returns bfloat16 but declares float32 "
                   "symbolically; cast float32 weights"),
    ("Unused", {}, r"left trainable weight\(s\) unused\w*/spare unchanged"),
    ("Forgetful", {"factor": 3.0}, "the reloaded model's outputs differ by up to"),
    ("Swallower", {}, r"pass \*\*kwargs on to super\(\).__init__"),
])
def test_a_layer_that_breaks_the_contract_is_named_with_the_fix(layers, name, init_kwargs,
                                                                expected):
    with pytest.raises(AssertionError, match=r"^check_layer\(" + name + r"\): ") as failed:
        check_layer(layers[name], init_kwargs, (2, 3))
    assert re.search(expected, str(failed.value)), failed.value


def test_wrong_expectations_are_reported(layers):
    with pytest.raises(AssertionError, match=r"expected output shape \(2, 4\), got \(2, 3\)"):
        check_layer(layers["Scale"], {}, (2, 3), expected_output_shape=(2, 4))
    with pytest.raises(AssertionError, match="expected 2 trainable weights once built, found 1"):
        check_layer(layers["Scale"], {}, (2, 3), expected_num_trainable_weights=2)


@pytest.fixture
def tiny_task(plugin_site, monkeypatch):
    """The zoo-tinytask fixture plugin's task class (two blobs, an MLP), importable."""
    monkeypatch.syspath_prepend(str(plugin_site))
    from zoo_tinytask.task import TinyTask

    yield TinyTask
    for module in [m for m in sys.modules if m.startswith("zoo_tinytask")]:
        del sys.modules[module]


def test_check_task_trains_resumes_evaluates_predicts_and_exports(tiny_task, tmp_path):
    lines = []
    report = check_task(tiny_task, inputs=["1", "-1", "0.5"], workdir=tmp_path,
                        log=lines.append)
    assert (report["epochs"], report["resumed_epochs"], report["monitor"]) == \
        (2, 1, "val_accuracy")
    assert set(report["headline"]) == {"accuracy"} and 0 <= report["headline"]["accuracy"] <= 1
    assert report["predictions"] == 3 and set(report["exports"]) == {"tflite/none"}
    assert any(line.startswith(f"Resuming {tmp_path / 'run'} after epoch 1") for line in lines)
    assert (tmp_path / "run" / "exports" / "model-none.tflite").is_file()


def test_check_task_names_the_step_that_breaks_the_contract(tiny_task):
    from zoo.tasks import Monitor

    quiet = {"log": lambda line: None}
    with pytest.raises(AssertionError, match=r"check_task\(TinyTask\): predict fails: task "
                                             r"TinyTask .*predict returned dict"):
        check_task(tiny_task, options={"mistake": "predict_dict"}, inputs=["1"], **quiet)

    class Misjudged(tiny_task):
        name = "test_testing:Misjudged"  # not importable, but MONITOR fails first
        MONITOR = Monitor("val_mae", "min")

    with pytest.raises(AssertionError, match=r"MONITOR 'val_mae' is not in the epoch logs "
                                             r"\(history.csv has accuracy, loss, val_accuracy, "
                                             r"val_loss\)"):
        check_task(Misjudged, **quiet)

    class Unnamed(tiny_task):  # config.json names TinyTask, so a rebuilt run is not Unnamed
        pass

    with pytest.raises(AssertionError, match="set name = 'test_testing:.*Unnamed' on the Task"):
        check_task(Unnamed, **quiet)
