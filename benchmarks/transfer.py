"""Transfer with few labels: does a backbone trained on other classes, or on the same images
without labels, beat training from scratch?

On scikit-learn's digits (`zoo data digits --test-split 0.15`, ``--rendering bilinear`` or
``nearest``), for each backbone and seed:

* **supervised** (``--part supervised``):
  1. **base**: `zoo finetune BACKBONE --weights none` on the training images of digits 0-4;
  2. on digits 5-9 with only ``--labels`` images per class (picked by the seed; the recipe's
     ``--val-split`` holds out part of them to pick the best epoch): **scratch**
     (`--weights none`), **frozen** (`--weights BASE_RUN --fine-tune-epochs 0`: stage 1 alone,
     the head on the frozen backbone) and **frozen + fine-tune** (both stages);
  3. each scored on the held-out test images of digits 5-9.
* **self-supervised** (``--part self-supervised``):
  1. **pretrain**: `zoo pretrain BACKBONE` on every training image (its class folders only
     score the k-NN monitor);
  2. on all ten digits with ``--labels`` images per class: **scratch**, **linear probe**
     (`--weights PRETRAIN_RUN --fine-tune-epochs 0`) and **pretrained + fine-tune**;
  3. each scored on every held-out test image.

``--option`` sets a recipe option of every few-label run, ``--pretrain-option`` one of the
pretraining. It prints one row per run and the median over seeds per backbone; ``--json`` ends
with one JSON line.

    python benchmarks/transfer.py --json
    python benchmarks/transfer.py --part self-supervised --backbones plain_cnn --seeds 1
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path

import zoo
from zoo.data import write_digits
from zoo.data.digits import RESAMPLING

from seed_grid import add_grid_arguments, recipe_and_work  # beside this script

ALL_CLASSES = tuple(str(digit) for digit in range(10))
BASE_CLASSES, NEW_CLASSES = ALL_CLASSES[:5], ALL_CLASSES[5:]
PARTS = {"supervised": ("scratch", "frozen", "frozen + fine-tune"),
         "self-supervised": ("scratch", "linear probe", "pretrained + fine-tune")}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=[*PARTS, "both"], default="both")
    parser.add_argument("--backbones", nargs="+", default=["plain_cnn", "resnet20"])
    parser.add_argument("--labels", type=int, default=10, help="labelled images per class")
    parser.add_argument("--rendering", choices=RESAMPLING, default="bilinear",
                        help="how the 8x8 digits are upsampled (two renderings of one data set)")
    parser.add_argument("--base-epochs", type=int, default=12,
                        help="epochs of the supervised base run on digits 0-4")
    parser.add_argument("--epochs", type=int, default=30,
                        help="epochs of each few-label run (and of its fine-tune stage)")
    parser.add_argument("--pretrain-option", action="append", default=[], metavar="NAME=VALUE",
                        help="an option of every zoo pretrain run (repeatable), e.g. epochs=40")
    add_grid_arguments(parser, option_example="lr=0.003")
    args = parser.parse_args(argv)

    options, recipe, work = recipe_and_work(args, prefix="zoo-transfer-")
    pretrain_options = dict(option.split("=", 1) for option in args.pretrain_option)
    work = work / args.rendering
    digits = work / "digits"
    if not digits.is_dir():
        write_digits(digits, test_split=0.15, resample=args.rendering)
    quiet = {"log": lambda line: None, "image_size": 32}
    parts = list(PARTS) if args.part == "both" else [args.part]
    rows = []
    for part in parts:
        classes = NEW_CLASSES if part == "supervised" else ALL_CLASSES
        test = _subset(digits / "test", work / f"test-{classes[0]}to{classes[-1]}", classes)
        for backbone in args.backbones:
            for seed in args.seeds:
                runs = work / "runs" / recipe / part / f"{backbone}-{seed}"
                start = time.monotonic()
                if part == "supervised":
                    base = zoo.finetune(backbone, _subset(digits / "train", work / "base",
                                                          BASE_CLASSES),
                                        weights="none", epochs=args.base_epochs, seed=seed,
                                        out=str(runs / "base"), **quiet)
                else:
                    base = zoo.pretrain(backbone, digits / "train", seed=seed,
                                        out=str(runs / "pretrain"), **quiet, **pretrain_options)
                base_seconds = round(time.monotonic() - start, 1)
                base_metrics = {key: value for key, value in base.metrics.items()
                                if key in ("accuracy", "knn_accuracy")}
                few = _subset(digits / "train", work / f"few-{part}-{args.labels}-{seed}",
                              classes, per_class=args.labels, seed=seed)
                scratch, frozen, both = PARTS[part]
                settings = {scratch: {"weights": "none"},
                            frozen: {"weights": str(base.path), "fine_tune_epochs": 0},
                            both: {"weights": str(base.path)}}
                for variant, setting in settings.items():
                    start = time.monotonic()
                    run = zoo.finetune(backbone, few, epochs=args.epochs, seed=seed,
                                       out=str(runs / variant.replace(" + ", "-")
                                               .replace(" ", "-")),
                                       **setting, **quiet, **options)
                    row = {"part": part, "backbone": backbone, "seed": seed, "variant": variant,
                           "accuracy": run.evaluate(test)["accuracy"], "base": base_metrics,
                           "base_seconds": base_seconds,
                           "seconds": round(time.monotonic() - start, 1)}
                    rows.append(row)
                    print(f"{part:15s} {backbone:10s} seed {seed}  {variant:22s} held-out "
                          f"{row['accuracy']:.4f}  (base: " +
                          ", ".join(f"{k} {v:.4f}" for k, v in base_metrics.items()) +
                          f" in {base_seconds:.0f} s; {row['seconds']:.0f} s)", flush=True)
    summary = {"rendering": args.rendering, "labels_per_class": args.labels, "options": options,
               "pretrain_options": pretrain_options, "runs": rows, "medians": {}}
    for part in parts:
        for backbone in args.backbones:
            medians = {variant: statistics.median(
                row["accuracy"] for row in rows if row["part"] == part and
                row["backbone"] == backbone and row["variant"] == variant)
                for variant in PARTS[part]}
            summary["medians"].setdefault(part, {})[backbone] = medians
            print(f"{part:15s} {backbone:10s} median  " +
                  "  ".join(f"{v} {a:.4f}" for v, a in medians.items()))
    if args.json:
        print(json.dumps(summary))
    return summary


def _subset(source: Path, out: Path, classes, per_class: int | None = None,
            seed: int = 0) -> Path:
    """A class-per-folder copy of ``source`` with only ``classes`` (and, with ``per_class``,
    that many images of each, picked by ``seed``)."""
    if out.is_dir():
        return out
    for label in classes:
        files = sorted((source / label).iterdir())
        if per_class is not None:
            files = sorted(random.Random(seed).sample(files, per_class))
        (out / label).mkdir(parents=True)
        for file in files:
            shutil.copy(file, out / label / file.name)
    return out


if __name__ == "__main__":
    main()
