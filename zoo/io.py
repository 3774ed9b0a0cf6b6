"""Atomic file writes: a temporary name beside the target, then ``os.replace``.

An interrupted write never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "write_text", "write_json", "read_json"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``target``; on success move it into place.

    Works for files and for directories (a SavedModel): whatever the body writes at the yielded
    path replaces ``target`` only if the body finishes. ``suffix`` keeps extensions some writers
    insist on (Keras wants ``.keras``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp = tmp_dir / (target.name + suffix if suffix and not target.name.endswith(suffix)
                     else target.name)
    try:
        yield tmp
        if target.is_dir() and not target.is_symlink():
            # os.replace cannot swap a non-empty directory: move the old one aside first.
            old = tmp_dir / ".old"
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_text(target: str | os.PathLike, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, value) -> Path:
    return write_text(target, json.dumps(value, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def file_size(path: str | os.PathLike) -> int:
    """Bytes in a file, or in all files under a folder (a SavedModel)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_size(size) -> str:
    """``2048`` -> ``"2.0 KB"`` (1024-based, as file managers show); ``"?"`` when unknown."""
    if not isinstance(size, (int, float)) or isinstance(size, bool):
        return "?"
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
