"""Downloading into keras-zoo's caches: where they live, and one atomic, hash-checked download.

``zoo.weights`` (published weights files) and ``zoo.tfhub`` (TF Hub archives) both fetch through
:func:`download`, into directories under :func:`zoo_home`. Light on purpose (no TensorFlow): the
modules that use it are imported whenever plugins are listed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from zoo.errors import ZooError
from zoo.io import atomic_path

#: Seconds to wait for a server before calling the network unreachable.
TIMEOUT_S = 30


def zoo_home() -> Path:
    """keras-zoo's cache root: ``$ZOO_HOME``, default ``~/.cache/zoo``."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
