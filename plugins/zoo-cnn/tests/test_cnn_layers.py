"""zoo-cnn layers through zoo.testing.check_layer (serialization, a saved model reloaded, a
training step, mixed precision), plus the initializers and LSUV."""

import keras
import numpy as np
import pytest

import zoo
from zoo.testing import check_layer
from zoo_cnn import initializers, layers


@pytest.mark.parametrize("layer_class, init_kwargs, input_shape, output_shape, counts", [
    (layers.SqueezeExcite, {"ratio": 0.5, "min_units": 2}, (2, 4, 4, 8), (2, 4, 4, 8),
     {"expected_num_trainable_weights": 4}),
    (layers.StochasticDepth, {"rate": 0.5, "seed": 3}, (4, 4, 4, 3), (4, 4, 4, 3),
     {"expected_num_trainable_weights": 0, "expected_num_seed_generators": 1}),
    (layers.BlurPool2D, {"filter_size": 3, "strides": 2}, (2, 8, 8, 3), (2, 4, 4, 3),
     {"expected_num_trainable_weights": 0}),
    # projection, SE, drop path and anti-aliasing: conv1, conv2, project, 3 BN (gamma, beta),
    # SE (2 dense x 2); one L2 loss per convolution
    (layers.ResidualBlock, {"filters": 8, "strides": 2, "se_ratio": 0.5, "drop_path": 0.2,
                            "antialias": True, "kernel_regularizer": "l2"},
     (2, 8, 8, 4), (2, 4, 4, 8),
     {"expected_num_trainable_weights": 13, "expected_num_losses": 3,
      "expected_num_seed_generators": 1}),
    (layers.ResidualBlock, {"filters": 4}, (2, 6, 6, 4), (2, 6, 6, 4),
     {"expected_num_trainable_weights": 6}),
    (layers.DepthwiseSeparableBlock,
     {"filters": 4, "expansion": 2, "se_ratio": 0.5, "drop_path": 0.1}, (2, 6, 6, 4),
     (2, 6, 6, 4), {"expected_num_trainable_weights": 13, "expected_num_seed_generators": 1}),
    (layers.DepthwiseSeparableBlock, {"filters": 6, "strides": 2}, (2, 6, 6, 4), (2, 3, 3, 6),
     {"expected_num_trainable_weights": 6}),
], ids=["squeeze_excite", "stochastic_depth", "blur_pool", "residual_projection_se_drop_path",
        "residual_identity", "inverted_residual", "separable_v1_strided"])
def test_layer_passes_the_layer_check(layer_class, init_kwargs, input_shape, output_shape,
                                      counts, tmp_path):
    check_layer(layer_class, init_kwargs, input_shape, expected_output_shape=output_shape,
                workdir=tmp_path, **counts)


def test_stochastic_depth_drops_whole_samples_and_keeps_the_mean():
    layer = layers.StochasticDepth(rate=0.5, seed=1)
    out = keras.ops.convert_to_numpy(layer(np.ones((2000, 2, 2, 1), "float32"), training=True))
    per_sample = out.reshape(2000, -1)
    assert set(np.unique(per_sample)) <= {0.0, 2.0}
    assert (per_sample.min(axis=1) == per_sample.max(axis=1)).all()  # all or nothing per sample
    assert abs(per_sample.mean() - 1.0) < 0.1
    assert (keras.ops.convert_to_numpy(layer(np.ones((3, 2, 2, 1)), training=False)) == 1).all()


def test_blur_pool_is_a_low_pass_filter():
    """A checkerboard (highest frequency) averages out; a constant image stays constant."""
    checker = (np.indices((8, 8)).sum(axis=0) % 2).astype("float32")[None, :, :, None]
    blurred = keras.ops.convert_to_numpy(layers.BlurPool2D()(checker))
    assert blurred.std() < 0.15 * checker.std()
    flat = keras.ops.convert_to_numpy(layers.BlurPool2D()(np.full((1, 8, 8, 2), 3.0, "float32")))
    np.testing.assert_allclose(flat, 3.0, rtol=1e-6)


def test_layers_are_registered_through_the_plugin():
    assert zoo.get("layer", "se_block") is layers.SqueezeExcite
    assert zoo.get("layer", "drop_path") is layers.StochasticDepth
    assert zoo.spec("backbone", "resnet20").plugin == "zoo-cnn"
    assert zoo.get("initializer", "scaled_orthogonal") is initializers.ScaledOrthogonal


@pytest.mark.parametrize("shape", [(3, 3, 8, 16), (3, 3, 16, 8), (32, 10)])
def test_scaled_orthogonal_is_orthogonal_times_the_gain(shape):
    init = initializers.ScaledOrthogonal("relu", seed=1)
    matrix = keras.ops.convert_to_numpy(init(shape)).reshape(-1, shape[-1])
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    np.testing.assert_allclose(gram, 2.0 * np.eye(len(gram)), atol=1e-5)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(shape)),
                                  keras.ops.convert_to_numpy(init(shape)))


def test_delta_orthogonal_puts_an_orthogonal_matrix_at_the_centre_tap():
    kernel = keras.ops.convert_to_numpy(initializers.DeltaOrthogonal("linear", seed=0)((3, 3, 4, 4)))
    np.testing.assert_allclose(kernel[1, 1].T @ kernel[1, 1], np.eye(4), atol=1e-5)
    kernel[1, 1] = 0
    assert not kernel.any()
    layer = keras.layers.Conv2D(4, 3, kernel_initializer=initializers.DeltaOrthogonal(seed=0))
    clone = keras.layers.Conv2D.from_config(layer.get_config())
    assert isinstance(clone.kernel_initializer, initializers.DeltaOrthogonal)


def test_lsuv_init_gives_unit_variance_outputs_through_blocks():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=keras.initializers.RandomNormal(stddev=5.0)),
        layers.ResidualBlock(8, strides=2, se_ratio=0.5),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, kernel_initializer=keras.initializers.RandomNormal(stddev=0.001)),
    ])
    batch = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    stds = initializers.lsuv_init(model, batch, tolerance=0.02, seed=0)
    # stem conv, block conv1/conv2/projection, the SE's two dense layers, the classifier
    assert len(stds) == 7
    for path, std in stds.items():
        if "/se/" not in path:  # the SE's sigmoid gate and tiny pooled input need not be unit
            assert abs(std - 1.0) <= 0.02, (path, std)


def test_hook_module_and_listing_do_not_import_tensorflow():
    import subprocess
    import sys

    script = ("import sys, zoo, zoo_cnn.plugin; zoo.list('backbone'); "
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1000:]
