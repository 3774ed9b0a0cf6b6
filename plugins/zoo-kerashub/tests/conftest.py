"""Fixtures of zoo-kerashub's tests: tiny presets written with keras-hub's own ``save_to_preset``,
a small digits folder, an empty kagglehub cache, and a Kaggle Models API on 127.0.0.1 that
kagglehub really downloads from. (The repository's conftest.py adds the shared ones.)"""

import http.server
import json
import threading

import pytest


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """12 digits per class at 32 px in train/ and test/ folders."""
    from zoo.data import write_digits

    root = tmp_path_factory.mktemp("kerashub-data") / "digits"
    write_digits(root, limit=12, test_split=0.25, seed=0)
    return root


@pytest.fixture(scope="session")
def presets(tmp_path_factory):
    """family -> directory of a tiny preset at 32 px with a torch-style ImageConverter. The
    ResNet is pretrained (2 epochs on 900 digits, fed through its converter as keras-hub
    would), so fine-tuning from it shows whether its weights and preprocessing arrive intact;
    the ViT is random."""
    import keras
    import numpy as np

    from zoo.data import list_images, load_images, write_digits
    from zoo_kerashub.tiny import save_tiny_preset, tiny_backbone

    root = tmp_path_factory.mktemp("presets")
    write_digits(root / "pretraining", limit=90)
    paths, _ = list_images([root / "pretraining"])
    labels = np.array([int(path.split("/")[-2]) for path in paths])
    backbone, converter = parts = tiny_backbone("resnet", image_size=32)
    classifier = keras.Sequential([backbone, keras.layers.GlobalAveragePooling2D(),
                                   keras.layers.Dense(10, activation="softmax")])
    classifier.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    classifier.fit(converter(load_images(paths, (32, 32))), labels, batch_size=64, epochs=2,
                   verbose=0)
    return {"resnet": save_tiny_preset("resnet", root / "tiny_resnet", parts=parts),
            "vit": save_tiny_preset("vit", root / "tiny_vit")}


@pytest.fixture
def kaggle_cache(tmp_path, monkeypatch):
    """An empty kagglehub cache (KAGGLEHUB_CACHE) for one test."""
    cache = tmp_path / "kagglehub"
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(cache))
    return cache


@pytest.fixture
def offline(monkeypatch, closed_port):
    """Every HTTP(S) request fails to connect at once, as with no network (kagglehub goes
    through ``requests``, which honours the proxy variables)."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def kaggle_api(kaggle_cache, monkeypatch):
    """A Kaggle Models API on 127.0.0.1 serving preset directories: yields ``(publish,
    requested)``; ``publish(handle, directory)`` serves ``directory`` as
    ``kaggle://owner/model/framework/variation/version``, ``requested`` lists the files asked.

    kagglesdk has no setting for its address, only fixed environments (KAGGLE_API_ENVIRONMENT:
    LOCALHOST is ``http://localhost``); ``requests`` sends those plain-HTTP calls through the
    proxy named in HTTP_PROXY, which is this server. kagglehub and keras-hub run unchanged.
    """
    published, requested = {}, []

    class KaggleModels(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            key = (body.get("ownerSlug"), body.get("modelSlug"), body.get("instanceSlug"),
                   body.get("versionNumber"))
            path = published[key] / body.get("path", "") if key in published else None
            if self.path.endswith("/DownloadModelInstanceVersion") and path and path.is_file():
                requested.append(body["path"])
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            message = json.dumps({"code": 404, "message": "404 Client Error: Not Found"})
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message.encode())

        def log_message(self, *args):  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KaggleModels)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{server.server_port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def publish(handle, directory):
        owner, model, _, variation, version = handle.removeprefix("kaggle://").split("/")
        published[(owner, model, variation, int(version))] = directory

    yield publish, requested
    server.shutdown()
    server.server_close()
    thread.join()
