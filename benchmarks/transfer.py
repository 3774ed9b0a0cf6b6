"""Few labels, many images: from scratch, the frozen stage, both stages, and `zoo pretrain`
then fine-tuning, with 10 labelled images per class and the default recipe, on two image sets.

Sets (``--set``):

* ``digits``: scikit-learn's digits (`zoo data digits --test-split 0.15`, ``--rendering``
  bilinear or nearest). Supervised transfer: a base trained on digits 0-4, then 5-9.
  Self-supervised: `zoo pretrain` on every training image, then all ten digits.
* ``letters``: `zoo data letters --chars upper,lower,digits --rendering line` (characters cropped
  from lines of text, test typefaces never seen). Supervised transfer: a base trained on the
  small letters and digits, then the 26 capitals. Self-supervised: `zoo pretrain` on every
  training image of the capitals, labels unused, then the capitals.

For each backbone and seed, ``--labels`` images per class (picked by the seed) are fine-tuned
**with no recipe option** (``--option`` adds some, for a hand-tuned recipe):

* **scratch** (`--weights none`);
* **frozen** (`--weights BASE --fine-tune-epochs 0`: stage 1 alone, the head on the frozen
  backbone) and **both** stages (`--weights BASE`), BASE the supervised base or the
  pretraining run;
* the **referee**: scikit-learn's logistic regression (defaults) fitted on the frozen backbone's
  pooled features of the same training images the frozen run trained on (``probe``), and on
  the same features standardised (``probe_std``).

Every figure is the accuracy on the set's held-out test images. It prints a row per run, the
medians per backbone, and the bars of issue 19 (``--json`` ends with one JSON line)::

    python benchmarks/transfer.py --set letters --json
    python benchmarks/transfer.py --set digits --part self-supervised --backbones plain_cnn
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

import zoo
from zoo.data import load_images, write_digits, write_letters
from zoo.data.digits import RESAMPLING

from seed_grid import add_grid_arguments, recipe_and_work  # beside this script

DIGITS = [str(d) for d in range(10)]
SETS = {
    "digits": {"base": DIGITS[:5], "new": DIGITS[5:], "pretrain": DIGITS, "ssl": DIGITS},
    "letters": {"base": [c + "_small" for c in "abcdefghijklmnopqrstuvwxyz"] + DIGITS,
                "new": list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                "pretrain": list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                "ssl": list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")},
}
PARTS = ("supervised", "self-supervised")
VARIANTS = ("scratch", "frozen", "both")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=list(SETS), default="letters")
    parser.add_argument("--part", choices=[*PARTS, "both"], default="both")
    parser.add_argument("--backbones", nargs="+", default=["plain_cnn", "resnet20"])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="which few-label runs (scratch alone, for a recipe grid)")
    parser.add_argument("--labels", type=int, default=10, help="labelled images per class")
    parser.add_argument("--rendering", choices=RESAMPLING, default="bilinear",
                        help="digits only: how the 8x8 digits are upsampled")
    parser.add_argument("--base-epochs", type=int, default=12,
                        help="epochs of the supervised base run")
    parser.add_argument("--base-seed", type=int,
                        help="train one base per backbone with this seed, shared by every seed "
                             "(default: each seed its own base)")
    parser.add_argument("--pretrain-option", action="append", default=[], metavar="NAME=VALUE",
                        help="an option of every zoo pretrain run (repeatable)")
    add_grid_arguments(parser, option_example="lr=0.01")
    args = parser.parse_args(argv)

    options, recipe, work = recipe_and_work(args, prefix="zoo-transfer-")
    pretrain_options = dict(option.split("=", 1) for option in args.pretrain_option)
    work = work / (args.set if args.set == "letters" else f"digits-{args.rendering}")
    source = _source(args.set, args.rendering, work / "data")
    quiet = {"log": lambda line: None, "image_size": 32}
    parts = list(PARTS) if args.part == "both" else [args.part]
    rows = []
    for part in parts:
        classes = SETS[args.set]["new" if part == "supervised" else "ssl"]
        test = class_subset(source / "test", work / f"test-{part}", classes)
        for backbone in args.backbones:
            for seed in args.seeds:
                base_seed = seed if args.base_seed is None else args.base_seed
                bases = work / "bases" / part / f"{backbone}-{base_seed}"
                start = time.monotonic()
                if args.variants == ["scratch"]:  # a recipe grid needs no base
                    base = None
                elif part == "supervised":
                    pool = class_subset(source / "train", work / "base-train",
                                        SETS[args.set]["base"])
                    base = base_run(bases, lambda resume: zoo.finetune(
                        backbone, pool, weights="none", epochs=args.base_epochs, seed=base_seed,
                        out=str(bases), resume=resume, **quiet))
                else:
                    pool = class_subset(source / "train", work / "pretrain-train",
                                   SETS[args.set]["pretrain"])
                    base = base_run(bases, lambda resume: zoo.pretrain(
                        backbone, pool, seed=base_seed, out=str(bases), resume=resume, **quiet,
                        **pretrain_options))
                base_seconds = round(time.monotonic() - start, 1)
                base_figures = {k: v for k, v in (base.metrics if base else {}).items()
                                if k in ("accuracy", "knn_accuracy")}
                if base:  # its own training time (base_seconds is 0 for a reused base)
                    base_figures["seconds"] = base.metrics.get("training", {}).get("seconds")
                few = class_subset(source / "train", work / f"few-{part}-{args.labels}-{seed}",
                              classes, per_class=args.labels, seed=seed)
                runs = work / "runs" / recipe / part / f"{backbone}-{seed}"
                transferred = str(base.path) if base else None  # None: scratch alone
                settings = {"scratch": {"weights": "none"},
                            "frozen": {"weights": transferred, "fine_tune_epochs": 0},
                            "both": {"weights": transferred}}
                for variant in args.variants:
                    setting = settings[variant]
                    start = time.monotonic()
                    out = runs / variant
                    shutil.rmtree(out, ignore_errors=True)
                    run = zoo.finetune(backbone, few, seed=seed, out=str(out), **setting,
                                       **quiet, **options)
                    row = {"part": part, "backbone": backbone, "seed": seed, "variant": variant,
                           "accuracy": run.evaluate(test)["accuracy"],
                           "seconds": round(time.monotonic() - start, 1),
                           "recipe": run.config.get("recipe", {}).get("resolved", {}),
                           "base": base_figures, "base_seconds": base_seconds}
                    if variant == "frozen":
                        row.update(_probes(run, test))
                    rows.append(row)
                    probes = (f"  probe {row['probe']:.4f}  probe_std {row['probe_std']:.4f}"
                              if "probe" in row else "")
                    print(f"{part:15s} {backbone:10s} seed {seed}  {variant:8s} "
                          f"held-out {row['accuracy']:.4f}{probes}  ({row['seconds']:.0f} s; "
                          f"base {base_figures} in {base_seconds:.0f} s)", flush=True)
    summary = {"set": args.set, "rendering": args.rendering if args.set == "digits" else "line",
               "labels_per_class": args.labels, "base_seed": args.base_seed, "options": options,
               "pretrain_options": pretrain_options, "runs": rows, "medians": {}}
    for part in parts:
        for backbone in args.backbones:
            mine = [row for row in rows if row["part"] == part and row["backbone"] == backbone]
            medians = {name: statistics.median(row[key] for row in mine
                                               if row["variant"] == variant)
                       for name, variant, key in (
                           ("scratch", "scratch", "accuracy"), ("frozen", "frozen", "accuracy"),
                           ("both", "both", "accuracy"), ("probe", "frozen", "probe"),
                           ("probe_std", "frozen", "probe_std"))
                       if variant in args.variants}
            summary["medians"].setdefault(part, {})[backbone] = medians
            print(f"{part:15s} {backbone:10s} median  " +
                  "  ".join(f"{name} {value:.4f}" for name, value in medians.items()))
            if set(args.variants) == set(VARIANTS):
                print(f"{'':15s} {'':10s} bars    " + _bars(medians))
    if args.json:
        print(json.dumps(summary))
    return summary


def _bars(m: dict) -> str:
    """Issue 19's bars on one backbone's medians."""
    transferred = max(m["frozen"], m["both"])
    return (f"frozen >= probe - 0.01: {m['frozen'] >= m['probe'] - 0.01};  "
            f"both >= max(frozen, scratch) - 0.01: "
            f"{m['both'] >= max(m['frozen'], m['scratch']) - 0.01};  "
            f"gain over scratch {transferred - m['scratch']:+.4f}")


def _source(name: str, rendering: str, folder: Path) -> Path:
    if not folder.is_dir():
        if name == "digits":
            write_digits(folder, test_split=0.15, resample=rendering)
        else:
            write_letters(folder, chars="upper,lower,digits", rendering="line")
    return folder


def base_run(run: Path, train):
    """The base run in ``run``: reused when finished, resumed when interrupted, else trained
    (``train(resume)``)."""
    if (run / "metrics.json").is_file():
        return zoo.open_run(run)
    return train((run / "config.json").is_file())


def class_subset(source: Path, out: Path, classes, per_class: int | None = None,
            seed: int = 0) -> Path:
    """A class-per-folder copy of ``source`` with only ``classes`` (and, with ``per_class``,
    that many images of each, picked by ``seed``)."""
    if out.is_dir():
        return out
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for label in classes:
        files = sorted((source / label).iterdir())
        if per_class is not None:
            files = sorted(random.Random(seed).sample(files, per_class))
        (tmp / label).mkdir(parents=True)
        for file in files:
            shutil.copy(file, tmp / label / file.name)
    tmp.rename(out)
    return out


def _probes(run, test: Path) -> dict:
    """The referee: logistic regression on the frozen backbone's pooled features of the frozen
    run's own training images, raw and standardised, scored on ``test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from zoo.data import scan_folder
    from zoo.tasks.image_classification import feature_extractor

    extractor = feature_extractor(run.load_model())

    def pooled(items):
        features = np.asarray(extractor(load_images([p for p, _ in items], (32, 32)),
                                        training=False))
        pooled = features.mean(axis=(1, 2)) if features.ndim == 4 else features
        return pooled, [label for _, label in items]

    x_train, y_train = pooled([tuple(item) for item in run.run.splits["train"]])
    x_test, y_test = pooled(scan_folder(test, val_split=0.0, classes=run.labels).splits["train"])
    raw = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x_train,
                                                                                   y_train)
    return {"probe": raw.score(x_test, y_test), "probe_std": scaled.score(x_test, y_test)}


if __name__ == "__main__":
    main()
