"""Supervised transfer with few labels: does a backbone trained on other classes help?

On scikit-learn's digits (`zoo data digits --test-split 0.15`), for each backbone and seed:

1. **base**: `zoo finetune BACKBONE --weights none` on the training images of digits 0-4;
2. on digits 5-9 with only ``--labels`` images per class (picked by the seed; the recipe's
   ``--val-split`` holds out part of them to pick the best epoch):
   * **scratch**: `zoo finetune BACKBONE --weights none`,
   * **frozen**: `zoo finetune BACKBONE --weights BASE_RUN --fine-tune-epochs 0` (stage 1
     alone: the head on the frozen backbone),
   * **frozen + fine-tune**: `--weights BASE_RUN` with both stages;
3. each scored on the held-out test images of digits 5-9 (the same for every run).

It prints one row per run and the median over seeds per backbone; ``--json`` ends with one
JSON line.

    python benchmarks/transfer.py --json
    python benchmarks/transfer.py --backbones plain_cnn --seeds 1 --labels 5
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

from seed_grid import add_grid_arguments, recipe_and_work  # beside this script

BASE_CLASSES = ("0", "1", "2", "3", "4")
NEW_CLASSES = ("5", "6", "7", "8", "9")
VARIANTS = ("scratch", "frozen", "frozen + fine-tune")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["plain_cnn", "resnet20"])
    parser.add_argument("--labels", type=int, default=10, help="labelled images per new class")
    parser.add_argument("--base-epochs", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=30,
                        help="epochs of each few-label run (and of its fine-tune stage)")
    add_grid_arguments(parser, option_example="lr=0.003")
    args = parser.parse_args(argv)

    options, recipe, work = recipe_and_work(args, prefix="zoo-transfer-")
    digits = work / "digits"
    if not digits.is_dir():
        write_digits(digits, test_split=0.15)
    base_data, test = _subset(digits / "train", work / "base", BASE_CLASSES), \
        _subset(digits / "test", work / "test-5to9", NEW_CLASSES)
    quiet = {"log": lambda line: None, "image_size": 32, **options}
    rows = []
    for backbone in args.backbones:
        for seed in args.seeds:
            runs = work / "runs" / recipe / f"{backbone}-{seed}"
            base = zoo.finetune(backbone, base_data, weights="none", epochs=args.base_epochs,
                                seed=seed, out=str(runs / "base"), **quiet)
            few = _subset(digits / "train", work / f"few-{args.labels}-{seed}", NEW_CLASSES,
                          per_class=args.labels, seed=seed)
            settings = {"scratch": {"weights": "none"},
                        "frozen": {"weights": str(base.path), "fine_tune_epochs": 0},
                        "frozen + fine-tune": {"weights": str(base.path)}}
            for variant in VARIANTS:
                start = time.monotonic()
                run = zoo.finetune(backbone, few, epochs=args.epochs, seed=seed,
                                   out=str(runs / variant.replace(" + ", "-")),
                                   **settings[variant], **quiet)
                row = {"backbone": backbone, "seed": seed, "variant": variant,
                       "accuracy": run.evaluate(test)["accuracy"],
                       "base_accuracy": base.metrics["accuracy"],
                       "seconds": round(time.monotonic() - start, 1)}
                rows.append(row)
                print(f"{backbone:12s} seed {seed}  {variant:19s} held-out {row['accuracy']:.4f}"
                      f"  (base on 0-4: {row['base_accuracy']:.4f}; {row['seconds']:.0f} s)",
                      flush=True)
    summary = {"labels_per_class": args.labels, "options": options, "runs": rows,
               "medians": {}}
    for backbone in args.backbones:
        medians = {variant: statistics.median(row["accuracy"] for row in rows
                                              if row["backbone"] == backbone
                                              and row["variant"] == variant)
                   for variant in VARIANTS}
        summary["medians"][backbone] = medians
        print(f"{backbone:12s} median  " + "  ".join(f"{v} {a:.4f}" for v, a in medians.items()))
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
