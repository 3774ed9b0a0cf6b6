"""Input-pipeline benchmark: training throughput of the ``zoo finetune`` image pipeline reading a
folder of photo-sized JPEGs, next to the same model and batch fed from in-memory tensors (the
compute bound), the seed-era ``ImageDataGenerator.flow_from_directory`` and
``keras.utils.image_dataset_from_directory`` as-is.

    python benchmarks/pipeline.py                       # writes 1,600 JPEGs to a temp folder
    python benchmarks/pipeline.py --data /tmp/jpegs --epochs 4 --json

Setting: stage 1 of transfer learning (backbone frozen, head trains), MobileNetV2 alpha 0.35 at
96 px, batch 32, built and compiled by the image-classification task itself. The JPEGs are
scikit-learn's 8x8 digits upsampled to about 400x400 with colour and photo-like grain, so it
runs offline. Each pipeline gets ``--epochs`` epochs (default 3): the first is warm-up, reported
on its own (it traces the model, and the zoo pipeline decodes and fills its cache then); the
others are the steady state, timed round-robin across the pipelines so that load from other
processes on a shared machine falls on all of them alike. The last line with ``--json`` is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import zoo
from zoo.tasks.base import TaskData

PIPELINES = ("bound", "pipeline", "imagedatagenerator", "from_directory")
LABELS = {"bound": "in-memory tensors (compute bound)",
          "pipeline": "zoo finetune pipeline (zoo.data.images)",
          "imagedatagenerator": "ImageDataGenerator.flow_from_directory",
          "from_directory": "image_dataset_from_directory as-is"}


# -- the data ---------------------------------------------------------------------------------
def write_jpegs(out: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` digits as ``size``x``size`` colour JPEGs with grain, ``out/<digit>/<n>.jpg``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    indices = rng.permutation(len(digits.target))[:count]
    tints = rng.uniform(0.5, 1.0, (count, 3))
    noise_seeds = rng.integers(0, 2**31, count)

    def write(position):
        index = indices[position]
        grey = Image.fromarray((digits.images[index] * (255 / 16)).astype(np.uint8), "L")
        big = np.asarray(grey.resize((size, size), Image.BILINEAR), np.float32)
        grain = np.random.default_rng(noise_seeds[position]).normal(0, 18, (size, size, 3))
        pixels = np.clip(big[..., None] * tints[position] + 40 + grain, 0, 255).astype(np.uint8)
        folder = out / str(digits.target[index])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGB").save(folder / f"{index:04d}.jpg", quality=90)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(write, range(count)))
    return out


# -- the model: built and compiled by the image-classification task ------------------------------
def mobilenet_v2_035(input_shape, weights):
    """Backbone-contract builder for MobileNetV2 alpha 0.35 (the registered one is alpha 1.0)."""
    import keras

    return keras.applications.MobileNetV2(input_shape=tuple(input_shape), alpha=0.35,
                                          include_top=False, weights=weights)


def make_task(data: Path, image_size: int, batch_size: int, epochs: int, work: Path):
    """The ``zoo finetune`` task with a MobileNetV2 alpha 0.35 backbone and "pretrained" (random,
    saved) weights, so stage 1 freezes the backbone exactly as it does for ImageNet weights."""
    from zoo.tasks.image_classification import ImageClassificationTask

    spec = zoo.Backbone("mobilenet_v2_035", f"{__name__}:mobilenet_v2_035", input_size=96,
                        weights=("none",), preprocess="scale_-1_1",
                        summary="MobileNetV2 alpha 0.35")
    weights = work / "mobilenet_v2_035.weights.h5"
    if not weights.is_file():
        mobilenet_v2_035((image_size, image_size, 3), None).save_weights(weights)
    task = ImageClassificationTask(backbone="mobilenet_v2", data=str(data), weights=str(weights),
                                   image_size=image_size, batch_size=batch_size, epochs=epochs,
                                   strategy="none")
    task.backbone_spec = spec
    task.log = lambda line: None
    return task


class EpochTimer:
    """Seconds per epoch of ``model.fit``."""

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timer.seconds.append(time.perf_counter() - timer.start)

        self.seconds: list[float] = []
        self.callback = Callback()


def feed(name: str, folder, size: tuple[int, int], batch_size: int, seed: int, memory):
    """What ``model.fit`` reads for pipeline ``name``."""
    import tensorflow as tf

    root = str(folder.root)
    if name == "pipeline":
        from zoo.data.images import image_dataset

        return image_dataset(folder.splits["train"], size, batch_size, shuffle=True, seed=seed)
    if name == "bound":
        images, labels = memory
        return (tf.data.Dataset.from_tensor_slices((images, labels))
                .shuffle(len(labels), seed=seed).batch(batch_size).prefetch(tf.data.AUTOTUNE))
    if name == "imagedatagenerator":
        from keras.src.legacy.preprocessing.image import ImageDataGenerator

        return ImageDataGenerator().flow_from_directory(
            root, target_size=size, batch_size=batch_size, class_mode="sparse", shuffle=True,
            seed=seed)
    return tf.keras.utils.image_dataset_from_directory(
        root, image_size=size, batch_size=batch_size, label_mode="int", shuffle=True, seed=seed,
        verbose=False)


def measure(task, folder, memory, names: list[str], epochs: int, report) -> dict:
    """Train one stage-1 model on every pipeline in turn, an epoch at a time; images/s each.

    Every pipeline first gets a warm-up epoch (the first also traces the model; the zoo pipeline
    decodes and fills its cache); then the timed epochs go round-robin, so a burst of load from
    other processes falls on all of them alike. Throughput doesn't depend on the weights, so
    one model serves all pipelines: the same model and batch by construction.
    """
    import zoo.loop as loop

    opts = task.options
    loop.setup(seed=opts["seed"], mixed_precision="off")
    model = task.build_model(TaskData(train=None, classes=folder.classes, splits=folder.splits))
    sources = {name: feed(name, folder, task.size, opts["batch_size"], opts["seed"], memory)
               for name in names}
    images = len(folder.splits["train"])
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for epoch in range(epochs):
        for name in names:
            timer = EpochTimer()
            model.fit(sources[name], epochs=1, callbacks=[timer.callback], verbose=0)
            seconds[name] += timer.seconds
            report(f"epoch {epoch + 1}/{epochs} {LABELS[name]}: "
                   f"{images / timer.seconds[0]:.0f} img/s")
    return {name: {"img_s": images * (epochs - 1) / sum(times[1:]),
                   "first_epoch_img_s": images / times[0],
                   "epoch_seconds": [round(t, 2) for t in times]}
            for name, times in seconds.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="JPEG folder (written there first if it has no images; "
                                       "default: a temp folder)")
    parser.add_argument("--images", type=int, default=1600)
    parser.add_argument("--jpeg-size", type=int, default=400)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3,
                        help="per pipeline; the first is warm-up, the others are timed")
    parser.add_argument("--only", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument("--json", action="store_true", help="print a JSON object last")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is warm-up)")

    from zoo.data.images import load_images, scan_folder

    work = Path(tempfile.mkdtemp(prefix="zoo-pipeline-bench-"))
    data = Path(args.data) if args.data else work / "jpegs"
    if not data.is_dir() or not any(data.rglob("*.jpg")):
        started = time.perf_counter()
        write_jpegs(data, args.images, args.jpeg_size)
        print(f"Wrote {args.images} JPEGs of {args.jpeg_size}x{args.jpeg_size} to {data} "
              f"({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    folder = scan_folder(data, val_split=0.0)
    task = make_task(data, args.image_size, args.batch_size, args.epochs, work)
    memory = None
    if "bound" in args.only:
        paths = [path for path, _ in folder.splits["train"]]
        memory = (load_images(paths, task.size),
                  np.asarray([c for _, c in folder.splits["train"]], np.int32))
    load_before = os.getloadavg()
    results = measure(task, folder, memory, args.only, args.epochs,
                      lambda line: print(line, file=sys.stderr))
    load = os.getloadavg()

    print(f"\n{len(folder.splits['train'])} JPEGs ({args.jpeg_size} px) -> {args.image_size} px, "
          f"MobileNetV2 alpha 0.35 stage 1 (backbone frozen), batch {args.batch_size}; "
          f"{args.epochs} epochs each, the first is warm-up, the rest timed round-robin; "
          f"{os.cpu_count()} CPU cores, load average {load_before[0]:.1f} before, "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} after")
    bound = results.get("bound", {}).get("img_s")
    print(f"{'pipeline':<42} {'img/s':>7} {'/ bound':>8} {'first epoch':>12}")
    for name, result in results.items():
        ratio = f"{result['img_s'] / bound:.2f}" if bound else "-"
        print(f"{LABELS[name]:<42} {result['img_s']:>7.0f} {ratio:>8} "
              f"{result['first_epoch_img_s']:>8.0f} img/s")

    def figure(name):
        return round(results[name]["img_s"], 1) if name in results else None

    summary = {"pipeline_img_s": figure("pipeline"), "bound_img_s": figure("bound"),
               "ratio": round(results["pipeline"]["img_s"] / bound, 3)
               if bound and "pipeline" in results else None,
               "imagedatagenerator_img_s": figure("imagedatagenerator"),
               "from_directory_img_s": figure("from_directory"),
               "pipeline_vs_imagedatagenerator": round(
                   results["pipeline"]["img_s"] / results["imagedatagenerator"]["img_s"], 2)
               if {"pipeline", "imagedatagenerator"} <= set(results) else None,
               "pipeline_first_epoch_img_s": round(results["pipeline"]["first_epoch_img_s"], 1)
               if "pipeline" in results else None,
               "load_average": [round(x, 2) for x in load], "cpu_count": os.cpu_count()}
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
