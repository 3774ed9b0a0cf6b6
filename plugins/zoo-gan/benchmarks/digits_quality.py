"""Do generated digits look like digits? GANs with their default options, across seeds and both
renderings of scikit-learn's digits, scored by the project's judge and by an independent one.

Each run is ``zoo train MODEL --data DIGITS --image-size 32 --seed S`` (plus any ``--option``;
none for the defaults) on one rendering of ``zoo data digits`` (``bilinear``, smooth strokes, or
``nearest``, blocky 8x8 pixels), for every model, rendering and seed. Figures per run come from
its metrics.json (the project's judge, see zoo_gan.quality: ``frechet``, ``near_real_fraction``,
``classes_covered``) and from 200 images written by ``generate``, scored by a classifier trained on
scikit-learn's own 8x8 digits that never saw the GAN (classes found, mean confidence). It prints
one row per run, then the median of the seeds per model and rendering and, for each model beside
``cgan``, its medians relative to the cgan's; ``--json`` ends with one JSON line. Runs already
finished in ``--work`` are read back, not trained again. Not a test: a run takes minutes on CPU.

    python plugins/zoo-gan/benchmarks/digits_quality.py --work /tmp/gan --json
    python plugins/zoo-gan/benchmarks/digits_quality.py --models dcgan --seeds 1 --option epochs=60
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

import zoo
from zoo.data import write_digits
from zoo.data.digits import RESAMPLING
from zoo_gan.api import generate
from zoo_gan.quality import independent_digit_judge

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from seed_grid import add_grid_arguments, recipe_and_work  # noqa: E402  (the repository's)

MODELS = ("cgan", "dcgan")
#: The project's judge's figures compared across models (lower is better for frechet only).
FIGURES = ("frechet", "near_real_fraction", "classes_covered", "mean_confidence")
GENERATED = 200


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--renderings", nargs="+", default=list(RESAMPLING), choices=RESAMPLING)
    parser.add_argument("--image-size", type=int, default=32)
    add_grid_arguments(parser, option_example="epochs=60")
    args = parser.parse_args(argv)

    options, recipe, work = recipe_and_work(args, prefix="zoo-gan-quality-")
    independent = independent_digit_judge()
    rows = []
    for rendering in args.renderings:
        data = work / f"digits-{rendering}-{args.image_size}"
        if not data.is_dir():
            write_digits(data, size=args.image_size, resample=rendering)
        for model in args.models:
            for seed in args.seeds:
                out = work / "runs" / recipe / f"{rendering}-{model}-{seed}-{args.image_size}px"
                rows.append(_run(model, rendering, seed, data, out, args.image_size, options,
                                 independent))
    summary = {"image_size": args.image_size, "options": options, "runs": rows,
               "medians": _medians(rows)}
    for cell in summary["medians"]:
        print(f"median  {cell['rendering']:8s} {cell['model']:6s} " + "  ".join(
            f"{name} {_format(cell[name])}" for name in FIGURES)
            + ("  vs cgan: " + ", ".join(f"{name} {_format(cell[f'{name}_vs_cgan'])}x"
                                        for name in ("frechet", "near_real_fraction"))
               if "frechet_vs_cgan" in cell else ""))
    if args.json:
        print(json.dumps(summary))
    return summary


def _run(model, rendering, seed, data, out, image_size, options, independent) -> dict:
    """Train (unless ``out`` already holds a finished run) and score one run."""
    if (out / "metrics.json").is_file():
        run = zoo.open_run(out, log=lambda line: None).run
    else:
        run = zoo.train(model, data=data, out=str(out), image_size=image_size, seed=seed,
                        log=lambda line: None, **options).run
    metrics = run.read("metrics.json")
    generated = out / "independent"
    paths = generate(run.path, n=GENERATED, out=generated, seed=1)
    probabilities = independent(paths)
    row = {"model": model, "rendering": rendering, "seed": seed,
           **{name: metrics.get(name) for name in FIGURES + ("frechet_real",)},
           "best_epoch": metrics["training"]["best_epoch"],
           "epochs": metrics["training"]["epochs"],
           "seconds": round(metrics["training"]["seconds"]),
           "independent_classes": int(len(set(probabilities.argmax(1)))),
           "independent_confidence": float(probabilities.max(1).mean())}
    if run.config["data"].get("classes") and "-" in paths[0].name:  # named <class>-NNNN.png
        asked = np.array([int(p.name.split("-")[0]) for p in paths])
        row["independent_agreement"] = float(np.mean(probabilities.argmax(1) == asked))
    print(f"{rendering:8s} {model:6s} seed {seed}  " + "  ".join(
        f"{name} {_format(row[name])}" for name in FIGURES + ("frechet_real", "best_epoch"))
        + f"  independent: {row['independent_classes']} classes, confidence "
          f"{row['independent_confidence']:.3f}  {row['seconds']} s", flush=True)
    return row


def _medians(rows: list[dict]) -> list[dict]:
    """Median of the seeds per (rendering, model); other models also relative to cgan's."""
    cells = {}
    for row in rows:
        cells.setdefault((row["rendering"], row["model"]), []).append(row)
    medians = {key: {"rendering": key[0], "model": key[1], "seeds": [r["seed"] for r in runs],
                     **{name: statistics.median(r[name] for r in runs)
                        for name in FIGURES + ("independent_confidence",)}}
               for key, runs in cells.items()}
    for (rendering, model), cell in medians.items():
        cgan = medians.get((rendering, "cgan"))
        if cgan and model != "cgan":
            for name in ("frechet", "near_real_fraction"):
                cell[f"{name}_vs_cgan"] = cell[name] / cgan[name] if cgan[name] else None
    return list(medians.values())


def _format(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-" if value is None else str(value)


if __name__ == "__main__":
    main()
