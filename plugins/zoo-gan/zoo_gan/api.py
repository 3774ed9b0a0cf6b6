"""The GAN plugin's Python API: generate images from a run.

``zoo generate`` calls :func:`generate`; it works the same from Python::

    from zoo_gan.api import generate
    paths = generate("runs/cgan-1", n=200, out="samples/", label="7", seed=0)

Exporting the generator is the core's job: ``zoo.export(run, format="tflite")`` (see
:meth:`zoo_gan.tasks.GANTask.export_spec`).
"""

from __future__ import annotations

import re

from pathlib import Path

import numpy as np

from zoo import ZooError
from zoo.runs import Run


def _open(run) -> Run:
    run = run if isinstance(run, Run) else Run.open(run)
    if run.config.get("task") != "zoo_gan.tasks:GANTask":
        raise ZooError(f"{run.path} is a {run.config.get('task')} run, not a GAN run; "
                       f"generate needs a run made by 'zoo train dcgan|cgan|wgan_gp'")
    return run


def load_generator(run):
    """The run's generator (``generator.keras``, else the one inside ``model.keras``)."""
    import zoo

    run = _open(run)
    path = run.file("generator.keras")
    return zoo.load_model(path) if path.is_file() else run.load_model(compile=False).generator


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


#: The names :func:`generate` writes: ``0007.png`` or ``<class>-0007.png``.
GENERATED = re.compile(r"(?:.+-)?\d{4}\.png")


def generate(run, n: int = 16, out=None, label=None, seed: int | None = None) -> list[Path]:
    """Write ``n`` PNG images to ``out`` (default ``RUN/generated``); returns their paths.

    A conditional GAN cycles through its classes unless ``label`` names one. Names are
    ``<n>.png``, or ``<class>-<n>.png`` for a conditional GAN.
    """
    from zoo_gan.callbacks import write_png
    from zoo_gan.models import generator_num_classes

    run = _open(run)
    out = Path(out) if out else run.file("generated")
    others = sorted(p.name for p in out.iterdir() if not GENERATED.fullmatch(p.name)) \
        if out.is_dir() else []
    if others:  # the run's samples/ (per-epoch grids), or any folder of someone else's files
        raise ZooError(f"{out} already holds other files ({', '.join(others[:3])}"
                       f"{', ...' if len(others) > 3 else ''}); write the generated images to an "
                       f"empty or new folder (default {run.file('generated')})")
    images = sample_run(run, n, label=label, seed=seed)
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
