"""Image tables: a CSV file of image paths and their targets, read for the multi-label and the
regression image tasks (``zoo finetune BACKBONE --data FILE.csv --head multilabel|regression``).

::

    image,tags              image,cat,dog,person        image,digit,ink
    photos/1.jpg,cat;dog    photos/1.jpg,1,1,0          digits/1.png,7,0.31
    photos/2.jpg,           photos/2.jpg,0,0,0          digits/2.png,0,0.42

* **Images**: the column ``--image-column`` names, by default the first column called image,
  path, file, filename, filepath or image_path (any case), else the first column. Paths are
  relative to the CSV's folder, or absolute.
* **Multi-label**, the primary format: one column of labels separated by ``;`` or ``|``
  (``--target-columns tags``; by default the column called labels or tags, else the only other
  column); an empty cell is an image with none of the labels. The alternative: one 0/1 column
  per label (``--target-columns cat,dog,person``; by default every other column, when each holds
  only 0 and 1). Labels are every label the file names, sorted (0/1 columns: in file order).
* **Regression**: one or more numeric columns (``--target-columns digit,ink``; by default every
  other column).
* **Splits**: an optional ``split`` column says ``train``, ``val`` or ``test`` per row (also
  training, valid, validation, testing; empty is train). Without val rows, a seeded
  ``val_split`` fraction of the training rows is held out (at least 2 when there are 4).

Every image is decoded once up front (:func:`zoo.data.images.check_images`): a missing or
unreadable file, or a row without a path, is reported and skipped, never met mid-epoch. A
missing column, a target that is not a number (or not 0/1), an unknown split or no readable
image at all is one ZooError line naming the row and the fix.

Reading a table needs only the standard library, numpy and Pillow.
"""

from __future__ import annotations

import csv
import math
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from zoo.data.images import SPLIT_FOLDERS, check_images, skipped_report
from zoo.errors import ZooError
from zoo.recipes import val_count

#: What the targets are: multi-label 0/1 indicators, or regression values.
KINDS = ("multilabel", "regression")
#: Column names taken for the image paths when ``image_column`` is not given (any case).
IMAGE_COLUMNS = ("image", "path", "file", "filename", "filepath", "image_path")
#: Column names taken for a multi-label table's labels when ``target_columns`` is not given.
LABEL_COLUMNS = ("labels", "tags")
#: The optional column that assigns rows to splits.
SPLIT_COLUMN = "split"
#: What separates the labels of one row in a labels column.
LABEL_SEPARATORS = re.compile(r"[;|]")


@dataclass
class ImageTable:
    """A read image CSV: the model's output names in order (``classes``: labels, or target
    columns), the ``(path, target vector)`` items of each split, and the rows skipped."""

    path: Path
    kind: str
    classes: list[str]
    splits: dict[str, list[tuple[str, list]]]
    image_column: str
    #: The CSV columns the targets came from (a labels column, the 0/1 columns, or the numeric
    #: ones): what evaluating on another CSV reads.
    columns: list[str]
    #: How the targets were read, for the report (``labels in column 'tags'``).
    layout: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def described(self) -> str:
        """``with 3 labels`` / ``with 2 targets``: what the images are labelled with."""
        noun = "label" if self.kind == "multilabel" else "target"
        return f"with {len(self.classes)} {noun}{'s' * (len(self.classes) != 1)}"

    def report(self) -> list[str]:
        """Human lines: what was found, notes, and what was skipped (count and the first few)."""
        sizes = ", ".join(f"{len(items)} {split}" for split, items in self.splits.items() if items)
        found = sum(map(len, self.splits.values()))
        return [f"Found {found} images {self.described()} in {self.path} ({self.layout}: "
                f"{sizes})", *self.notes, *skipped_report(self.skipped)]

    def info(self) -> dict:
        """What a run's config.json records about its data."""
        info = {"path": str(self.path), "format": self.kind, "layout": self.layout,
                "image_column": self.image_column, "columns": self.columns,
                "counts": {split: len(items) for split, items in self.splits.items()},
                "skipped": len(self.skipped),
                "skipped_files": [path for path, _ in self.skipped[:20]]}
        if self.kind == "multilabel":
            info["positives"] = {split: {name: int(sum(target[i] for _, target in items))
                                         for i, name in enumerate(self.classes)}
                                 for split, items in self.splits.items()}
        return info

    def to_json(self) -> dict:
        """The splits.json form: ``{"train": [[abs_path, [targets...]], ...], ...}``."""
        return {split: [[path, list(target)] for path, target in self.splits.get(split, [])]
                for split in ("train", "val", "test")}


def read_image_table(path: str | Path, kind: str, image_column: str | None = None,
                     target_columns: list[str] | None = None, val_split: float = 0.2,
                     seed: int = 0, classes: list[str] | None = None) -> ImageTable:
    """Read the CSV at ``path`` (see the module doc) for ``kind`` (``multilabel`` or
    ``regression``) into an :class:`ImageTable`.

    ``classes`` fixes the output names and their order (evaluating a trained run on another
    CSV): an unknown label is an error, and so is a missing label or target column.
    """
    path = table_path(path, kind)
    if not 0.0 <= val_split < 1.0:
        raise ZooError(f"--val-split must be in [0, 1), got {val_split}")
    header, rows = _read_csv(path)
    image = _image_column(header, image_column, path)
    split_column = next((c for c in header if c.lower() == SPLIT_COLUMN and c != image), None)
    others = [c for c in header if c not in (image, split_column)]
    if kind == "multilabel":
        columns, classes, targets, layout = _multilabel_targets(path, header, others, rows,
                                                                target_columns, classes)
    else:
        columns, classes, targets, layout = _regression_targets(path, header, others, rows,
                                                                target_columns, classes)
    base = path.parent
    found, skipped = [], []
    for (line, row), target in zip(rows, targets):
        cell = row[image].strip()
        if not cell:
            skipped.append((f"{path.name} line {line}", f"no image path in column {image!r}"))
            continue
        split = _split(row[split_column] if split_column else "", path, line)
        found.append((os.path.abspath(base / Path(cell).expanduser()), target, split))
    readable, unreadable = check_images(sorted({item[0] for item in found}))
    skipped += [(p, reason) for p, reason in unreadable]
    items = [item for item in found if item[0] in readable]
    if not items:
        raise ZooError(f"no readable images in {path}: column {image!r} names "
                       f"{len(found)} file(s) and none decodes; paths are relative to "
                       f"{base} (or absolute)")
    splits = {split: [(p, t) for p, t, s in items if s == split] for split in SPLIT_FOLDERS}
    if not splits["val"] and val_split > 0:
        splits["train"], splits["val"] = _random_split(splits["train"], val_split, seed)
    notes = []
    if kind == "multilabel":
        unseen = [name for i, name in enumerate(classes)
                  if not any(target[i] for _, target in splits["train"])]
        if unseen:
            notes.append(f"Label(s) with no training image: {', '.join(unseen)} (the model "
                         f"cannot learn them)")
    return ImageTable(path.resolve(), kind, classes, splits, image, columns, layout,
                      skipped, notes)


def table_path(path: str | Path | None, kind: str) -> Path:
    """``path`` as a Path when it is a file; else one ZooError line saying what ``kind``
    (``multilabel`` or ``regression``) reads."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    targets = "labels" if kind == "multilabel" else "numeric targets"
    fix = f"pass --data FILE.csv: a column of image paths and their {targets}"
    if not path:
        raise ZooError(fix)
    path = Path(path).expanduser()
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise ZooError(f"--data {path} {problem}; {fix}")
    return path


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and the (line number, row) of every non-blank row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [name.strip() for name in reader.fieldnames or []]
            reader.fieldnames = header
            rows = [(reader.line_num, {k: (v or "") for k, v in row.items() if k is not None})
                    for row in reader if any((v or "").strip() for v in row.values()
                                             if isinstance(v, str))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ZooError(f"{path} is not a readable UTF-8 CSV file ({exc})") from None
    if not header:
        raise ZooError(f"{path} is empty; it needs a header row naming its columns")
    if len(set(header)) != len(header):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise ZooError(f"{path} names column(s) {', '.join(twice)} twice; rename them")
    if not rows:
        raise ZooError(f"{path} has a header and no rows")
    return header, rows


def _image_column(header: list[str], given: str | None, path: Path) -> str:
    if given:
        if given not in header:
            raise ZooError(f"{path} has no column {given!r} (columns: {', '.join(header)}); "
                           f"name the column of image paths with --image-column")
        return given
    lower = {name.lower(): name for name in reversed(header)}
    return next((lower[name] for name in IMAGE_COLUMNS if name in lower), header[0])


def _check_columns(path: Path, header: list[str], columns: list[str]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ZooError(f"{path} has no column {missing[0]!r} (columns: {', '.join(header)}); "
                       f"name the target columns with --target-columns")


def _multilabel_targets(path, header, others, rows, given, classes):
    """(columns, labels, one 0/1 vector per row, layout) of a multi-label table."""
    if given:
        _check_columns(path, header, given)
        columns = list(given)
    else:
        named = [c for c in others if c.lower() in LABEL_COLUMNS]
        if named or len(others) == 1:
            columns = (named or others)[:1]
        elif others and all(_indicator(row[c]) is not None for c in others for _, row in rows):
            columns = others
        else:
            raise ZooError(f"{path}: cannot tell which columns hold the labels (columns: "
                           f"{', '.join(header)}); name a column of labels separated by ';' "
                           f"(or several 0/1 columns) with --target-columns")
    if len(columns) == 1:  # the primary format: labels separated by ; or |
        (column,) = columns
        sets = [{label.strip() for label in LABEL_SEPARATORS.split(row[column]) if label.strip()}
                for _, row in rows]
        labels = sorted(set().union(*sets))
        if classes is not None:
            unknown = sorted(set(labels) - set(classes))
            if unknown:
                raise ZooError(f"{path} names label(s) {', '.join(unknown)} that this model "
                               f"does not know ({', '.join(classes)})")
            labels = list(classes)
        if not labels:
            raise ZooError(f"column {column!r} of {path} names no label; separate a row's "
                           f"labels with ';' (or give one 0/1 column per label)")
        targets = [[int(label in found) for label in labels] for found in sets]
        return columns, labels, targets, f"{len(labels)} labels in column {column!r}"
    if classes is not None and list(classes) != columns:
        raise ZooError(f"{path}: this model's labels are the 0/1 columns "
                       f"{', '.join(classes)}; the file must have them all")
    targets = _parsed(path, rows, columns, _indicator,
                      "not 0 or 1; a multi-label CSV has one column of labels separated by ';' "
                      "or several 0/1 columns")
    return columns, list(columns), targets, f"{len(columns)} labels as 0/1 columns"


def _parsed(path: Path, rows, columns: list[str], parse, expected: str) -> list[list]:
    """Each row's ``columns`` through ``parse`` (None: not a valid value); a cell that is not
    is one ZooError naming the line, the column and what was ``expected``."""
    targets = []
    for line, row in rows:
        vector = [parse(row[column]) for column in columns]
        if None in vector:
            column = columns[vector.index(None)]
            raise ZooError(f"{path} line {line}: column {column!r} holds "
                           f"{row[column].strip()!r}, {expected}")
        targets.append(vector)
    return targets


def _indicator(cell: str) -> int | None:
    """0 or 1 from a cell holding 0 or 1 (also 0.0, 1.0); else None."""
    number = _number(cell)
    return int(number) if number in (0.0, 1.0) else None


def _number(cell: str) -> float | None:
    """The finite number in a cell; else None."""
    try:
        number = float(cell)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _regression_targets(path, header, others, rows, given, classes):
    """(columns, target names, one value vector per row, layout) of a regression table."""
    columns = list(given or classes or others)
    if not columns:
        raise ZooError(f"{path} has no column besides the image paths; add numeric target "
                       f"columns and name them with --target-columns")
    _check_columns(path, header, columns)
    if classes is not None and list(classes) != columns:
        raise ZooError(f"{path}: this model predicts {', '.join(classes)}; pass them as "
                       f"--target-columns")
    targets = _parsed(path, rows, columns, _number,
                      "not a number; regression targets are numbers (name the target columns "
                      "with --target-columns)")
    noun = "target" if len(columns) == 1 else "targets"
    return columns, columns, targets, f"numeric {noun} {', '.join(columns)}"


def _split(cell: str, path: Path, line: int) -> str:
    value = cell.strip().lower()
    if not value:
        return "train"
    for split, names in SPLIT_FOLDERS.items():
        if value in names:
            return split
    raise ZooError(f"{path} line {line}: split {cell.strip()!r} is not train, val or test")


def _random_split(items: list, fraction: float, seed: int) -> tuple[list, list]:
    """A seeded ``fraction`` of ``items`` (:func:`zoo.recipes.val_count`) held out, each side
    in file order."""
    held = set(random.Random(seed).sample(range(len(items)), val_count(len(items), fraction)))
    return ([item for i, item in enumerate(items) if i not in held],
            [item for i, item in enumerate(items) if i in held])
