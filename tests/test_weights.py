"""Weights: the --weights forms, download from a local HTTP server, hash checks, caches, offline."""

import hashlib

import numpy as np
import pytest

import zoo
from zoo import weights as weights_lib
from zoo.weights import ExternalWeights, WeightsFile


def tiny_backbone(input_shape, weights):
    """A plugin-style backbone builder: fixed layer names so a saved weights file loads back."""
    import keras

    images = keras.Input(tuple(input_shape))
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv")(images)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(images, x, name="tiny")
    if weights is not None:
        model.load_weights(weights)
    return model


def tiny_spec(weight_file=None):
    return zoo.Backbone("tiny_test", f"{__name__}:tiny_backbone", summary="test backbone",
                        input_size=16, weights=("imagenet", "none"), preprocess="scale_0_1",
                        weight_files={"imagenet": weight_file} if weight_file else {})


@pytest.fixture
def published(http_dir):
    """A weights file 'published' on the local server: (spec with its URL and sha256, weights)."""
    root, url, requested = http_dir
    source = tiny_backbone((16, 16, 3), None)
    source.set_weights([np.random.default_rng(0).normal(size=w.shape).astype("float32")
                        for w in source.get_weights()])
    source.save_weights(root / "tiny.weights.h5")
    digest = hashlib.sha256((root / "tiny.weights.h5").read_bytes()).hexdigest()
    return tiny_spec(WeightsFile(f"{url}/tiny.weights.h5", digest)), source.get_weights(), requested


def test_download_is_verified_cached_and_loads(zoo_caches, published, capfd):
    spec, expected, requested = published
    model = zoo.create_backbone(spec, weights="imagenet")
    for got, want in zip(model.get_layer("backbone").get_weights(), expected):
        np.testing.assert_array_equal(got, want)
    assert requested == ["/tiny.weights.h5"]
    progress = capfd.readouterr().err
    assert "Downloading imagenet weights for tiny_test" in progress and "(100%)" in progress
    cached = zoo_caches["ZOO_HOME"] / "weights" / "tiny.weights.h5"
    assert weights_lib.resolve(spec, "imagenet") == str(cached)
    assert requested == ["/tiny.weights.h5"], "second resolve must come from the cache"
    # Pretrained weights keep the backbone's own BatchNorm momentum.
    assert model.get_layer("backbone").get_layer("bn").momentum == 0.99


def test_file_in_keras_cache_is_reused(zoo_caches, published):
    spec, _, requested = published
    keras_copy = zoo_caches["KERAS_HOME"] / "models" / "tiny.weights.h5"
    keras_copy.parent.mkdir(parents=True)
    served = weights_lib.fetch(spec.weights_file("imagenet"), what="x")  # download once...
    keras_copy.write_bytes(open(served, "rb").read())
    (zoo_caches["ZOO_HOME"] / "weights" / "tiny.weights.h5").unlink()
    assert weights_lib.resolve(spec, "imagenet") == str(keras_copy)
    assert len(requested) == 1, "...then Keras' copy is used without a request"


def test_wrong_hash_deletes_the_download(zoo_caches, published):
    spec, _, _ = published
    wrong = WeightsFile(spec.weights_file("imagenet").url, "0" * 64)
    with pytest.raises(zoo.ZooError, match="tiny.weights.h5 .*does not match its published "
                                           "sha256 hash") as err:
        weights_lib.resolve(tiny_spec(wrong), "imagenet")
    assert "\n" not in str(err.value)
    cache = zoo_caches["ZOO_HOME"] / "weights"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_offline_with_empty_cache_is_one_sentence(zoo_caches, closed_port):
    spec = tiny_spec(WeightsFile(f"http://127.0.0.1:{closed_port}/tiny.weights.h5", None))
    with pytest.raises(zoo.ZooError) as err:
        zoo.create_backbone(spec, weights="imagenet")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("cannot download imagenet weights for tiny_test (no network?")
    assert "--weights none" in message and "--weights PATH" in message
    assert str(zoo_caches["ZOO_HOME"] / "weights" / "tiny.weights.h5") in message


def test_http_error_names_status(zoo_caches, http_dir):
    _, url, _ = http_dir
    spec = tiny_spec(WeightsFile(f"{url}/missing.h5"))
    with pytest.raises(zoo.ZooError, match="HTTP 404"):
        weights_lib.resolve(spec, "imagenet")


def test_local_path_and_bad_values(tmp_path, zoo_caches):
    spec = tiny_spec()
    local = tmp_path / "mine.weights.h5"
    tiny_backbone((16, 16, 3), None).save_weights(local)
    assert weights_lib.resolve(spec, str(local)) == str(local)
    assert weights_lib.resolve(spec, "none") is None and weights_lib.resolve(spec, None) is None
    with pytest.raises(zoo.ZooError, match="does not exist"):
        weights_lib.resolve(spec, str(tmp_path / "nope.h5"))
    with pytest.raises(zoo.ZooError, match="has no weights 'bogus'; choose one of: imagenet, "
                                           "none, PATH"):
        weights_lib.resolve(spec, "bogus")
    with pytest.raises(zoo.ZooError, match="lists weights 'imagenet' but no weight file"):
        weights_lib.resolve(spec, "imagenet")
    with pytest.raises(zoo.ZooError, match="use the 'tfhub' backbone"):
        weights_lib.resolve(spec, "tfhub:some/handle/1")


def test_builtin_weight_files_are_the_published_ones():
    """Every keras.applications backbone points at its Keras no-top file with Keras' hash."""
    import pathlib

    import keras

    # Every no-top hash Keras publishes appears in its applications sources.
    sources = "".join(p.read_text() for p in
                      pathlib.Path(keras.src.applications.__file__).parent.glob("*.py"))
    builtin = [s for s in zoo.list("backbone") if s.target.startswith("zoo.applications:")]
    assert len(builtin) >= 40
    for spec in builtin:
        assert hasattr(keras.applications, spec.target.split(":")[1]), spec.target
        wf = spec.weights_file("imagenet")
        assert wf.url.startswith("https://storage.googleapis.com/") and "no" in wf.url.lower()
        if wf.file_hash:
            assert len(wf.file_hash) == {"md5": 32, "sha256": 64}[wf.hash_algorithm], spec.name
            assert f'"{wf.file_hash}"' in sources, spec.name
    resnet = zoo.spec("backbone", "resnet").weights_file("imagenet")
    assert resnet.file_hash == "4d473c1dd8becc155b73f8504c6f6626" and resnet.hash_algorithm == "md5"
    nasnet = zoo.spec("backbone", "nasnet_mobile").weights_file("imagenet")
    assert nasnet.filename == "nasnet_mobile_no_top.h5"  # the name Keras caches it under


def test_weights_file_validates():
    with pytest.raises(zoo.ZooError, match="hash_algorithm"):
        WeightsFile("https://x/y.h5", "ab", hash_algorithm="sha1")
    assert WeightsFile("https://x/dir/y.h5?raw=1").filename == "y.h5"
    with pytest.raises(zoo.ZooError, match="fetch must be 'module:attr'"):
        ExternalWeights("kaggle://owner/model/keras/variant/1", "not_a_target")


#: What the ExternalWeights test's fetch function was asked for.
FETCHED = []


def fetch_elsewhere(name, url):
    """An ExternalWeights fetch: another library would download ``url`` into its own cache."""
    FETCHED.append((name, url))
    return f"/cache/of/another/library/{name}"


def test_external_weights_are_fetched_by_the_plugins_function():
    """A name with ExternalWeights goes to the plugin's fetch (imported only then), whose local
    path the builder gets; zoo info shows where the weights come from."""
    external = ExternalWeights("kaggle://owner/model/keras/variant/2",
                               f"{__name__}:fetch_elsewhere")
    spec = zoo.Backbone("tiny_external", f"{__name__}:tiny_backbone", weights=("variant", "none"),
                        weight_files={"variant": external})
    assert weights_lib.resolve(spec, "variant") == "/cache/of/another/library/variant"
    assert FETCHED == [("variant", "kaggle://owner/model/keras/variant/2")]
    assert spec.to_dict()["weight_files"] == {"variant": "kaggle://owner/model/keras/variant/2"}


def test_a_keras_preset_directory_is_a_path_and_a_run_directory_a_run(tmp_path, zoo_caches):
    """Both hold a config.json: a serialized Keras object (a KerasHub preset) goes to the
    builder as a path; a config naming a task is a run."""
    import json

    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "config.json").write_text(json.dumps(
        {"module": "keras_hub.src.models.resnet.resnet_backbone", "class_name": "ResNetBackbone",
         "config": {}, "registered_name": "keras_hub>ResNetBackbone"}))
    assert weights_lib.resolve(tiny_spec(), str(preset)) == str(preset.resolve())
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "image_classification",
                                                 "backbone": "other"}))
    with pytest.raises(zoo.ZooError, match="trained backbone 'other', not 'tiny_test'"):
        weights_lib.resolve(tiny_spec(), str(run))
