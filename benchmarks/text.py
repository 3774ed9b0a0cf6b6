"""Text classifiers against TF-IDF + logistic regression, side by side, on three real text sets.

For every set, model and seed this runs `zoo train MODEL --data SET.csv --seed S` (the
plugin's default recipe plus any options you give) and `zoo evaluate RUN`, which scores the
model and, on the same held-out split, the classical baseline fitted on the run's training split
(`zoo_rnn.tasks.tfidf_baseline_accuracy`: word 1-2 grams, sublinear tf, logistic regression).
The sets ship with the install, nothing is downloaded:

* ``fortunes``: BSD fortune files, 5 topics, 883 texts (`zoo data fortunes`),
* ``quotes``: five more fortune topics, about 2,800 texts of everyday prose and verse
  (`zoo data quotes`),
* ``docstrings``: the standard library's docstring summaries, 5 packages (`zoo data docstrings`).

It prints one row per run, then per set and model the median accuracy and the median ratio to
the baseline; ``--json`` ends with one JSON line.

    python benchmarks/text.py --seeds 1 2 3 --json
    python benchmarks/text.py --sets docstrings --models gru_classifier --option epochs=20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import zoo
from zoo_rnn import datasets

from seed_grid import add_grid_arguments, recipe_and_work  # beside this script

SETS = {"fortunes": datasets.write_fortunes_csv, "quotes": datasets.write_quotes_csv,
        "docstrings": datasets.write_docstrings_csv}


def main(argv=None) -> dict:
    text_models = [c.name for c in zoo.list("model")
                   if c.task == "zoo_rnn.tasks:TextClassificationTask"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--models", nargs="+", default=text_models)
    add_grid_arguments(parser, option_example="epochs=20")
    args = parser.parse_args(argv)

    options, recipe, work = recipe_and_work(args, prefix="zoo-text-")
    rows = []
    for name in args.sets:
        data = work / f"{name}.csv"
        if not data.is_file():
            SETS[name](data)
        for model in args.models:
            for seed in args.seeds:
                out = work / "runs" / recipe / f"{name}-{model}-{seed}"
                start = time.monotonic()
                run = zoo.train(model, data=data, seed=seed, out=str(out),
                                log=lambda line: None, **options)
                metrics = run.evaluate()
                row = {"set": name, "model": model, "seed": seed,
                       "accuracy": metrics["accuracy"],
                       "baseline": metrics["baseline"]["accuracy"],
                       "ratio": metrics["baseline"]["relative_accuracy"],
                       "texts": int(sum(map(sum, metrics["confusion_matrix"]))),
                       "seconds": round(time.monotonic() - start, 1)}
                rows.append(row)
                print(f"{name:10s} {model:18s} seed {seed}  accuracy {row['accuracy']:.4f}  "
                      f"TF-IDF {row['baseline']:.4f}  ratio {row['ratio']:.3f}  "
                      f"({row['texts']} texts, {row['seconds']:.0f} s)", flush=True)
    summary = {"options": options, "runs": rows, "cells": []}
    for name in args.sets:
        for model in args.models:
            cell = [row for row in rows if row["set"] == name and row["model"] == model]
            summary["cells"].append({
                "set": name, "model": model,
                "accuracy": statistics.median(row["accuracy"] for row in cell),
                "baseline": statistics.median(row["baseline"] for row in cell),
                "ratio": statistics.median(row["ratio"] for row in cell),
                "worst_ratio": min(row["ratio"] for row in cell)})
            c = summary["cells"][-1]
            print(f"{name:10s} {model:18s} median accuracy {c['accuracy']:.4f}  TF-IDF "
                  f"{c['baseline']:.4f}  ratio {c['ratio']:.3f} (worst {c['worst_ratio']:.3f})")
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
