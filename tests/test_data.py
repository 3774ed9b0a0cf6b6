"""Image folders: layouts, odd formats, bad files, clear errors, the tf.data pipeline, digits."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.data.digits import write_digits
from zoo.data.images import image_dataset, list_images, load_image, scan_folder
from zoo.errors import ZooError


def _image(path: Path, mode="RGB", size=(12, 10), value=128, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode in ("L", "P") else (value,) * len(mode)).save(
        path, format=fmt)
    return path


@pytest.fixture
def mixed_folder(tmp_path):
    """Three classes of valid images in every supported format and case, plus junk."""
    root = tmp_path / "photos"
    for cls in ("cat", "dog", "eel"):
        for i in range(4):
            _image(root / cls / f"{i}.png")
    _image(root / "cat" / "grey.BMP", mode="L", fmt="BMP")
    _image(root / "dog" / "alpha.png", mode="RGBA")
    _image(root / "dog" / "upper.JPG", fmt="JPEG")
    _image(root / "eel" / "nested" / "deep.jpeg", fmt="JPEG")
    _image(root / "eel" / "anim.gif", mode="P", fmt="GIF")
    _image(root / "eel" / "web.webp", fmt="WEBP")
    (root / "cat" / "corrupt.jpg").write_bytes(os.urandom(300))
    (root / "dog" / "empty.png").write_bytes(b"")
    (root / "eel" / "notes.txt").write_text("hello")
    (root / "README.md").write_text("stray top-level file")
    (root / "cat" / ".DS_Store").write_bytes(b"\0")
    return root


def test_scan_reports_bad_files_and_keeps_odd_formats(mixed_folder):
    folder = scan_folder(mixed_folder, val_split=0.25, seed=3)
    assert folder.classes == ["cat", "dog", "eel"]
    kept = {Path(p).name for items in folder.splits.values() for p, _ in items}
    assert {"grey.BMP", "alpha.png", "upper.JPG", "deep.jpeg", "anim.gif", "web.webp"} <= kept
    assert {Path(p).name for p, _ in folder.skipped} == {"corrupt.jpg", "empty.png", "notes.txt"}
    report = "\n".join(folder.report())
    assert "Skipped 3 file(s)" in report and "corrupt.jpg" in report
    assert "README" not in report and ".DS_Store" not in report
    counts = folder.counts()
    assert sum(counts["val"].values()) == len(folder.splits["val"]) >= 3
    assert all(n >= 1 for n in counts["val"].values())  # stratified: every class in val


def test_split_is_seeded(mixed_folder):
    a = scan_folder(mixed_folder, val_split=0.3, seed=1).splits
    b = scan_folder(mixed_folder, val_split=0.3, seed=1).splits
    c = scan_folder(mixed_folder, val_split=0.3, seed=2).splits
    assert a == b
    assert a["val"] != c["val"]


def test_train_valid_test_trees(tmp_path):
    for split in ("train", "valid", "test"):
        for cls in ("a", "b"):
            _image(tmp_path / split / cls / "x.png")
            _image(tmp_path / split / cls / "y.png")
    folder = scan_folder(tmp_path, val_split=0.5)
    assert folder.layout == "train/val/test folders"
    assert [len(folder.splits[s]) for s in ("train", "val", "test")] == [4, 4, 4]
    splits = folder.to_json()
    assert all(Path(p).is_absolute() for p, _ in splits["train"])
    json.dumps(splits)


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "no readable images"),
    (lambda root: _image(root / "only" / "x.png"), "at least 2"),
    (lambda root: (root / "a").mkdir() or (root / "b").mkdir(), "no readable images"),
])
def test_unusable_folders_give_one_clear_error(tmp_path, setup, message):
    root = tmp_path / "data"
    root.mkdir()
    setup(root)
    with pytest.raises(ZooError, match=message):
        scan_folder(root)


def test_missing_folder_and_unknown_class(tmp_path):
    with pytest.raises(ZooError, match="does not exist"):
        scan_folder(tmp_path / "nope")
    _image(tmp_path / "a" / "x.png")
    _image(tmp_path / "zebra" / "x.png")
    with pytest.raises(ZooError, match="zebra"):
        scan_folder(tmp_path, classes=["a", "b"])


def test_every_image_becomes_rgb_at_the_requested_size(mixed_folder):
    paths, skipped = list_images([mixed_folder])
    assert len(skipped) == 2  # corrupt.jpg and empty.png; notes.txt is not an image name
    for path in paths:
        pixels = load_image(path, (8, 6))
        assert pixels.shape == (8, 6, 3) and pixels.dtype == np.uint8


def test_image_dataset_batches_float_pixels(mixed_folder):
    folder = scan_folder(mixed_folder, val_split=0.0)
    ds = image_dataset(folder.splits["train"], (16, 16), batch_size=4, shuffle=True, seed=0)
    images, labels = next(iter(ds))
    assert images.shape == (4, 16, 16, 3) and images.dtype.name == "float32"
    assert float(images.numpy().max()) > 1.0  # raw 0-255 pixels, not rescaled
    assert sum(int(x.shape[0]) for x, _ in ds) == len(folder.splits["train"])


def test_digits_writes_class_folders(tmp_path):
    summary = write_digits(tmp_path / "d", limit=5, test_split=0.2)
    assert summary["counts"]["train"] == {str(i): 4 for i in range(10)}
    assert summary["counts"]["test"] == {str(i): 1 for i in range(10)}
    image = Image.open(next((tmp_path / "d" / "train" / "7").glob("*.png")))
    assert image.size == (32, 32) and image.mode == "RGB"
    with pytest.raises(ZooError, match="not empty"):
        write_digits(tmp_path / "d")


def test_digits_come_in_two_renderings_of_the_same_images(tmp_path):
    smooth = write_digits(tmp_path / "smooth", limit=2)["path"]
    blocky = write_digits(tmp_path / "blocky", limit=2, resample="nearest")["path"]
    names = sorted(p.relative_to(smooth) for p in Path(smooth).rglob("*.png"))
    assert names == sorted(p.relative_to(blocky) for p in Path(blocky).rglob("*.png"))
    pixels = np.asarray(Image.open(Path(blocky) / names[0]))[..., 0]
    blocks = pixels.reshape(8, 4, 8, 4)  # each 8x8 source pixel became one flat 4x4 block
    assert (blocks == blocks[:, :1, :, :1]).all()
    assert len(np.unique(np.asarray(Image.open(Path(smooth) / names[0])))) > len(np.unique(pixels))
    with pytest.raises(ZooError, match="resample must be one of bilinear, nearest"):
        write_digits(tmp_path / "other", resample="bicubic")


def test_class_weight_balances_counts(tmp_path):
    for i in range(6):
        _image(tmp_path / "many" / f"{i}.png")
    for i in range(2):
        _image(tmp_path / "few" / f"{i}.png")
    weights = scan_folder(tmp_path, val_split=0.0).class_weight()
    # classes sorted: few=0, many=1
    assert weights[0] == pytest.approx(8 / (2 * 2)) and weights[1] == pytest.approx(8 / (2 * 6))
