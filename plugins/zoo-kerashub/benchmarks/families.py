"""Which KerasHub image families export to TFLite with builtin ops only, measured on tiny presets.

For each family in ``zoo_kerashub.tiny.TINY``: a tiny random preset (``save_to_preset``) is built
as the zoo builds it (``zoo.create_backbone("kerashub", weights=DIR)``: raw RGB 0-255 in, the
preset's ImageConverter scaling inside) with zoo-transfer's classifier head, then converted with
keras-zoo's one converter configuration (builtin ops only, never select-TF) as float32 and as
full-integer int8. The float file runs in LiteRT beside Keras on random images.

    .venv/bin/python plugins/zoo-kerashub/benchmarks/families.py [--size 32] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def measure(family: str, root: Path, size: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    import zoo
    from zoo.exporting import convert_tflite, tflite_ops
    from zoo_kerashub.tiny import save_tiny_preset

    start = time.perf_counter()
    row = {"family": family}
    preset = save_tiny_preset(family, root / family, image_size=size)
    features = zoo.create_backbone("kerashub", weights=str(preset), input_shape=size)
    model = keras.Model(features.input, zoo.get("head", "classifier")(10)(features.output))
    row["params"] = model.count_params()
    images = np.random.default_rng(0).uniform(0, 255, (8, size, size, 3)).astype("float32")
    infer = tf.function(lambda x: model(x, training=False), autograph=False,
                        input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
    for quantize in ("none", "int8"):
        calibrate = (lambda: ([image[None]] for image in images)) if quantize == "int8" else None
        try:
            flatbuffer = convert_tflite(infer.get_concrete_function(), quantize, calibrate, model)
        except zoo.ZooError as exc:
            row[quantize] = f"fails: {exc}"
            continue
        row[quantize] = f"builtin ({len(flatbuffer) / 1024:.0f} KB)"
        if quantize == "none":
            row["ops"] = tflite_ops(flatbuffer)
            interpreter = Interpreter(model_content=flatbuffer)
            interpreter.allocate_tensors()
            source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
            litert = []
            for image in images:
                interpreter.set_tensor(source["index"], image[None])
                interpreter.invoke()
                litert.append(interpreter.get_tensor(target["index"])[0])
            keras_out = model.predict(images, verbose=0)
            row["float_max_abs_diff"] = float(np.abs(np.array(litert) - keras_out).max())
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def main(argv=None) -> None:
    from zoo_kerashub.tiny import TINY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="image size in pixels (default 32)")
    parser.add_argument("--family", action="append", choices=sorted(TINY),
                        help="measure only these families (repeatable)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for family in args.family or TINY:
            row = measure(family, Path(root), args.size)
            rows.append(row)
            print(f"{family:17s} {row['params']:>7,} params  float32: {row['none']:24s} "
                  f"int8: {row['int8']:24s} LiteRT vs Keras max |diff| "
                  f"{row.get('float_max_abs_diff', float('nan')):.1e}  ({row['seconds']} s)",
                  flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
