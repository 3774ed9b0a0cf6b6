"""Image folders: scan, check and split them, then feed them to Keras through tf.data.

Layouts, in the order they are recognised:

* ``DIR/train/<class>/...`` with ``val/`` (or ``valid/``, ``validation/``) and optional
  ``test/`` beside it; without a val tree, val is split off train (``val_split``);
* ``DIR/<class>/...``: one sub-folder per class, split into train and val at random with
  ``seed`` (stratified per class).

Images are ``.jpg .jpeg .png .bmp .gif .webp`` in any letter case, found at any depth under a
class folder. Every file is decoded once with Pillow during the scan, so files that are not
images or don't decode are skipped and reported before training starts, never mid-epoch. Files
at the top level are ignored. Pixels go to the model as RGB floats 0-255 (grayscale, palette and
RGBA images are converted; transparency is dropped).

Scanning needs only Pillow; :func:`image_dataset` imports TensorFlow.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.recipes import val_count

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SPLIT_FOLDERS = {"train": ("train", "training"), "val": ("val", "valid", "validation"),
                 "test": ("test", "testing")}
#: Decoded uint8 images up to this size are cached in memory after the first epoch.
CACHE_BYTES = 2 << 30
#: How many skipped files a report names.
REPORT_PATHS = 5


@dataclass
class ImageFolder:
    """A scanned image folder: class names, the (path, class index) items of each split, and
    the files skipped with the reason."""

    root: Path
    classes: list[str]
    splits: dict[str, list[tuple[str, int]]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    layout: str = "class folders"

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each split."""
        return {split: {name: sum(1 for _, c in items if c == i)
                        for i, name in enumerate(self.classes)}
                for split, items in self.splits.items()}

    def report(self) -> list[str]:
        """Human lines: what was found, and what was skipped (count and the first few paths)."""
        sizes = ", ".join(f"{len(items)} {split}" for split, items in self.splits.items() if items)
        split = f": {sizes}" if self.splits["val"] or self.splits["test"] else ""
        classes = f" in {len(self.classes)} classes" if self.classes else ""
        lines = [f"Found {sum(map(len, self.splits.values()))} images{classes} in {self.root} "
                 f"({self.layout}{split})"]
        return lines + self.notes + skipped_report(self.skipped)

    def info(self) -> dict:
        """What a run's config.json records about its data: path, layout, counts, skipped."""
        return {"path": str(self.root), "layout": self.layout, "counts": self.counts(),
                "skipped": len(self.skipped),
                "skipped_files": [path for path, _ in self.skipped[:20]]}

    def to_json(self) -> dict:
        """The splits.json form: ``{"train": [[abs_path, class_index], ...], "val": ...,
        "test": ...}``."""
        return {split: [[path, index] for path, index in self.splits.get(split, [])]
                for split in ("train", "val", "test")}

    def class_weight(self) -> dict[int, float]:
        """Balanced weights, ``n / (classes * count)``, from the train split."""
        counts = np.bincount([c for _, c in self.splits["train"]], minlength=len(self.classes))
        total = counts.sum()
        return {i: float(total / (len(self.classes) * n)) if n else 0.0
                for i, n in enumerate(counts)}


def skipped_report(skipped: list[tuple[str, str]]) -> list[str]:
    """Human lines for files skipped as unreadable: their count and the first few, with why."""
    if not skipped:
        return []
    lines = [f"Skipped {len(skipped)} file(s) that are not readable images:"]
    lines += [f"  {path}: {reason}" for path, reason in skipped[:REPORT_PATHS]]
    if len(skipped) > REPORT_PATHS:
        lines.append(f"  ... and {len(skipped) - REPORT_PATHS} more")
    return lines


def scan_folder(root: str | Path, val_split: float = 0.2, seed: int = 0,
                classes: list[str] | None = None) -> ImageFolder:
    """Scan ``root`` (see the module doc) into an :class:`ImageFolder`.

    ``classes`` fixes the class list and order (evaluating a trained model): a class folder
    not in it is an error. Raises ZooError for a missing folder, no images or one class.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        problem = "is a file, not a folder" if root.exists() else "does not exist"
        csv = "; a CSV of image paths and targets trains with --head multilabel or " \
              "--head regression" if root.suffix.lower() == ".csv" else ""
        raise ZooError(f"data folder {root} {problem}; pass --data DIR with one sub-folder "
                       f"per class{csv}")
    if not 0.0 <= val_split < 1.0:
        raise ZooError(f"--val-split must be in [0, 1), got {val_split}")
    trees = _split_trees(root)
    layout = "train/val/test folders" if "train" in trees else "class folders"
    found = {split: _class_files(tree) for split, tree in trees.items()} if trees else \
        {"train": _class_files(root)}
    checked, skipped = check_images([p for per_class in found.values()
                                   for files in per_class.values() for p in files])
    good = {split: {name: [p for p in files if p in checked] for name, files in per_class.items()}
            for split, per_class in found.items()}
    notes = []
    if classes is None:
        classes = sorted(name for name, files in good["train"].items() if files)
        empty = sorted(name for name, files in good["train"].items() if not files)
        if empty:
            notes.append(f"Ignored class folder(s) with no readable images: {', '.join(empty)}")
        total = sum(len(f) for per_class in good.values() for f in per_class.values())
        if not total:
            raise ZooError(f"no readable images in {root}; expected one sub-folder per class "
                           f"holding {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files")
        if len(classes) < 2:
            raise ZooError(f"{root} has {len(classes)} class folder with images "
                           f"({', '.join(classes) or 'none'}); classification needs at least "
                           f"2, one sub-folder per class")
    index = {name: i for i, name in enumerate(classes)}
    for per_class in good.values():
        unknown = sorted(n for n, files in per_class.items() if files and n not in index)
        if unknown:
            raise ZooError(f"class folder(s) {', '.join(unknown)} in {root} are not classes this "
                           f"model knows ({', '.join(classes)}); rename or remove them")

    def items(per_class):
        return [(p, index[name]) for name in classes for p in per_class.get(name, [])]

    splits = {"train": items(good["train"]),
              "val": items(good["val"]) if "val" in good else [],
              "test": items(good.get("test", {}))}
    if "val" not in good and val_split > 0:
        splits["train"], splits["val"] = _stratified_split(splits["train"], val_split, seed)
    return ImageFolder(root.resolve(), list(classes), splits, skipped, notes, layout)


def scan_unlabelled(root: str | Path, val_split: float = 0.1, seed: int = 0) -> ImageFolder:
    """Every readable image under ``root``, at any depth, for training without labels; a
    ``val_split`` fraction is held out at random.

    A folder laid out for classification (one sub-folder per class, or train/val/test trees
    of them, and no images at the top) keeps its classes and splits, so a run can score itself
    with them; otherwise ``classes`` is empty and every item's class is -1.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        problem = "is a file, not a folder" if root.exists() else "does not exist"
        raise ZooError(f"data folder {root} {problem}; pass --data DIR, a folder of images")
    loose = any(_is_image_name(p) for p in root.iterdir())
    classes = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
               and any(_is_image_name(p) for p in d.rglob("*"))]
    if (_split_trees(root) or len(classes) >= 2) and not loose:
        return scan_folder(root, val_split, seed)
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    checked, skipped = check_images(files)
    items = [(path, -1) for path in files if path in checked]
    if not items:
        raise ZooError(f"no readable images in {root}; expected "
                       f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files at any depth")
    random.Random(seed).shuffle(items)
    n_val = min(len(items) - 1, round(len(items) * val_split)) if val_split > 0 else 0
    splits = {"train": sorted(items[n_val:]), "val": sorted(items[:n_val]), "test": []}
    return ImageFolder(root.resolve(), [], splits, skipped, layout="images without labels")


def heldout_items(folder: ImageFolder) -> list[tuple[str, int]]:
    """What to evaluate on: the test split if there is one, else val, else everything."""
    for split in ("test", "val"):
        if folder.splits.get(split):
            return folder.splits[split]
    return folder.splits["train"]


def list_images(paths) -> tuple[list[str], list[tuple[str, str]]]:
    """Image files among ``paths`` (files, or folders searched recursively), checked.

    Returns (readable paths, skipped (path, reason)); a path that does not exist is an error.
    """
    files = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if _is_image_name(p))
        elif path.is_file():
            files.append(str(path))
        else:
            raise ZooError(f"{path} does not exist; pass image files or folders of images")
    checked, skipped = check_images(files)
    return [f for f in files if f in checked], skipped


def images_to_predict(inputs, log) -> list[str]:
    """The readable image files among ``inputs`` (a file or folder, or a list of them) for a
    task's ``predict``; unreadable ones are logged through ``log`` and left out, none at all is
    a ZooError."""
    paths, skipped = list_images([inputs] if isinstance(inputs, (str, Path)) else inputs)
    for path, reason in skipped:
        log(f"Skipped {path}: {reason}")
    if not paths:
        raise ZooError("no readable images among the given paths")
    return paths


def predict_images(model, paths: list[str], size: tuple[int, int],
                   batch_size: int = 64) -> np.ndarray:
    """``model``'s outputs for the images at ``paths``, read (as training reads them) and run
    ``batch_size`` at a time, so a large folder never sits in memory whole."""
    outputs = [model.predict(load_images(paths[start:start + batch_size], size), verbose=0)
               for start in range(0, len(paths), batch_size)]
    return np.concatenate(outputs)


def load_image(path: str, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 RGB ``(height, width, 3)``: decoded by Pillow, resized bilinearly.

    Training, evaluation and prediction all read images through this one function.
    """
    from PIL import Image

    height, width = size
    with Image.open(path) as image:
        image.draft("RGB", (width, height))  # JPEG: decode at a reduced scale when it can
        rgb = image.convert("RGB")
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def load_images(paths: list[str], size: tuple[int, int]) -> np.ndarray:
    """A float32 batch ``(n, height, width, 3)`` of RGB pixels 0-255."""
    with ThreadPoolExecutor(_workers()) as pool:
        images = list(pool.map(lambda p: load_image(p, size), paths))
    return np.stack(images).astype(np.float32) if images else \
        np.zeros((0, *size, 3), np.float32)


def label_array(items) -> np.ndarray:
    """The labels of ``(path, label)`` items as a model trains on them: class indices as int32,
    target vectors (multi-label 0/1 indicators, regression values) as float32 rows."""
    labels = [label for _, label in items]
    if labels and isinstance(labels[0], (list, tuple, np.ndarray)):
        return np.asarray(labels, dtype=np.float32).reshape(len(labels), -1)
    return np.asarray(labels, dtype=np.int32)


def image_dataset(items: list[tuple], size: tuple[int, int], batch_size: int,
                  shuffle: bool = False, seed: int = 0, drop_remainder: bool = False,
                  repeat: int = 1):
    """A ``tf.data.Dataset`` of ``(float32 images 0-255, labels)`` batches, the labels as
    :func:`label_array` gives them.

    Decoding runs in parallel (AUTOTUNE); decoded images are cached in memory when they fit in
    :data:`CACHE_BYTES`, then shuffled (seeded, reshuffled each epoch), passed over ``repeat``
    times (an epoch of a small set: each pass in a new order), batched (full batches only with
    ``drop_remainder``) and prefetched.
    """
    import tensorflow as tf

    height, width = size
    paths = [p for p, _ in items]
    labels = label_array(items)

    def decode(path, label):
        image = tf.numpy_function(lambda p: load_image(p.decode(), size), [path], tf.uint8,
                                  stateful=False)
        image.set_shape((height, width, 3))
        return image, label

    fits = len(items) * height * width * 3 <= CACHE_BYTES
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle and not fits:
        ds = ds.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if fits:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
    if repeat > 1:
        ds = ds.repeat(repeat)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.prefetch(tf.data.AUTOTUNE)


# -- scanning helpers ---------------------------------------------------------------------------
def _is_image_name(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and \
        not path.name.startswith(".")


def _split_trees(root: Path) -> dict[str, Path]:
    """``{"train": DIR/train, "val": DIR/valid, ...}`` if ``root`` has a train folder, else {}."""
    folders = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    trees = {split: folders[name] for split, names in SPLIT_FOLDERS.items()
             for name in names if name in folders}
    return trees if "train" in trees else {}


def _class_files(tree: Path) -> dict[str, list[str]]:
    """Class folder name -> every file under it (stray top-level files are ignored)."""
    return {d.name: sorted(str(p) for p in d.rglob("*") if p.is_file()
                           and not p.name.startswith("."))
            for d in sorted(tree.iterdir()) if d.is_dir() and not d.name.startswith(".")}


def check_images(files: list[str]) -> tuple[set[str], list[tuple[str, str]]]:
    """Decode every file once (in threads; Pillow releases the GIL while decoding): the readable
    ones, and (path, reason) for the others."""
    from zoo.progress import progress

    with ThreadPoolExecutor(_workers()) as pool:
        reasons = list(progress(pool.map(_why_unreadable, files), "Checking images",
                                total=len(files), unit="img"))
    good = {f for f, reason in zip(files, reasons) if reason is None}
    return good, [(f, r) for f, r in zip(files, reasons) if r is not None]


def _why_unreadable(path: str) -> str | None:
    """None if Pillow decodes ``path`` fully, else a short reason."""
    from PIL import Image

    if Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
        return f"not an image file type ({Path(path).suffix or 'no extension'})"
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))
            image.load()
    except Exception as exc:  # Pillow raises many types for bad files; all mean "skip it"
        return (str(exc).splitlines() or [type(exc).__name__])[0][:120]
    return None


def _stratified_split(items, fraction: float, seed: int):
    """Per class, a seeded ``fraction`` goes to val (:func:`zoo.recipes.val_count`: at least
    two images of a class that has four, one of a smaller one, never all)."""
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted({c for _, c in items}):
        members = [item for item in items if item[1] == label]
        rng.shuffle(members)
        n_val = val_count(len(members), fraction)
        val += members[:n_val]
        train += members[n_val:]
    return train, val


def _workers() -> int:
    return min(8, (os.cpu_count() or 1) + 2)
