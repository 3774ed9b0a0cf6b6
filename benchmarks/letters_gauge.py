"""How hard is `zoo data letters`? A pixel-space logistic regression as a quick gauge, and
optionally small CNNs from scratch with the few-label recipe.

For each character set it writes the letters (``zoo.data.write_letters``: the test split holds
whole typeface families) and prints the families and images per class, then the held-out
accuracy of a logistic regression on raw grey pixels trained on ``--labels`` images per class
(a new random draw for each of ``--seeds``) and on every training image. With ``--backbones``
it also trains each backbone from scratch on the same draws (`zoo finetune BACKBONE --weights
none --image-size 32` with the recipe that worked on 10 labels per class: ``--epochs`` 30,
batch 8, learning rate 0.01, patience 10; docs/benchmarks.md) and scores it on the test split.

    python benchmarks/letters_gauge.py                       # upper, N-Z, lower, digits
    python benchmarks/letters_gauge.py --chars upper --seeds 0 1 2 3 4 --json
    python benchmarks/letters_gauge.py --chars upper --backbones plain_cnn resnet20

Needs the font packages `zoo data letters` names (docs/cli.md). Each set is written to a
temp folder (or ``--work``); the last line with ``--json`` is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np

import zoo
from zoo.data import load_images, scan_folder, write_letters

#: The sets measured by default: 26 capitals, a 13-letter half, small letters, digits.
CHAR_SETS = ("upper", "NOPQRSTUVWXYZ", "lower", "digits")
#: The few-label recipe of docs/benchmarks.md ("Supervised transfer with few labels").
RECIPE = {"batch_size": 8, "lr": 0.01, "patience": 10}


def pixels(folder: Path, classes: list[str]):
    """Grey pixels 0-1, one row per image, class indices and paths, of a class-per-folder
    split."""
    items = scan_folder(folder, val_split=0.0, classes=classes).splits["train"]
    images = load_images([path for path, _ in items], (32, 32))[..., 0] / 255.0
    return (images.reshape(len(items), -1), np.array([label for _, label in items]),
            [path for path, _ in items])


def accuracy(train_x, train_y, test_x, test_y) -> float:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=3000)
    model.fit(train_x, train_y)
    return float((model.predict(test_x) == test_y).mean())


def gauge(out: Path, labels: int, seeds: list[int], backbones: list[str], epochs: int) -> dict:
    manifest = json.loads((out / "letters.json").read_text())
    classes = sorted(manifest["classes"])
    train_x, train_y, train_paths = pixels(out / "train", classes)
    test_x, test_y, _ = pixels(out / "test", classes)
    few = {"logistic": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        picked = np.concatenate([rng.choice(np.flatnonzero(train_y == c), labels, replace=False)
                                 for c in range(len(classes))])
        few["logistic"].append(accuracy(train_x[picked], train_y[picked], test_x, test_y))
        if backbones:  # the same draw as a class-per-folder set
            labelled = out.parent / f"{out.name}-{labels}-per-class-{seed}"
            for index in picked:
                (labelled / classes[train_y[index]]).mkdir(parents=True, exist_ok=True)
                shutil.copy(train_paths[index], labelled / classes[train_y[index]])
        for backbone in backbones:
            run = zoo.finetune(backbone, labelled, weights="none", image_size=32, epochs=epochs,
                               seed=seed, out=str(out.parent / "runs" / f"{out.name}-{backbone}-"
                                                  f"{seed}"), log=lambda line: None, **RECIPE)
            few.setdefault(backbone, []).append(run.evaluate(out / "test")["accuracy"])
    splits = {f["split"] for f in manifest["families"].values()}
    return {
        "classes": len(classes),
        "families": {s: sum(f["split"] == s for f in manifest["families"].values())
                     for s in sorted(splits)},
        "images_per_class": {s: min(c.values()) for s, c in manifest["counts"].items()},
        f"accuracy_{labels}_per_class": few,
        "accuracy_all_train": {"logistic": accuracy(train_x, train_y, test_x, test_y)},
        "chance": 1 / len(classes),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", nargs="+", default=list(CHAR_SETS),
                        help="character sets, as zoo data letters --chars takes them")
    parser.add_argument("--labels", type=int, default=10, help="labelled images per class")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="draws of the labelled images")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the family split")
    parser.add_argument("--test-split", type=float, default=0.25)
    parser.add_argument("--backbones", nargs="*", default=[],
                        help="also train these from scratch on each draw (plain_cnn resnet20)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of each backbone run")
    parser.add_argument("--work", help="where the sets go (default: a temp folder)")
    parser.add_argument("--json", action="store_true", help="print a JSON object last")
    args = parser.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="zoo-letters-gauge-"))
    results = {}
    for chars in args.chars:
        out = work / chars
        write_letters(out, chars=chars, test_split=args.test_split, seed=args.split_seed)
        results[chars] = row = gauge(out, args.labels, args.seeds, args.backbones, args.epochs)
        print(f"{chars}: {row['classes']} classes (chance {row['chance']:.3f}), families "
              f"train/test {row['families']['train']}/{row['families']['test']}, images per "
              f"class {row['images_per_class']['train']}/{row['images_per_class']['test']}")
        for model, scores in row[f"accuracy_{args.labels}_per_class"].items():
            print(f"  {model:>10}: held-out accuracy with {args.labels} labels per class "
                  f"{statistics.median(scores):.3f} (median; seeds {min(scores):.3f}-"
                  f"{max(scores):.3f})", flush=True)
        print(f"    logistic: with all {row['images_per_class']['train']} per class "
              f"{row['accuracy_all_train']['logistic']:.3f}", flush=True)
    summary = {"labels": args.labels, "seeds": args.seeds, "split_seed": args.split_seed,
               "test_split": args.test_split, "recipe": {"epochs": args.epochs, **RECIPE},
               "sets": results}
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
