"""zoo-transfer: heads and losses are registered, behave, learn, and survive save/reload."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import zoo
from zoo_transfer.heads import DenseHead
from zoo_transfer.losses import FocalCrossentropy, LabelSmoothedCrossentropy, StandardizedHuber

HEADS = ("classifier", "multilabel", "regression")
LOSSES = ("label_smoothed_crossentropy", "focal_crossentropy", "standardized_huber")


def test_registered_through_the_hooks():
    heads = {s.name: s for s in zoo.list("head") if s.plugin == "zoo-transfer"}
    assert set(heads) == set(HEADS)
    # one head per kind of output an image task trains (zoo.tasks.FINETUNE_TASKS)
    assert {name: spec.task for name, spec in heads.items()} == {
        "classifier": "classification", "multilabel": "multilabel", "regression": "regression"}
    assert {s.name for s in zoo.list("loss") if s.plugin == "zoo-transfer"} == set(LOSSES)
    assert zoo.spec("loss", "focal").name == "focal_crossentropy"


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("shape", [(3, 4, 4, 8), (3, 8)])
def test_heads_map_features_to_outputs(name, shape):
    head = zoo.get("head", name)(5)
    out = keras.ops.convert_to_numpy(head(np.random.default_rng(0).normal(size=shape)))
    assert out.shape == (3, 5) and out.dtype == np.float32
    if name == "classifier":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if name == "multilabel":
        assert ((0 <= out) & (out <= 1)).all()


def test_head_outputs_float32_under_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        head = zoo.get("head", "classifier")(4)
        out = head(np.ones((2, 3, 3, 6), "float32"))
        assert head.dense.compute_dtype == "bfloat16"
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def test_classifier_head_learns():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 1, (100, 6)), rng.normal(1, 1, (100, 6))]).astype("f4")
    y = np.repeat([0, 1], 100)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), zoo.get("head", "classifier")(2, dropout=0.0)])
    model.compile(keras.optimizers.Adam(0.05), LabelSmoothedCrossentropy(0.1),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=20, batch_size=50, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_label_smoothing_matches_keras_on_sparse_and_one_hot_labels():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    sparse, onehot = np.array([0, 2]), np.eye(3, dtype="float32")[[0, 2]]
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(onehot, probs)
    for labels in (sparse, onehot):
        got = LabelSmoothedCrossentropy(label_smoothing=0.2)(labels, probs)
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_focal_loss_discounts_easy_examples():
    easy, hard = np.array([[0.95, 0.05]], "f4"), np.array([[0.4, 0.6]], "f4")
    ce = keras.losses.SparseCategoricalCrossentropy()
    focal = FocalCrossentropy(gamma=2.0, alpha=1.0)
    label = np.array([0])
    assert focal(label, easy) < 0.01 * ce(label, easy)
    assert focal(label, hard) > 0.3 * ce(label, hard)


def test_standardized_huber_is_keras_huber_on_standardized_residuals():
    """Each target's residual is measured in its own scale: a price and a fraction weigh alike."""
    rng = np.random.default_rng(0)
    scale = np.array([1000.0, 0.01], "float32")
    truth = rng.normal(size=(16, 2)).astype("float32") * scale
    predicted = truth + rng.normal(size=(16, 2)).astype("float32") * scale * 2
    expected = keras.losses.Huber(delta=1.0)(truth / scale, predicted / scale)
    got = StandardizedHuber(scale=scale)(truth, predicted)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-5)
    # without a scale it is the plain Huber loss
    np.testing.assert_allclose(float(StandardizedHuber()(truth / scale, predicted / scale)),
                               float(expected), rtol=1e-5)


def test_saved_model_reloads_in_a_fresh_process_with_safe_mode(tmp_path):
    path = tmp_path / "m.keras"
    inputs = keras.Input((4, 4, 8))
    outputs = [zoo.get("head", name)(3, name=f"{name}_head")(inputs) for name in HEADS]
    model = keras.Model(inputs, outputs)
    model.compile("adam", loss=[LabelSmoothedCrossentropy(0.05), FocalCrossentropy(gamma=1.5),
                                StandardizedHuber(scale=[2.0, 3.0, 4.0])])
    model.save(path)
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 8)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.concatenate(
        [keras.ops.convert_to_numpy(o) for o in model(x)], axis=1))
    code = textwrap.dedent(f"""
        import numpy as np, zoo
        model = zoo.load_model({str(path)!r})
        x, y = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'y.npy')!r})
        got = np.concatenate([np.asarray(o) for o in model(x)], axis=1)
        np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-6)
        assert model.loss[2].scale == [2.0, 3.0, 4.0] and model.loss[1].gamma == 1.5
        print("reloaded")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "reloaded" in result.stdout


def test_rejects_unknown_activation():
    with pytest.raises(zoo.ZooError, match="activation"):
        DenseHead(3, activation="tanh")
