"""``zoo data digits OUT``: scikit-learn's handwritten digits as a class-per-folder PNG set.

The 1,797 8x8 images ship inside scikit-learn, so tests and the demo have real images offline.
They are upsampled to 32 px (the smallest size keras.applications backbones accept) as RGB PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo import io
from zoo.errors import ZooError


#: How the 8x8 digits are upsampled: two renderings of the same data.
RESAMPLING = ("bilinear", "nearest")


def write_digits(out: str | Path, size: int = 32, test_split: float = 0.0, seed: int = 0,
                 limit: int | None = None, resample: str = "bilinear") -> dict:
    """Write ``out/<digit>/<n>.png`` (or ``out/train/...`` and ``out/test/...`` when
    ``test_split`` > 0, the test images picked at random with ``seed``).

    ``limit`` caps the images per class (small sets for tests). ``resample`` is ``bilinear``
    (smooth strokes) or ``nearest`` (blocky 8x8 pixels): the same digits rendered two ways, to
    check that a recipe holds on data it was not tuned on. Returns ``{"path", "counts"}`` with
    counts per split and class.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ZooError(f"{out} exists and is not empty; choose a new folder for the digits")
    if not 0.0 <= test_split < 1.0:
        raise ZooError(f"test_split must be in [0, 1), got {test_split}")
    if resample not in RESAMPLING:
        raise ZooError(f"resample must be one of {', '.join(RESAMPLING)}, got {resample!r}")
    method = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[resample]
    digits = load_digits()
    rng = np.random.default_rng(seed)
    counts: dict[str, dict[str, int]] = {}
    for label in range(10):
        indices = np.flatnonzero(digits.target == label)[:limit]
        rng.shuffle(indices)
        n_test = int(round(len(indices) * test_split))
        for position, index in enumerate(indices):
            split = "test" if position < n_test else "train"
            folder = (out / split if test_split else out) / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            # 8x8 values 0-16 -> 0-255 grey, upsampled, stored as RGB.
            pixels = (digits.images[index] * (255 / 16)).astype(np.uint8)
            image = Image.fromarray(pixels, "L").resize((size, size), method)
            with io.atomic_path(folder / f"{index:04d}.png") as tmp:
                image.convert("RGB").save(tmp, format="PNG")
            per_split = counts.setdefault(split if test_split else "all", {})
            per_split[str(label)] = per_split.get(str(label), 0) + 1
    return {"path": str(out), "counts": counts}
