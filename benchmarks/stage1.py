"""Stage 1 of `zoo finetune` on cached features against streaming, and against one forward pass.

While the backbone is frozen its output never changes, so by default stage 1 runs the backbone
once over the training and validation images and trains the head on those features; with
``--feature-cache off`` it streams the images through the backbone every epoch (the fallback
for sets whose features do not fit in memory). For each backbone this times:

* **forward pass**: the frozen backbone over the same training and validation images, decoded
  from disk in batches as stage 1 does (median of ``--repeats``);
* **cached** and **streaming**: a `zoo finetune --weights BASE --fine-tune-epochs 0` run whose
  stage 1 trains for exactly ``--epochs`` epochs (no early stop), its training seconds from
  metrics.json (features computed once included); and their held-out accuracy.

The set is the capitals of `zoo data letters --rendering line` (every training image, 20% of
each class for validation); BASE is a backbone trained from scratch on the set's small letters
and digits. Issue 19's bar: cached at 10 epochs takes at most 1.5x the forward pass::

    python benchmarks/stage1.py --work /tmp/stage1 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import zoo
from zoo.data import write_letters
from zoo.data.images import image_dataset
from zoo.tasks.image_classification import feature_extractor

from transfer import SETS, base_run, class_subset  # beside this script

SIZE = (32, 32)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["plain_cnn", "resnet20"])
    parser.add_argument("--epochs", type=int, default=10, help="stage 1 epochs of each run")
    parser.add_argument("--repeats", type=int, default=3, help="forward passes timed")
    parser.add_argument("--base-epochs", type=int, default=12)
    parser.add_argument("--paths", nargs="+", choices=["cached", "streaming"],
                        default=["cached", "streaming"], help="stage 1 paths to time")
    parser.add_argument("--work", default="/tmp/zoo-stage1", help="where data and runs go")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)

    work = Path(args.work)
    letters = SETS["letters"]
    source = work / "data"
    if not source.is_dir():
        write_letters(source, chars="upper,lower,digits", rendering="line")
    capitals = class_subset(source / "train", work / "capitals", letters["new"])
    test = class_subset(source / "test", work / "capitals-test", letters["new"])
    pool = class_subset(source / "train", work / "base-train", letters["base"])
    quiet = {"log": lambda line: None, "image_size": SIZE[0], "seed": 1}
    rows = []
    for backbone in args.backbones:
        out = work / "bases" / backbone
        base = base_run(out, lambda resume: zoo.finetune(
            backbone, pool, weights="none", epochs=args.base_epochs, out=str(out),
            resume=resume, **quiet))
        row = {"backbone": backbone, "epochs": args.epochs}
        for name in args.paths:
            cache = "auto" if name == "cached" else "off"
            run = zoo.finetune(backbone, capitals, weights=str(base.path), fine_tune_epochs=0,
                               head_epochs=args.epochs, epochs=args.epochs, patience=0,
                               feature_cache=cache, out=str(work / "runs" / f"{backbone}-{cache}"),
                               **quiet)
            training = run.metrics["training"]
            row[name] = {"seconds": training["seconds"], "epochs": training["epochs"],
                         "accuracy": run.evaluate(test)["accuracy"]}
        row["images"] = len(run.run.splits["train"]) + len(run.run.splits["val"])
        row["forward_seconds"] = _forward_seconds(run, args.repeats)
        if "cached" in row:
            row["cached_over_forward"] = row["cached"]["seconds"] / row["forward_seconds"]
        line = f"{backbone:10s} {row['images']} images  forward pass {row['forward_seconds']:.1f} s"
        for name in args.paths:
            ratio = f" ({row['cached_over_forward']:.2f}x)" if name == "cached" else ""
            line += (f"  {name} {args.epochs} epochs {row[name]['seconds']:.1f} s{ratio} "
                     f"held-out {row[name]['accuracy']:.4f}")
        rows.append(row)
        print(line, flush=True)
    summary = {"epochs": args.epochs, "rows": rows}
    if "cached" in args.paths:
        summary["bar_met"] = all(row["cached_over_forward"] <= 1.5 for row in rows)
        print(f"cached stage 1 at {args.epochs} epochs <= 1.5x one forward pass: "
              f"{summary['bar_met']}")
    if args.json:
        print(json.dumps(summary))
    return summary


def _forward_seconds(run, repeats: int) -> float:
    """Median seconds of the run's frozen backbone over its training and validation images,
    decoded from disk in batches of 64 (stage 1's own batches)."""
    import keras

    extractor = feature_extractor(run.load_model())
    items = [tuple(item) for split in ("train", "val") for item in run.run.splits[split]]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for images, _ in image_dataset(items, SIZE, 64):
            keras.ops.convert_to_numpy(extractor(images, training=False))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    main()
