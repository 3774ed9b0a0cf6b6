"""Fixtures shared by the core tests."""

import functools
import http.server
import threading

import pytest


@pytest.fixture
def http_dir(tmp_path):
    """Serve a fresh directory on 127.0.0.1; yields (directory, base URL, list of paths requested)."""
    root = tmp_path / "served"
    root.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}", requested
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_port():
    """A 127.0.0.1 port nothing listens on: connecting fails at once, like being offline."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def zoo_caches(tmp_path, monkeypatch):
    """Empty, private ZOO_HOME / KERAS_HOME / TFHUB_CACHE_DIR for one test."""
    homes = {name: tmp_path / name.lower() for name in ("ZOO_HOME", "KERAS_HOME", "TFHUB_CACHE_DIR")}
    for name, path in homes.items():
        monkeypatch.setenv(name, str(path))
    return homes
