"""Built-in backbones: listed without TensorFlow, built at 32 px, preprocessing equal to Keras'."""

import json
import subprocess
import sys

import numpy as np
import pytest

import zoo

BUILTIN = {
    "resnet": ["resnet50", "resnet101", "resnet152"],
    "resnet_v2": ["resnet50_v2", "resnet101_v2", "resnet152_v2"],
    "mobilenet": ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"],
    "efficientnet": [f"efficientnet_b{i}" for i in range(8)],
    "efficientnet_v2": [f"efficientnet_v2_{v}" for v in ("b0", "b1", "b2", "b3", "s", "m", "l")],
    "convnext": [f"convnext_{s}" for s in ("tiny", "small", "base", "large", "xlarge")],
    "densenet": ["densenet121", "densenet169", "densenet201"],
    "xception": ["xception"],
    "inception": ["inception_v3", "inception_resnet_v2"],
    "nasnet": ["nasnet_mobile", "nasnet_large"],
    "vgg": ["vgg16", "vgg19"],
    "tfhub": ["tfhub"],
}
PREPROCESS = {"resnet50": "caffe", "vgg19": "caffe", "resnet50_v2": "scale_-1_1",
              "mobilenet_v1": "scale_-1_1", "mobilenet_v2": "scale_-1_1", "xception": "scale_-1_1",
              "inception_v3": "scale_-1_1", "nasnet_large": "scale_-1_1", "densenet121": "torch",
              "efficientnet_b3": "none", "efficientnet_v2_s": "none", "convnext_base": "none",
              "mobilenet_v3_large": "none"}


def test_every_family_is_registered_with_its_fields():
    specs = {s.name: s for s in zoo.list("backbone") if s.plugin == "keras-zoo"}
    for family, names in BUILTIN.items():
        for name in names:
            assert specs[name].family == family, name
            assert specs[name].summary
    assert set(specs) == {n for names in BUILTIN.values() for n in names}
    for name, mode in PREPROCESS.items():
        assert specs[name].preprocess == mode, name
    assert specs["efficientnet_b7"].input_size == 600 and specs["nasnet_large"].input_size == 331
    assert all(specs[n].weights == ("imagenet", "none") for n in specs if n != "tfhub")
    matches = zoo.list("backbone", "efficientnet_v2*")
    assert {s.name for s in matches} == set(BUILTIN["efficientnet_v2"])


@pytest.mark.parametrize("alias, name", [("resnet", "resnet50"), ("mobilenet", "mobilenet_v2"),
                                         ("efficientnet", "efficientnet_b0"),
                                         ("resnet50v2", "resnet50_v2"),
                                         ("keras-zoo:vgg16", "vgg16")])
def test_aliases(alias, name):
    assert zoo.spec("backbone", alias).name == name


def test_cli_lists_backbones_without_tensorflow():
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from zoo_cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['list', 'backbones', '--json'])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "print(json.dumps({'rows': json.loads(result.output), 'heavy': heavy}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["heavy"] == []
    names = {row["name"] for row in found["rows"] if row["plugin"] == "keras-zoo"}
    assert names == {n for names in BUILTIN.values() for n in names}


@pytest.fixture(scope="module")
def mobilenet():
    return zoo.create_backbone("mobilenet", input_shape=(32, 32, 3))


def test_scratch_backbone_builds_and_runs(mobilenet):
    assert mobilenet.input_shape == (None, 32, 32, 3)
    assert mobilenet.output_shape == (None, 1, 1, 1280)
    assert mobilenet.get_layer("preprocess").mode == "scale_-1_1"
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    features = mobilenet.predict(pixels, verbose=0)
    assert features.shape == (2, 1, 1, 1280) and np.isfinite(features).all()


def test_scratch_backbone_uses_bn_momentum_0_9(mobilenet):
    import keras

    from zoo.nested import nested_layers

    norms = [l for l in nested_layers(mobilenet.get_layer("backbone"))
             if isinstance(l, keras.layers.BatchNormalization)]
    assert len(norms) > 10 and {l.momentum for l in norms} == {0.9}


def test_local_weights_path_loads_into_a_keras_application(mobilenet, tmp_path):
    path = tmp_path / "scratch.weights.h5"
    mobilenet.get_layer("backbone").save_weights(path)
    loaded = zoo.create_backbone("keras-zoo:mobilenet_v2", weights=str(path), input_shape=32)
    for got, want in zip(loaded.get_weights(), mobilenet.get_weights()):
        np.testing.assert_array_equal(got, want)
    # Loaded weights keep Keras' own BatchNorm momentum.
    assert loaded.get_layer("backbone").get_layer("bn_Conv1").momentum == 0.999


def test_efficientnet_has_its_own_preprocessing():
    model = zoo.create_backbone("efficientnet", input_shape=(32, 32, 3))
    assert model.output_shape == (None, 1, 1, 1280)
    assert model.get_layer("preprocess").mode == "none"


@pytest.mark.parametrize("name, shape, message", [
    ("xception", 32, "cannot be built for input_shape (32, 32, 3) with weights 'none': "
                     "Input size must be at least 71x71"),
    ("resnet", (32, 32, 1), "takes RGB images, so input_shape must have 3 channels"),
    ("resnet", (32, "a", 3), "input_shape must be (height, width, 3)"),
    ("resnett", 32, "did you mean 'resnet'"),
    ("tfhub", 32, "needs a model: --weights tfhub:HANDLE-or-DIR"),
])
def test_wrong_input_is_one_line(name, shape, message):
    with pytest.raises(zoo.ZooError) as err:
        zoo.create_backbone(name, input_shape=shape)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mode, keras_module", [
    ("caffe", "resnet"), ("scale_-1_1", "mobilenet_v2"), ("torch", "densenet"),
    ("scale_0_1", None), ("none", None)])
def test_preprocess_equals_keras_preprocess_input(mode, keras_module):
    import keras

    from zoo.layers import Preprocess

    pixels = np.random.default_rng(1).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(Preprocess(mode)(pixels))
    if keras_module:
        expected = getattr(keras.applications, keras_module).preprocess_input(pixels.copy())
    else:
        expected = pixels / 255 if mode == "scale_0_1" else pixels
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_plugin_preprocess_callable_is_serializable(tmp_path, monkeypatch):
    """A "module:attr" preprocess is stored by name: no Lambda layer, and in safe mode only a
    function some installed backbone declares is called."""
    import dataclasses

    import keras

    from zoo.layers import Preprocess

    function = "keras.applications.resnet:preprocess_input"
    images = keras.Input((8, 8, 3))
    keras.Model(images, Preprocess(function)(images)).save(tmp_path / "m.keras")
    with pytest.raises(zoo.ZooError, match="declared by no installed backbone"):
        keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)

    declared = [dataclasses.replace(zoo.spec("backbone", "resnet"), preprocess=function)]
    monkeypatch.setattr(zoo, "list", lambda kind=None, pattern=None: declared)
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    pixels = np.random.default_rng(2).uniform(0, 255, (1, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(pixels, verbose=0),
                               keras.applications.resnet.preprocess_input(pixels.copy()), atol=1e-4)
    with pytest.raises(zoo.ZooError, match="unknown preprocess mode"):
        Preprocess("sideways")


@pytest.mark.parametrize("mode", ["caffe", "torch"])
def test_preprocess_passes_the_layer_check(mode, tmp_path):
    """zoo.testing's layer check: serialization, a saved model reloaded, mixed precision."""
    from zoo.layers import Preprocess
    from zoo.testing import check_layer

    check_layer(Preprocess, {"mode": mode}, (2, 4, 4, 3), expected_output_shape=(2, 4, 4, 3),
                expected_num_trainable_weights=0, supports_masking=False, workdir=tmp_path)


def test_preprocess_converts_to_builtin_tflite_ops(tmp_path):
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from zoo.layers import Preprocess

    images = keras.Input((4, 4, 3), batch_size=1)
    model = keras.Model(images, [Preprocess(m)(images) for m in ("caffe", "torch", "scale_-1_1")])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops allowed
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    pixels = np.random.default_rng(3).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
    interpreter.invoke()
    got = sorted((interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()),
                 key=lambda a: float(a.mean()))
    expected = sorted(model.predict(pixels, verbose=0), key=lambda a: float(a.mean()))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-4)
