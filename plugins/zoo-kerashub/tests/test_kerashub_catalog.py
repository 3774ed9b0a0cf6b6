"""The catalog: every KerasHub image preset the installed keras-hub ships, listed without
importing keras_hub (or Keras, or TensorFlow), equal to keras-hub's own list."""

import json
import subprocess
import sys

import zoo
from zoo_kerashub import catalog


def test_listing_stays_light_and_shows_every_image_preset():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo", "list",
                             "backbones", "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"keras_hub", "keras", "tensorflow", "kagglehub"}, imported
    listed = {row["name"]: row for row in json.loads(result.stdout)
              if row["plugin"] == "zoo-kerashub"}
    assert set(listed) == {*catalog.presets(), "kerashub"}
    assert {"resnet_50_imagenet", "efficientnet_b0_ra_imagenet", "vit_base_patch16_224_imagenet",
            "mobilenet_v3_small_100_imagenet"} <= set(listed)
    assert "23.6M params" in listed["resnet_50_imagenet"]["summary"]


def test_the_catalog_is_keras_hubs_own_list_of_image_presets():
    import keras_hub

    found = catalog.presets()
    assert set(found) == set(keras_hub.models.ImageClassifier.presets)
    for name, preset in found.items():
        assert name in getattr(keras_hub.models, preset.backbone_class).presets, name
        assert preset.handle == keras_hub.models.ImageClassifier.presets[name]["kaggle_handle"]
        assert preset.params is None or preset.params > 100_000, name


def test_info_names_family_preset_size_and_source():
    vit = zoo.spec("backbone", "vit_base_patch16_384_imagenet")
    assert (vit.plugin, vit.family, vit.input_size) == ("zoo-kerashub", "vit", 384)
    assert vit.weights == ("vit_base_patch16_384_imagenet", "none") and vit.preprocess == "none"
    assert vit.to_dict()["weight_files"] == {
        "vit_base_patch16_384_imagenet": "kaggle://keras/vit/keras/vit_base_patch16_384_imagenet/4"}
    assert "86.1M params" in vit.summary and "ImageConverter" in vit.summary
    assert zoo.spec("backbone", "efficientnet_b1_ra4_e3600_r240_imagenet").input_size == 240
    assert zoo.spec("backbone", "resnet_18_imagenet").input_size == 224
    assert zoo.spec("backbone", "kerashub").weights == ()
