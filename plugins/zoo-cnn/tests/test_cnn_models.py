"""A model built from zoo-cnn's parts survives save, ``zoo.load_model`` in a fresh process and
builtin-op TFLite conversion; a zoo-cnn backbone learns digits from scratch."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo_cnn import layers


@pytest.fixture(scope="module")
def all_parts_model():
    """Every zoo-cnn layer and initializer in one small 32-px model, run once in training mode so
    the BatchNorm statistics are not the identity."""
    keras.utils.set_random_seed(0)
    images = keras.Input((32, 32, 3))
    x = zoo.create_backbone("se_resnet20", input_shape=(32, 32, 3))(images)
    x = layers.DepthwiseSeparableBlock(32, strides=2, expansion=3, se_ratio=0.25)(x)
    x = layers.DepthwiseSeparableBlock(32, expansion=2, drop_path=0.2)(x)
    x = layers.DepthwiseSeparableBlock(16)(x)
    x = layers.BlurPool2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(
        3, activation="softmax", kernel_initializer=zoo.get("initializer", "scaled_orthogonal")(
            "linear", seed=0))(x)
    model = keras.Model(images, outputs)
    model(np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)), training=True)
    return model


@pytest.fixture(scope="module")
def probe_images():
    return np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")


def test_reloads_with_zoo_load_model_in_a_fresh_process(all_parts_model, probe_images, tmp_path):
    path = tmp_path / "model.keras"
    all_parts_model.save(path)
    np.save(tmp_path / "x.npy", probe_images)
    script = textwrap.dedent(f"""
        import sys, numpy as np, zoo
        model = zoo.load_model({str(path)!r})
        assert "zoo_cnn.layers" in sys.modules
        np.save({str(tmp_path / 'y.npy')!r}, model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = all_parts_model.predict(probe_images, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)


def test_converts_to_builtin_op_tflite_that_agrees_with_keras(all_parts_model, probe_images,
                                                              tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    all_parts_model.export(tmp_path / "saved", format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    expected = all_parts_model.predict(probe_images, verbose=0)
    for image, want in zip(probe_images, expected):
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(out["index"])[0], want, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "wrn_16_4", "mobilenet_tiny",
                                  "plain_cnn"])
def test_backbones_build_through_the_core_into_32px_feature_maps(name):
    model = zoo.create_backbone(name, weights="none")
    assert model.input_shape == (None, 32, 32, 3)
    assert model.get_layer("preprocess") is not None
    features = model.get_layer("backbone").output_shape
    assert len(features) == 4 and features[1] <= 8


def test_plain_cnn_learns_digits_from_scratch():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.repeat(digits.images[..., None] * (255 / 16), 3, axis=-1)
    images = tf.image.resize(images, (32, 32)).numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, stratify=digits.target, random_state=0)
    keras.utils.set_random_seed(0)
    backbone = zoo.create_backbone("plain_cnn", weights="none")
    model = keras.Sequential([backbone, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=2, verbose=0)
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.85


def test_backbone_loads_a_local_weights_file(tmp_path):
    trained = zoo.create_backbone("resnet20", weights="none")
    path = tmp_path / "resnet20.weights.h5"
    trained.get_layer("backbone").save_weights(path)
    again = zoo.create_backbone("resnet20", weights=str(path))
    for mine, theirs in zip(trained.get_layer("backbone").weights,
                            again.get_layer("backbone").weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine),
                                      keras.ops.convert_to_numpy(theirs))
