"""Building KerasHub presets as zoo backbones: the preset's own preprocessing inside the model,
local preset directories, the download through keras-hub's loader and kagglehub's cache (from a
Kaggle Models API on 127.0.0.1), and one-line errors, offline included."""

import numpy as np
import pytest
from click.testing import CliRunner

import zoo


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_raw_pixels_in_the_presets_own_preprocessing_and_features_out(presets, pixels, family):
    """The zoo model on raw 0-255 pixels computes what keras-hub computes with the preset's
    ImageConverter and backbone; a ViT gives its class token, as its ImageClassifier reads."""
    import keras_hub

    model = zoo.create_backbone("kerashub", weights=str(presets[family]), input_shape=32)
    converter = keras_hub.layers.ImageConverter.from_preset(str(presets[family]))
    expected = keras_hub.models.Backbone.from_preset(str(presets[family])).predict(
        converter(pixels), verbose=0)
    expected = expected[:, 0] if family == "vit" else expected
    np.testing.assert_allclose(model.predict(pixels, verbose=0), expected, rtol=1e-4, atol=1e-4)
    scaling = model.get_layer("backbone").get_layer("image_converter")
    np.testing.assert_allclose(scaling.scale, converter.scale, rtol=1e-6)
    np.testing.assert_allclose(scaling.offset, converter.offset, rtol=1e-6)
    assert model.get_layer("preprocess").mode == "none"  # the core adds nothing on top


def test_bad_presets_and_sizes_fail_in_one_line(presets, tmp_path):
    cases = [
        ("kerashub", "none", "the kerashub backbone builds a KerasHub preset directory"),
        ("kerashub", str(tmp_path), "is not a KerasHub preset directory"),
        ("resnet_18_imagenet", str(presets["vit"]),
         "holds a ViTBackbone preset, not a ResNetBackbone like resnet_18_imagenet; fine-tune "
         "it as 'zoo finetune kerashub --weights"),
    ]
    for name, weights, message in cases:
        with pytest.raises(zoo.ZooError, match=message) as error:
            zoo.create_backbone(name, weights=weights, input_shape=32)
        assert "\n" not in str(error.value)
    with pytest.raises(zoo.ZooError, match="was made for 32x32 images and its weights do not "
                                           "fit 64x64: pass --image-size 32"):
        zoo.create_backbone("kerashub", weights=str(presets["vit"]), input_shape=64)
    # A convolutional preset takes any size.
    assert zoo.create_backbone("kerashub", weights=str(presets["resnet"]),
                               input_shape=64).output.shape[1:3] == (8, 8)


def test_a_hub_preset_downloads_once_through_keras_hub_into_kagglehubs_cache(
        presets, kaggle_api, kaggle_cache, pixels):
    """resnet_18_imagenet, served by a Kaggle Models API on 127.0.0.1 (the tiny preset under the
    real handle): keras-hub's loader fetches the files into KAGGLEHUB_CACHE, the weights are the
    preset's, and afterwards the cache serves it, --weights none included."""
    import keras_hub

    publish, requested = kaggle_api
    spec = zoo.spec("backbone", "resnet_18_imagenet")
    handle = spec.weights_file("resnet_18_imagenet").url
    publish(handle, presets["resnet"])
    model = zoo.create_backbone(spec, weights="resnet_18_imagenet", input_shape=32)
    assert sorted(requested) == ["config.json", "image_converter.json", "model.weights.h5"]
    cached = kaggle_cache / "models" / handle.removeprefix("kaggle://")
    assert (cached / "model.weights.h5").is_file()
    expected = keras_hub.models.Backbone.from_preset(str(presets["resnet"]))
    for got, want in zip(model.get_layer("backbone").get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(got, want)

    requested.clear()
    again = zoo.create_backbone(spec, weights="resnet_18_imagenet", input_shape=32)
    scratch = zoo.create_backbone(spec, weights="none", input_shape=32)
    assert requested == []
    np.testing.assert_array_equal(again.predict(pixels, verbose=0),
                                  model.predict(pixels, verbose=0))
    norms = [layer for layer in scratch.get_layer("backbone").get_layer("res_net_backbone").layers
             if layer.__class__.__name__ == "BatchNormalization"]
    assert norms and all(layer.momentum == 0.9 for layer in norms)  # from scratch


def test_offline_with_an_empty_cache_finetune_fails_in_one_line(digits, kaggle_cache, offline):
    from zoo_cli.main import cli

    result = CliRunner().invoke(cli, ["finetune", "resnet_18_imagenet", "--data", str(digits),
                                      "--weights", "resnet_18_imagenet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    cache = kaggle_cache / "models" / "keras" / "resnetv1" / "keras" / "resnet_18_imagenet" / "3"
    assert line.startswith("Error: cannot download KerasHub preset resnet_18_imagenet from "
                           "kaggle://keras/resnetv1/keras/resnet_18_imagenet/3 (no network?")
    assert str(cache) in line and "KAGGLEHUB_CACHE" in line and "--weights DIR" in line
