"""The GAN plugin's Python API: generate images from a run, export its generator.

``zoo generate`` and ``zoo export`` on a GAN run call these; they work the same from Python::

    from zoo_gan.api import generate
    paths = generate("runs/cgan-1", n=200, out="samples/", label="7", seed=0)
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.runs import Run


def _open(run) -> Run:
    run = run if isinstance(run, Run) else Run.open(run)
    if run.config.get("task") != "zoo_gan.tasks:GANTask":
        raise ZooError(f"{run.path} is a {run.config.get('task')} run, not a GAN run; "
                       f"generate needs a run made by 'zoo train dcgan|cgan|wgan_gp'")
    return run


def load_generator(run):
    """The run's generator (``generator.keras``, else the one inside ``model.keras``)."""
    from zoo.saving import load_model

    run = _open(run)
    path = run.file("generator.keras")
    return load_model(path) if path.is_file() else run.load_model().generator


def _label_index(run: Run, generator, label) -> int | None:
    from zoo_gan.models import generator_num_classes

    if label is None:
        return None
    if not generator_num_classes(generator):
        raise ZooError(f"{run.path} is an unconditional GAN; drop --label "
                       f"(train a cgan to choose classes)")
    classes = [str(c) for c in run.config["data"].get("classes") or []]
    if str(label) in classes:
        return classes.index(str(label))
    raise ZooError(f"unknown class {label!r}; this GAN knows {', '.join(classes)}")


def sample_run(run, n: int, label=None, seed: int | None = None) -> np.ndarray:
    """``n`` generated uint8 images (N x H x W x C) from ``run``; ``label`` is a class name."""
    from zoo_gan.models import sample

    if n < 1:
        raise ZooError(f"--n must be at least 1, got {n}")
    run = _open(run)
    generator = load_generator(run)
    return sample(generator, n, labels=_label_index(run, generator, label), seed=seed)


def generate(run, n: int = 16, out=None, label=None, seed: int | None = None) -> list[Path]:
    """Write ``n`` PNG images to ``out`` (default ``RUN/generated``); returns their paths.

    A conditional GAN cycles through its classes unless ``label`` names one. Names are
    ``<n>.png``, or ``<class>-<n>.png`` for a conditional GAN.
    """
    from zoo_gan.callbacks import write_png
    from zoo_gan.models import generator_num_classes

    run = _open(run)
    images = sample_run(run, n, label=label, seed=seed)
    out = Path(out) if out else run.file("generated")
    out.mkdir(parents=True, exist_ok=True)
    classes = [str(c) for c in run.config["data"].get("classes") or []]
    conditional = generator_num_classes(load_generator(run)) > 0
    paths = []
    for i, image in enumerate(images):
        name = f"{i:04d}.png"
        if conditional:
            name = f"{label if label is not None else classes[i % len(classes)]}-{name}"
        paths.append(write_png(out / name, image[..., 0] if image.shape[-1] == 1 else image))
    return paths


def export(run, format: str = "tflite", quantize: str = "none", out=None, **_) -> dict:
    """The generator as a SavedModel or a builtin-op TFLite file: latent (and label) in,
    float32 image 0-255 out. The artifact is run back (``ai_edge_litert`` for TFLite) on fixed
    latents and compared with Keras; the report lands in ``export-report.json`` beside it."""
    import tensorflow as tf

    from zoo import exporting
    from zoo import io
    from zoo_gan.models import generator_num_classes

    exporting.check_options(format, quantize, ("none", "float16", "dynamic"))
    run = _open(run)
    generator = load_generator(run)
    conditional = generator_num_classes(generator) > 0
    latent_dim = generator.inputs[0].shape[-1]
    target = Path(out) if out else run.file("exports") / (
        f"generator-{quantize}.tflite" if format == "tflite" else "generator_saved_model")

    rng = np.random.default_rng(0)
    latents = rng.standard_normal((8, latent_dim)).astype("float32")
    labels = (np.arange(8) % generator_num_classes(generator)).astype("int32") if conditional \
        else None
    inputs = [latents, labels] if conditional else latents
    expected = generator.predict(inputs, verbose=0)

    signature = [tf.TensorSpec([None, latent_dim], tf.float32, name="latent")]
    if conditional:
        signature.append(tf.TensorSpec([None], tf.int32, name="label"))

    if conditional:
        def images(latent, label):
            return {"images": generator([latent, label], training=False)}
    else:
        def images(latent):
            return {"images": generator(latent, training=False)}

    with io.atomic_path(target) as tmp:
        module = tf.Module()
        module.generator = generator
        module.serve = tf.function(images, input_signature=signature)
        if format == "saved_model":
            signatures = {"serving_default": module.serve.get_concrete_function()}
            tf.saved_model.save(module, str(tmp), signatures=signatures)
            serve = tf.saved_model.load(str(tmp)).signatures["serving_default"]
            feed = {"latent": tf.constant(latents)}
            if conditional:
                feed["label"] = tf.constant(labels)
            got = serve(**feed)["images"].numpy()
            ops = None
        else:
            one = [tf.TensorSpec([1, *s.shape[1:]], s.dtype, name=s.name) for s in signature]
            concrete = tf.function(images, input_signature=one).get_concrete_function()
            flatbuffer = exporting.convert_tflite(concrete, quantize, model=generator)
            ops = exporting.tflite_ops(flatbuffer)
            tmp.write_bytes(flatbuffer)
            got = np.concatenate([_run_tflite(tmp, latents[i:i + 1],
                                              None if labels is None else labels[i:i + 1])
                                  for i in range(len(latents))])
        report = {"format": format, "quantize": quantize, "artifact": str(target),
                  "inputs": [s.name for s in signature], "output": "images (float32 0-255)",
                  "image_shape": [int(d) for d in generator.outputs[0].shape[1:]],
                  "max_abs_diff": float(np.max(np.abs(expected - got))),
                  "size_bytes": exporting.file_size(tmp),
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if ops is not None:
            report["ops"] = ops
        tolerance = 1.0 if quantize == "none" else 16.0  # pixels, of 255
        report["passed"] = report["max_abs_diff"] <= tolerance
        if not report["passed"]:
            raise ZooError(f"the exported generator differs from Keras by up to "
                           f"{report['max_abs_diff']:.1f} of 255 per pixel; nothing was written")
    exporting.write_report(target, report)
    return report


def _run_tflite(path: Path, latent: np.ndarray, label) -> np.ndarray:
    """One generated image from a .tflite generator, run as an app would, in ai_edge_litert."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        value = label if "label" in detail["name"] else latent
        interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
