"""Resolving ``--weights`` to a local file: ``none | NAME | PATH | RUN | tfhub:HANDLE-or-DIR``.

Published weights are downloaded once into the zoo cache (``$ZOO_HOME/weights``, default
``~/.cache/zoo/weights``) with a progress line and a hash check; a file Keras already downloaded
into its own cache (``$KERAS_HOME/models`` or ``~/.keras/models``) is used as is. Offline with an
empty cache, the user gets one sentence naming ``--weights none`` and ``--weights PATH``.
``--weights RUN`` (a run directory of ``zoo finetune`` on the same backbone) takes the backbone
that run trained, its head dropped: extracted once into ``$ZOO_HOME/weights/runs``.

Light on purpose: no TensorFlow here, since :class:`WeightsFile` appears in every backbone spec
and specs are built whenever plugins are listed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ZooError
from zoo.io import atomic_path

HASH_ALGORITHMS = ("sha256", "md5")
#: Seconds to wait for a server before calling the network unreachable.
TIMEOUT_S = 30


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: where it lives and the hash its publisher gives for it.

    ``filename`` is the name it is cached under (default: the last part of the URL); giving Keras'
    own cache name lets a file Keras already downloaded be found.
    """

    url: str
    file_hash: str | None = None
    hash_algorithm: str = "sha256"
    filename: str | None = None

    def __post_init__(self):
        if self.hash_algorithm not in HASH_ALGORITHMS:
            raise ZooError(f"hash_algorithm must be one of {', '.join(HASH_ALGORITHMS)}, "
                           f"got {self.hash_algorithm!r}")
        if self.filename is None:
            name = Path(urllib.parse.urlparse(self.url).path).name
            if not name:
                raise ZooError(f"cannot tell a file name from {self.url!r}; pass filename=")
            object.__setattr__(self, "filename", name)


def zoo_home() -> Path:
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()


def cache_dir() -> Path:
    """Where downloaded weights are kept."""
    return zoo_home() / "weights"


def keras_cache_dir() -> Path:
    """Where Keras keeps what ``keras.utils.get_file`` downloaded (``cache_subdir="models"``)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, wf: WeightsFile) -> bool:
    return wf.file_hash is None or file_digest(path, wf.hash_algorithm) == wf.file_hash.lower()


def resolve(spec, weights: str | None) -> str | None:
    """Turn a ``--weights`` value into what a backbone builder takes: None or a local path.

    ``spec`` is the :class:`zoo.Backbone`; ``weights`` is ``none``/None, one of ``spec.weights``,
    a path to a weights file, a run directory of ``zoo finetune`` on the same backbone, or
    ``tfhub:HANDLE-or-DIR`` (for backbones that declare ``tfhub``).
    """
    if weights is None or weights == "none":
        return None
    if not isinstance(weights, str) or not weights:
        raise ZooError(f"weights must be a string such as 'none' or a path, got {weights!r}")
    if weights.startswith("tfhub:"):
        if "tfhub" not in spec.weights:
            raise ZooError(f"backbone {spec.name!r} cannot load TF Hub models; use the 'tfhub' "
                           f"backbone: --weights {weights} with backbone tfhub")
        from zoo import tfhub

        return tfhub.resolve(weights[len("tfhub:"):])
    if weights in spec.weights:
        wf = spec.weights_file(weights)
        if wf is None:
            raise ZooError(f"backbone {spec.name!r} (from {spec.plugin or 'its plugin'}) lists "
                           f"weights {weights!r} but no weight file for it; the plugin must give "
                           f"it in weight_files, or pass --weights PATH")
        return fetch(wf, what=f"{weights} weights for {spec.name}")
    path = Path(weights).expanduser()
    if (path / "config.json").is_file():
        return run_backbone_weights(spec, path)
    if path.exists():
        return str(path.resolve())
    if os.sep in weights or path.suffix in (".h5", ".keras", ".hdf5"):
        raise ZooError(f"weights file {weights} does not exist; check the path, or use "
                       f"--weights none to train from scratch")
    known = ", ".join([*spec.weights, "PATH", "RUN"])
    raise ZooError(f"backbone {spec.name!r} has no weights {weights!r}; choose one of: {known}")


def run_backbone_weights(spec, run_dir: Path) -> str:
    """The backbone weights a ``zoo finetune`` or ``zoo pretrain`` run trained, as a
    ``.weights.h5`` file the backbone's builder loads (the run's head and preprocessing stay
    behind). Cached by the model file's digest, so a run trained further gives a new file."""
    import json

    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ZooError(f"{run_dir}/config.json cannot be read ({exc}); --weights RUN takes a "
                       f"run directory written by zoo finetune or zoo pretrain") from None
    if not isinstance(config, dict):
        raise ZooError(f"{run_dir}/config.json is not a run's config; --weights RUN takes a "
                       f"run directory written by zoo finetune or zoo pretrain")
    trained = config.get("backbone")
    if trained is None:
        raise ZooError(f"{run_dir} trained {config.get('model') or 'a model'!r} with no "
                       f"backbone; --weights RUN takes a run of 'zoo finetune {spec.name}' or "
                       f"'zoo pretrain {spec.name}'")
    if trained != spec.name:
        raise ZooError(f"{run_dir} trained backbone {trained!r}, not {spec.name!r}; use "
                       f"'zoo finetune {trained} --weights {run_dir}' or a run of {spec.name}")
    model_file = run_dir / "model.keras"
    if not model_file.is_file():
        raise ZooError(f"{run_dir} has no model.keras yet (still training, or stopped before "
                       f"its first epoch); finish it: run the same command with --resume")
    digest = file_digest(model_file, "sha256")[:16]
    target = cache_dir() / "runs" / f"{spec.name}-{digest}.weights.h5"
    if not target.is_file():
        from zoo.backbones_build import nested_layers
        from zoo.saving import load_model

        backbones = [layer for layer in nested_layers(load_model(model_file, compile=False))
                     if layer.name == "backbone"]
        if len(backbones) != 1:
            raise ZooError(f"{model_file} has no single nested 'backbone' model; was it "
                           f"written by zoo finetune or zoo pretrain?")
        with atomic_path(target) as tmp:
            backbones[0].save_weights(tmp)
    return str(target)


def fetch(wf: WeightsFile, what: str) -> str:
    """The local path of a published file: from the zoo or Keras cache, else downloaded."""
    target = cache_dir() / wf.filename
    for candidate in (target, keras_cache_dir() / wf.filename):
        if candidate.is_file() and _matches(candidate, wf):
            return str(candidate)
    try:
        download(wf.url, target, file_hash=wf.file_hash, hash_algorithm=wf.hash_algorithm,
                 label=what)
    except NetworkError as exc:
        raise ZooError(f"cannot download {what} ({exc.reason}): use --weights none to train "
                       f"from scratch, or --weights PATH to a local .h5 file (expected in "
                       f"{target})") from None
    return str(target)


class NetworkError(Exception):
    """The server could not be reached or refused the file; ``reason`` is a short phrase."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def download(url: str, target: str | os.PathLike, file_hash: str | None = None,
             hash_algorithm: str = "sha256", label: str = "") -> Path:
    """Download ``url`` to ``target`` atomically, with a progress line on stderr and hash check.

    Raises :class:`NetworkError` when the server can't be reached, and ZooError (after deleting
    the download) when the file does not match ``file_hash``.
    """
    target = Path(target)
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, \
                    open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                _copy_with_progress(response, out, total, label or target.name)
        except urllib.error.HTTPError as exc:
            raise NetworkError(f"HTTP {exc.code} {exc.reason} from {url}") from None
        except urllib.error.URLError as exc:
            raise NetworkError(f"no network? {exc.reason}") from None
        except (socket.timeout, TimeoutError, ConnectionError) as exc:
            raise NetworkError(f"no network? {exc}") from None
        if file_hash is not None:
            got = file_digest(tmp, hash_algorithm)
            if got != file_hash.lower():
                # atomic_path removes the temporary file: nothing is left behind.
                raise ZooError(f"downloaded {target.name} from {url} does not match its published "
                               f"{hash_algorithm} hash (got {got}, expected {file_hash}); "
                               f"it was deleted: try again, or pass --weights PATH")
    return target


def _copy_with_progress(source, out, total: int, label: str) -> None:
    """Copy in blocks, reporting ``label: 12.3/94.7 MB (13%)`` on stderr as it goes.

    On a terminal one line is redrawn twice a second; in a log a new line every 10 seconds.
    """
    interactive = sys.stderr.isatty()
    start, end, every = ("\r", "", 0.5) if interactive else ("", "\n", 10.0)
    done, shown = 0, time.monotonic()
    for block in iter(lambda: source.read(1 << 16), b""):
        out.write(block)
        done += len(block)
        if time.monotonic() - shown > every:
            shown = time.monotonic()
            sys.stderr.write(start + _progress_text(label, done, total) + end)
            sys.stderr.flush()
    sys.stderr.write(start + _progress_text(label, done, total) + "\n")


def _progress_text(label: str, done: int, total: int) -> str:
    mb = 1 << 20
    if total:
        return f"Downloading {label}: {done / mb:.1f}/{total / mb:.1f} MB ({100 * done // total}%)"
    return f"Downloading {label}: {done / mb:.1f} MB"

