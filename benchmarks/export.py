"""Export benchmark: size, held-out accuracy and single-image latency of each TFLite quantization,
next to the Keras model's single-image latency, for a digits run.

    python benchmarks/export.py                    # fine-tunes mobilenet_v2 on digits first
    python benchmarks/export.py --run runs/x-1 --threads 1 2 --json

Without ``--run`` it trains MobileNetV2 (random init, 32 px, a few epochs) on scikit-learn's
digits written as PNGs. Latency is the median of single-image calls, as an app makes them;
the TFLite files run in ``ai_edge_litert`` (XNNPACK, the runtime's default CPU path). The last
line with ``--json`` is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import zoo
from zoo.exporting import QUANTIZATIONS, TFLiteArtifact, median_latency_ms
from zoo.runs import Run


def make_digits_run(work: Path, backbone: str, epochs: int) -> Run:
    from zoo.data.digits import write_digits

    write_digits(work / "digits")
    result = zoo.finetune(backbone, work / "digits", weights="none", image_size=32,
                          epochs=epochs, fine_tune_epochs=0, out=str(work / "run"),
                          log=lambda line: print(line, file=sys.stderr))
    return result.run


def keras_latency_ms(run: Run, image, repeats: int) -> float:
    """The Keras model on one image through a traced tf.function (its fastest serving path)."""
    import tensorflow as tf

    model = run.load_model()
    infer = tf.function(lambda x: model(x, training=False),
                        input_signature=[tf.TensorSpec([1, *image.shape], tf.float32)])
    batch = image[None]
    return median_latency_ms(lambda: infer(batch), repeats=repeats)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="run directory to export (default: train a digits run)")
    parser.add_argument("--work", help="where to write the run and exports (default: a temp dir)")
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="interpreter num_threads values to time")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print a JSON object last")
    args = parser.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="zoo-export-bench-"))
    run = Run.open(args.run) if args.run else make_digits_run(work, args.backbone, args.epochs)
    probe = _probe((*run.config["image_size"], 3))
    results = {}
    for quantize in QUANTIZATIONS:
        report = zoo.export(run, quantize=quantize, out=work / "exports" / f"model-{quantize}.tflite")
        latency = {}
        for threads in args.threads:
            artifact = TFLiteArtifact(report["artifact"], num_threads=threads)
            tensors = artifact.prepare([probe])
            latency[threads] = median_latency_ms(lambda: artifact.run(tensors),
                                                 repeats=args.repeats)
        results[quantize] = {"size_bytes": report["size_bytes"], "accuracy": report["accuracy"],
                             "agreement": report["agreement"],
                             "max_abs_diff": report["max_abs_diff"],
                             "latency_ms": latency, "ops": report["ops"]}
    keras_ms = keras_latency_ms(run, probe, args.repeats)
    float_size = results["none"]["size_bytes"]

    header = ["quantize", "size MB", "x float32", "accuracy", "agreement"] + \
        [f"ms ({t} thr)" for t in args.threads]
    rows = [[q, f"{r['size_bytes'] / 1e6:.3f}", f"{r['size_bytes'] / float_size:.2f}",
             f"{r['accuracy']:.4f}", f"{r['agreement']:.4f}"] +
            [f"{r['latency_ms'][t]:.3f}" for t in args.threads] for q, r in results.items()]
    rows.append(["keras", "", "", f"{report['keras_accuracy']:.4f}", ""] +
                [f"{keras_ms:.3f}"] + [""] * (len(args.threads) - 1))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print(f"run {run.path} ({run.config.get('model')}, {report['heldout_examples']} held-out "
          f"images)")
    for row in [header, *rows]:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
    summary = {"run": str(run.path), "model": run.config.get("model"),
               "heldout_images": report["heldout_examples"], "keras_accuracy":
               report["keras_accuracy"], "keras_latency_ms": keras_ms, "exports": results}
    if args.json:
        print(json.dumps(summary))
    return summary


def _probe(shape):
    """A fixed raw-pixel image of the model's input size (latency does not depend on content)."""
    import numpy as np

    return np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)


if __name__ == "__main__":
    main()
