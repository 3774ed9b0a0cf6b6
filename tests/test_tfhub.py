"""TF Hub adapter: a SavedModel the test makes, wrapped for Keras 3, fine-tuned, saved, served."""

import subprocess
import sys
import tarfile

import numpy as np
import pytest

import zoo


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    """A TF Hub-style feature extractor: __call__(images, training) -> (batch, 6) features."""
    import tensorflow as tf

    class Extractor(tf.Module):
        def __init__(self):
            self.kernel = tf.Variable(tf.random.stateless_normal((3, 6), seed=(1, 2)))
            self.scale = tf.Variable(2.0, trainable=False)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                                      tf.TensorSpec([], tf.bool)])
        def __call__(self, images, training=False):
            return tf.tanh(tf.reduce_mean(images, axis=[1, 2]) @ self.kernel) * self.scale

    path = tmp_path_factory.mktemp("hub") / "extractor"
    tf.saved_model.save(Extractor(), str(path))
    return path


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (8, 16, 16, 3)).astype("float32"), np.arange(8) % 2


def classifier(backbone):
    import keras

    outputs = keras.layers.Dense(2, activation="softmax")(backbone.output)
    model = keras.Model(backbone.input, outputs)
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    return model


def test_finetuning_updates_the_savedmodel_variables(hub_dir, data, tmp_path):
    backbone = zoo.create_backbone("tfhub", weights=f"tfhub:{hub_dir}", input_shape=(16, 16, 3))
    assert backbone.output_shape == (None, 6)
    assert backbone.get_layer("preprocess").mode == "scale_0_1"
    hub = backbone.get_layer("backbone").get_layer("hub_features")
    assert [tuple(w.shape) for w in hub.trainable_weights] == [(3, 6)]
    assert [tuple(w.shape) for w in hub.non_trainable_weights] == [()]
    kernel = hub._saved_model.kernel  # the SavedModel's own tf.Variable
    before = kernel.numpy().copy()

    model = classifier(backbone)
    model.fit(*data, batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(kernel.numpy(), before), "fine-tuning must change the hub variables"
    assert hub._saved_model.scale.numpy() == 2.0

    # Frozen like fine-tuning's first stage: nothing in the hub moves.
    backbone.get_layer("backbone").trainable = False
    model = classifier(backbone)
    frozen = kernel.numpy().copy()
    model.fit(*data, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(kernel.numpy(), frozen)

    # The fine-tuned values are saved with the Keras model and reload in a fresh process.
    model.save(tmp_path / "tuned.keras")
    np.save(tmp_path / "x.npy", data[0])
    np.save(tmp_path / "expected.npy", model.predict(data[0], verbose=0))
    code = ("import sys, numpy as np, zoo\n"
            "d = sys.argv[1]\n"
            "m = zoo.load_model(d + '/tuned.keras')\n"
            "np.testing.assert_allclose(m.predict(np.load(d + '/x.npy'), verbose=0), "
            "np.load(d + '/expected.npy'), rtol=1e-5, atol=1e-6)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_savedmodel_tarball_over_http_is_cached(hub_dir, http_dir, zoo_caches):
    root, url, requested = http_dir
    with tarfile.open(root / "extractor.tar.gz", "w:gz") as tar:
        tar.add(hub_dir, arcname=".")
    handle = f"tfhub:{url}/extractor.tar.gz"
    path = zoo.weights.resolve(zoo.spec("backbone", "tfhub"), handle)
    assert path.startswith(str(zoo_caches["TFHUB_CACHE_DIR"]))
    model = zoo.create_backbone("tfhub", weights=handle, input_shape=(16, 16, 3))
    assert model.output_shape == (None, 6)
    assert requested == ["/extractor.tar.gz"], "the second use must come from the cache"


def test_unsafe_archives_are_refused(tmp_path, zoo_caches):
    from zoo import tfhub

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        payload = tmp_path / "payload"
        payload.write_text("x")
        tar.add(payload, arcname="../escaped")
    with pytest.raises(zoo.ZooError, match="refusing to extract evil.tar.gz"):
        tfhub.resolve(str(evil))
    assert not (zoo_caches["TFHUB_CACHE_DIR"].parent / "escaped").exists()

    linked = tmp_path / "linked.tar.gz"
    with tarfile.open(linked, "w:gz") as tar:
        link = tarfile.TarInfo("saved_model.pb")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(zoo.ZooError, match="is a link"):
        tfhub.resolve(str(linked))
    cache = zoo_caches["TFHUB_CACHE_DIR"]
    assert not cache.exists() or [p for p in cache.iterdir() if not p.name.startswith(".")] == []


def test_tfhub_errors_are_one_line(tmp_path, zoo_caches, closed_port):
    from zoo import tfhub

    with pytest.raises(zoo.ZooError, match=r"cannot download TF Hub model .*no network\?"):
        tfhub.resolve(f"http://127.0.0.1:{closed_port}/model")
    with pytest.raises(zoo.ZooError, match="holds no SavedModel"):
        tfhub.resolve(str(tmp_path))
    with pytest.raises(zoo.ZooError, match="neither a SavedModel directory"):
        tfhub.resolve("not-a-handle")
    url = tfhub.model_url("google/imagenet/mobilenet_v2_100_224/feature_vector/5")
    assert url == "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"
    assert tfhub._archive_url(url) == url + "?tf-hub-format=compressed"
