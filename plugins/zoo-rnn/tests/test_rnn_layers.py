"""zoo-rnn's layers through zoo.testing.check_layer, and what masking must mean for them."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo
from zoo.testing import check_layer
from zoo_rnn import layers


@pytest.mark.parametrize("mode, width", [("mean", 3), ("max", 3), ("mean_max", 6)])
def test_masked_pooling_passes_the_layer_check(mode, width, tmp_path):
    check_layer(layers.MaskedGlobalPooling, {"mode": mode}, (2, 5, 3),
                expected_output_shape=(2, width), expected_num_trainable_weights=0,
                supports_masking=True, run_training_check=False, workdir=tmp_path)


def test_attention_pooling_passes_the_layer_check(tmp_path):
    check_layer(layers.AttentionPooling, {"units": 4}, (2, 5, 3), expected_output_shape=(2, 3),
                expected_num_trainable_weights=3, supports_masking=True, workdir=tmp_path)


def _padded_batch():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], dtype=bool)
    return values, mask


def test_masked_pooling_ignores_padded_steps():
    values, mask = _padded_batch()
    pooled = keras.ops.convert_to_numpy(layers.MaskedGlobalPooling("mean_max")(values, mask=mask))
    for row, keep in zip(range(2), mask.sum(axis=1)):
        real = values[row, :keep]
        np.testing.assert_allclose(pooled[row], np.concatenate([real.mean(0), real.max(0)]),
                                   rtol=1e-5)


def test_attention_pooling_gives_padding_no_weight():
    values, mask = _padded_batch()
    layer = layers.AttentionPooling(8, return_attention=True)
    pooled, attention = (keras.ops.convert_to_numpy(t) for t in layer(values, mask=mask))
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)
    assert attention[~mask].max() < 1e-6
    np.testing.assert_allclose(pooled, np.einsum("bt,btf->bf", attention, values), rtol=1e-4)
    # garbage in the padded steps changes nothing
    noisy = values.copy()
    noisy[~mask] = 100.0
    again = keras.ops.convert_to_numpy(layer(noisy, mask=mask)[0])
    np.testing.assert_allclose(again, pooled, rtol=1e-5)


def test_models_and_layers_are_registered_through_the_plugin():
    assert zoo.spec("model", "lstm_classifier").task == "zoo_rnn.tasks:TextClassificationTask"
    assert zoo.spec("model", "lstm_forecaster").plugin == "zoo-rnn"
    assert zoo.get("layer", "attention_pooling") is layers.AttentionPooling
    for name in ("gru_classifier", "bilstm_attention"):
        model = zoo.get("model", name)(num_classes=3, vocab_size=50, sequence_length=7)
        probabilities = model.predict(np.array([[4, 9, 2, 0, 0, 0, 0]], "int32"), verbose=0)
        np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)


def test_hook_module_and_listing_do_not_import_tensorflow():
    script = ("import sys, zoo, zoo_rnn.plugin, zoo_rnn.tasks, zoo_rnn.datasets; "
              "zoo.list('model'); "
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1000:]


def test_hashed_bigrams_pair_neighbours_and_keep_padding():
    layer = layers.HashedBigrams(buckets=50)
    ids = np.array([[3, 4, 3, 4, 0, 0], [4, 3, 7, 0, 0, 0]], dtype="int32")
    pairs = keras.ops.convert_to_numpy(layer(ids))
    assert pairs.shape == (2, 5)
    assert pairs[0, 0] == pairs[0, 2] != pairs[1, 0]  # (3, 4) twice; (4, 3) is another bigram
    assert (pairs[0, 3:] == 0).all() and (pairs[1, 2:] == 0).all()
    assert ((pairs[pairs > 0] >= 1) & (pairs[pairs > 0] < 50)).all()
    restored = layers.HashedBigrams.from_config(layer.get_config())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(ids)), pairs)
