"""Progress bars for long steps that are not epochs (scanning a big image folder, int8
calibration, checking an export), drawn by tqdm rather than by hand.

``progress(iterable, desc, total)`` yields the items of ``iterable`` unchanged. A bar is drawn on
stderr only when stderr is a terminal, the step is long enough to be worth one (``total`` at
least ``min_total``), and ``ZOO_PROGRESS=0`` does not turn it off; otherwise
it is a plain pass-through, so logs and test output stay clean.

Light: importing this module imports neither TensorFlow nor tqdm.
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

__all__ = ["progress", "enabled"]

T = TypeVar("T")


def enabled(file=None) -> bool:
    """Whether a bar would be drawn now: ``file`` (default stderr) is a terminal and
    ``ZOO_PROGRESS`` does not turn bars off (``ZOO_PROGRESS=1`` draws them anywhere)."""
    if os.environ.get("ZOO_PROGRESS", "").lower() in ("0", "off", "false", "no"):
        return False
    forced = os.environ.get("ZOO_PROGRESS", "").lower() in ("1", "on", "true", "yes")
    stream = sys.stderr if file is None else file
    try:
        return forced or bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return forced


def progress(iterable: Iterable[T], desc: str, total: int | None = None, *,
             unit: str = "it", min_total: int = 200, file=None) -> Iterator[T]:
    """``iterable`` with a tqdm bar named ``desc`` (see the module doc). ``file``: where the bar
    goes (default ``sys.stderr``); code that captures file descriptor 2 (TensorFlow's converter
    chatter) passes a stream on a duplicate of the terminal's descriptor taken before."""
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not enabled(file) or (total is not None and total < min_total):
        yield from iterable
        return
    from tqdm import tqdm

    with tqdm(iterable, desc=desc, total=total, unit=unit, leave=False,
              file=sys.stderr if file is None else file,
              dynamic_ncols=True) as bar:
        yield from bar
