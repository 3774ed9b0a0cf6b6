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
import tempfile
import time
from pathlib import Path

import zoo
from zoo.data import write_digits

RENDERINGS = ("bilinear", "nearest")
BACKBONES = ("mobilenet_v2", "plain_cnn", "resnet20")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--renderings", nargs="+", default=list(RENDERINGS), choices=RENDERINGS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a recipe option for every run (repeatable), e.g. no_augment=true")
    parser.add_argument("--work", help="where data and runs go (default: a temp folder)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)

    options = dict(option.split("=", 1) for option in args.option)
    recipe = "-".join(f"{name}={value}" for name, value in options.items()) or "default"
    work = Path(args.work or tempfile.mkdtemp(prefix="zoo-from-scratch-"))
    rows = []
    for rendering in args.renderings:
        data = work / f"digits-{rendering}"
        if not data.is_dir():
            write_digits(data, test_split=0.15, resample=rendering)
        for backbone in args.backbones:
            for seed in args.seeds:
                out = work / "runs" / recipe / f"{rendering}-{backbone}-{seed}"
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
