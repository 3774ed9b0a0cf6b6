"""Do generated digits look like digits? Train a GAN on scikit-learn's digits through the zoo
API, write 200 images with ``generate`` and score them two ways; prints the figures the README
quotes. Not a test: it takes a few minutes at 32 px on 2 cores.

    python plugins/zoo-gan/benchmarks/digits_quality.py --model cgan --image-size 32 --epochs 15
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import zoo
from zoo.data import write_digits
from zoo_gan.api import generate
from zoo_gan.quality import independent_digit_judge


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="cgan")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = write_digits(scratch / "digits", size=args.image_size)["path"]
        start = time.monotonic()
        run = zoo.train(args.model, data=data, out=str(scratch / "run"),
                        image_size=args.image_size, epochs=args.epochs, seed=args.seed,
                        log=lambda line: None).run
        seconds = time.monotonic() - start
        paths = generate(run.path, n=200, out=scratch / "generated", seed=1)
        probabilities = independent_digit_judge()(paths)
        predicted = probabilities.argmax(1)
        metrics = run.read("metrics.json")
        print(f"{args.model} {args.image_size}px, {args.epochs} epochs, {seconds:.0f} s")
        for key in ("frechet", "frechet_real", "near_real_fraction", "classes_covered",
                    "mean_confidence"):
            print(f"  {key:22s} {metrics.get(key)}")
        print(f"  independent judge: {len(set(predicted))} classes among 200 images, "
              f"mean confidence {probabilities.max(1).mean():.3f}")
        if args.model == "cgan":
            asked = np.array([int(p.name.split("-")[0]) for p in paths])
            print(f"  independent judge agrees with the requested class: "
                  f"{np.mean(predicted == asked):.1%}")


if __name__ == "__main__":
    main()
