"""TF Hub and SavedModel feature extractors: ``--weights tfhub:HANDLE-or-DIR``.

``HANDLE`` is a tfhub.dev or Kaggle Models URL, a short ``owner/model/...`` tfhub.dev handle, a URL
of a ``.tar.gz``, or a local ``.tar.gz``; ``DIR`` is a local SavedModel directory. Archives are
fetched with TF Hub's compressed-format protocol (no ``tensorflow_hub`` needed), extracted safely
into ``$TFHUB_CACHE_DIR`` (default ``$ZOO_HOME/tfhub``) under the directory name
``tensorflow_hub`` would use, so either tool finds the other's downloads.

Resolving is light (no TensorFlow): ``zoo.weights`` imports this module whenever plugins are
listed. The ``tfhub`` backbone itself is built by ``zoo.backbones_build.tfhub_backbone``.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from pathlib import Path

from zoo.downloads import NetworkError, download, zoo_home
from zoo.errors import ZooError
from zoo.io import atomic_path

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def cache_dir() -> Path:
    return Path(os.environ.get("TFHUB_CACHE_DIR") or zoo_home() / "tfhub").expanduser()


def resolve(handle: str) -> str:
    """The local SavedModel directory for a ``tfhub:`` handle, downloading it if needed."""
    if not handle:
        raise ZooError("tfhub: needs a handle, URL or directory, e.g. "
                       "--weights tfhub:google/imagenet/mobilenet_v2_100_224/feature_vector/5")
    local = Path(handle).expanduser()
    if local.is_dir():
        return str(saved_model_dir(local.resolve(), what=handle))
    url = None if local.is_file() else model_url(handle)
    # Named like tensorflow_hub names its cache entries: the sha1 of the model's URL.
    target = cache_dir() / hashlib.sha1((url or str(local.resolve())).encode("utf8")).hexdigest()
    if target.is_dir():
        return str(saved_model_dir(target, what=handle))
    if url is None:
        if not local.is_file():
            raise ZooError(f"tfhub:{handle} is neither a SavedModel directory, a .tar.gz file, "
                           f"nor a TF Hub URL or owner/model/version handle")
        extract(local, target)
    else:
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".download-") as tmp:
            archive = Path(tmp) / "model.tar.gz"
            try:
                download(_archive_url(url), archive, label=f"TF Hub model {handle}")
            except NetworkError as exc:
                raise ZooError(f"cannot download TF Hub model {handle} ({exc.reason}): fetch "
                               f"its .tar.gz another way and pass --weights tfhub:FILE.tar.gz "
                               f"or tfhub:DIR, or train another backbone with --weights none"
                               ) from None
            extract(archive, target)
    return str(saved_model_dir(target, what=handle))


def model_url(handle: str) -> str | None:
    """The URL a handle names (short ``owner/model/...`` handles live on tfhub.dev), or None."""
    if handle.startswith(("https://", "http://")):
        return handle
    if len(handle.strip("/").split("/")) >= 3 and not handle.startswith((".", "/", "~")):
        return f"https://tfhub.dev/{handle.strip('/')}"
    return None


def _archive_url(url: str) -> str:
    """Where the model's tarball is: the URL itself, or TF Hub's compressed-format query on it."""
    if url.split("?")[0].endswith(_ARCHIVE_SUFFIXES):
        return url
    # tfhub.dev and Kaggle Models answer this query with the .tar.gz (TF Hub's protocol).
    return url + ("&" if "?" in url else "?") + "tf-hub-format=compressed"


def extract(archive: str | os.PathLike, target: Path) -> None:
    """Extract a SavedModel tarball into ``target`` atomically, refusing unsafe members.

    Only regular files and directories inside the archive root are allowed: no absolute paths,
    ``..``, links or devices, which could write outside the cache.
    """
    try:
        with tarfile.open(archive) as tar, atomic_path(target) as tmp:
            tmp.mkdir()
            root = tmp.resolve()
            members = tar.getmembers()
            for member in members:
                inside = (root / member.name).resolve().is_relative_to(root)
                if not inside or not (member.isfile() or member.isdir()):
                    raise ZooError(f"refusing to extract {Path(archive).name}: member "
                                   f"{member.name!r} is a link or points outside the archive")
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **extra)
            saved_model_dir(tmp, what=Path(archive).name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ZooError(f"cannot extract {archive}: {exc}; the download may be corrupt, "
                       f"delete it and try again") from None


def saved_model_dir(path: Path, what: str) -> Path:
    """``path`` or its single subdirectory, whichever holds ``saved_model.pb``."""
    if (path / "saved_model.pb").is_file():
        return path
    inner = [p for p in path.iterdir() if p.is_dir() and (p / "saved_model.pb").is_file()]
    if len(inner) == 1:
        return inner[0]
    raise ZooError(f"{what} holds no SavedModel (no saved_model.pb); pass a SavedModel "
                   f"directory or a TF Hub model archive")
