"""Short from-scratch image runs across seeds, renderings of the digits and backbones.

A recipe tuned on one data set and one seed is a guess; this measures `zoo finetune BACKBONE
--weights none --image-size 32 --epochs E` (plus any recipe options you give) on every
combination of

* renderings of scikit-learn's digits: ``bilinear`` (smooth, what `zoo data digits` writes) and
  ``nearest`` (8x8 pixels blown up into blocks),
* backbones (keras.applications and zoo-cnn),
* seeds,

each trained on the rendering's train/ folder and evaluated on its held-out test/ folder
(15%, the same images for every run). It prints one row per run, then the median and the
worst cell; ``--json`` ends with one JSON line.

    python benchmarks/from_scratch.py --seeds 1 2 3 --json
    python benchmarks/from_scratch.py --backbones mobilenet_v2 --seeds 1 --option no_augment=true
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import zoo
from zoo.data import write_digits

from seed_grid import add_grid_arguments, recipe_and_work  # beside this script

RENDERINGS = ("bilinear", "nearest")
BACKBONES = ("mobilenet_v2", "plain_cnn", "resnet20")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--renderings", nargs="+", default=list(RENDERINGS), choices=RENDERINGS)
    parser.add_argument("--epochs", type=int, default=8)
    add_grid_arguments(parser, option_example="no_augment=true")
    args = parser.parse_args(argv)

    options, recipe, work = recipe_and_work(args, prefix="zoo-from-scratch-")
    rows = []
    for rendering in args.renderings:
        data = work / f"digits-{rendering}"
        if not data.is_dir():
            write_digits(data, test_split=0.15, resample=rendering)
        for backbone in args.backbones:
            for seed in args.seeds:
                out = work / "runs" / recipe / f"{rendering}-{backbone}-{seed}-{args.epochs}ep"
                start = time.monotonic()
                run = zoo.finetune(backbone, data, weights="none", image_size=32,
                                   epochs=args.epochs, seed=seed, out=str(out),
                                   log=lambda line: None, **options)
                accuracy = run.evaluate(data / "test")["accuracy"]
                row = {"rendering": rendering, "backbone": backbone, "seed": seed,
                       "accuracy": accuracy, "train_accuracy": _last_train_accuracy(out),
                       "seconds": round(time.monotonic() - start, 1)}
                rows.append(row)
                print(f"{rendering:8s} {backbone:14s} seed {seed}  held-out {accuracy:.4f}  "
                      f"train {row['train_accuracy']:.4f}  {row['seconds']:.0f} s", flush=True)
    accuracies = [row["accuracy"] for row in rows]
    summary = {"epochs": args.epochs, "options": options, "runs": rows,
               "median": statistics.median(accuracies), "worst": min(accuracies)}
    print(f"median {summary['median']:.4f}, worst {summary['worst']:.4f} over {len(rows)} runs")
    if args.json:
        print(json.dumps(summary))
    return summary


def _last_train_accuracy(run: Path) -> float:
    import csv

    with open(run / "history.csv", newline="") as f:
        return float(list(csv.DictReader(f))[-1]["accuracy"])


if __name__ == "__main__":
    main()
