"""Fixtures shared by the core tests."""

import functools
import http.server
import threading

import pytest


@pytest.fixture
def http_dir(tmp_path):
    """Serve a fresh directory on 127.0.0.1; yields (directory, base URL, paths requested)."""
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
def zoo_caches(tmp_path, monkeypatch):
    """Empty, private ZOO_HOME / KERAS_HOME / TFHUB_CACHE_DIR for one test."""
    homes = {name: tmp_path / name.lower() for name in ("ZOO_HOME", "KERAS_HOME", "TFHUB_CACHE_DIR")}
    for name, path in homes.items():
        monkeypatch.setenv(name, str(path))
    return homes


# --- Test plugin distributions (tests/fixtures/zoo-*), really installed once per session. ---

FIXTURE_PLUGINS = ("zoo-acme", "zoo-badcmd", "zoo-badlog", "zoo-barecb", "zoo-broken",
                   "zoo-clash", "zoo-epochlog", "zoo-faulty", "zoo-future", "zoo-misspelt",
                   "zoo-oldlog", "zoo-raisingcb", "zoo-tinytask")


def _pip_install_target(target, *sources):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), *map(str, sources)],
                   check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory):
    """A directory holding the installed test plugins; put it on PYTHONPATH to load them."""
    import shutil
    from pathlib import Path

    sources = tmp_path_factory.mktemp("plugin-src")  # pip builds in-tree; keep tests/ clean
    for dist in FIXTURE_PLUGINS:
        shutil.copytree(Path(__file__).parent / "fixtures" / dist, sources / dist)
    target = tmp_path_factory.mktemp("plugin-site")
    _pip_install_target(target, *(sources / dist for dist in FIXTURE_PLUGINS))
    return target


@pytest.fixture(scope="session")
def pip_install_target():
    """``pip_install_target(dir, *paths)``: a real pip install that leaves .venv alone."""
    return _pip_install_target


@pytest.fixture(scope="session")
def run_zoo(plugin_site):
    """Run ``python -m zoo ARGS`` (or ``python -c CODE``) in a fresh process with the test plugins.

    ``plugins`` is the ZOO_LOAD_PLUGINS allow-list (default: every test plugin, so plugins
    installed in .venv don't change the results); ``env`` adds variables; ``path`` adds
    directories in front of the plugin site; ``site=False`` leaves the test plugins uninstalled.
    """
    import os
    import subprocess
    import sys

    def run(*args, plugins=FIXTURE_PLUGINS, env=None, path=(), code=None, site=True, timeout=120):
        environ = {k: v for k, v in os.environ.items()
                   if k not in ("ZOO_LOAD_PLUGINS", "ZOO_DISABLE_PLUGINS")}
        environ.update(PYTHONPATH=os.pathsep.join(map(str, [*path, *([plugin_site] if site else [])])),
                       ZOO_LOAD_PLUGINS=",".join(plugins), TF_CPP_MIN_LOG_LEVEL="3")
        environ.update(env or {})
        command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "zoo", *args]
        return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=timeout)

    return run
