"""Resolving ``--weights`` to a local file: ``none | NAME | PATH | RUN | tfhub:HANDLE-or-DIR``.

Published weights are downloaded once into the zoo cache (``$ZOO_HOME/weights``, default
``~/.cache/zoo/weights``) with a progress line and a hash check; a file Keras already downloaded
into its own cache (``$KERAS_HOME/models`` or ``~/.keras/models``) is used as is. Offline with an
empty cache, the user gets one sentence naming ``--weights none`` and ``--weights PATH``. Weights
another library downloads with its own loader and cache (KerasHub presets, through kagglehub) are
:class:`ExternalWeights`: the plugin's fetch function brings them and says what to do offline.
``--weights RUN`` (a run directory of ``zoo finetune`` on the same backbone) takes the backbone
that run trained, its head dropped: extracted once into ``$ZOO_HOME/weights/runs``.

Light on purpose: no TensorFlow here, since :class:`WeightsFile` appears in every backbone spec
and specs are built whenever plugins are listed.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from zoo import tfhub
from zoo.downloads import NetworkError, download, file_digest, zoo_home
from zoo.errors import ZooError
from zoo.io import atomic_path
from zoo.nested import nested_layers
from zoo.saving import load_model
from zoo.specs import import_target

__all__ = ["WeightsFile", "ExternalWeights"]  # what a plugin's backbone spec may use

HASH_ALGORITHMS = ("sha256", "md5")


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: where it lives and the hash its publisher gives for it.

    ``filename`` is the name it is cached under (default: the last part of the URL); giving Keras'
    own cache name lets a file Keras already downloaded be found.
    """

    url: str
    file_hash: str | None = None
    hash_algorithm: str = "sha256"
    filename: str | None = None

    def __post_init__(self):
        if self.hash_algorithm not in HASH_ALGORITHMS:
            raise ZooError(f"hash_algorithm must be one of {', '.join(HASH_ALGORITHMS)}, "
                           f"got {self.hash_algorithm!r}")
        if self.filename is None:
            name = Path(urllib.parse.urlparse(self.url).path).name
            if not name:
                raise ZooError(f"cannot tell a file name from {self.url!r}; pass filename=")
            object.__setattr__(self, "filename", name)


@dataclass(frozen=True)
class ExternalWeights:
    """Weights another library downloads and caches with its own loader (a KerasHub preset
    through kagglehub): ``fetch`` is a lazy ``"module:attr"`` function ``fetch(name, url) -> str``
    that returns the local path the backbone's builder takes, and raises ZooError in one line
    when it cannot (offline, say). ``url`` is where they come from, as ``zoo info`` shows it."""

    url: str
    fetch: str

    def __post_init__(self):
        if not isinstance(self.fetch, str) or ":" not in self.fetch:
            raise ZooError(f"ExternalWeights fetch must be 'module:attr', got {self.fetch!r}")


def cache_dir() -> Path:
    """Where downloaded weights are kept."""
    return zoo_home() / "weights"


def keras_cache_dir() -> Path:
    """Where Keras keeps what ``keras.utils.get_file`` downloaded (``cache_subdir="models"``)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def _matches(path: Path, wf: WeightsFile) -> bool:
    return wf.file_hash is None or file_digest(path, wf.hash_algorithm) == wf.file_hash.lower()


def resolve(spec, weights: str | None) -> str | None:
    """Turn a ``--weights`` value into what a backbone builder takes: None or a local path.

    ``spec`` is the :class:`zoo.Backbone`; ``weights`` is ``none``/None, one of ``spec.weights``,
    a path to a weights file or directory (a KerasHub preset directory goes to the builder as
    it is), a run directory of ``zoo finetune`` on the same backbone, or ``tfhub:HANDLE-or-DIR``
    (for backbones that declare ``tfhub``).
    """
    if weights is None or weights == "none":
        return None
    if not isinstance(weights, str) or not weights:
        raise ZooError(f"weights must be a string such as 'none' or a path, got {weights!r}")
    if weights.startswith("tfhub:"):
        if "tfhub" not in spec.weights:
            raise ZooError(f"backbone {spec.name!r} cannot load TF Hub models; use the 'tfhub' "
                           f"backbone: --weights {weights} with backbone tfhub")
        return tfhub.resolve(weights[len("tfhub:"):])
    if weights in spec.weights:
        wf = spec.weights_file(weights)
        if wf is None:
            raise ZooError(f"backbone {spec.name!r} (from {spec.plugin or 'its plugin'}) lists "
                           f"weights {weights!r} but no weight file for it; the plugin must give "
                           f"it in weight_files, or pass --weights PATH")
        if isinstance(wf, ExternalWeights):
            return import_target(wf.fetch, what=f"the weights fetcher of backbone {spec.name!r}",
                                 plugin=spec.plugin)(weights, wf.url)
        return fetch(wf, what=f"{weights} weights for {spec.name}")
    path = Path(weights).expanduser()
    if (path / "config.json").is_file() and not is_keras_preset(path):
        return run_backbone_weights(spec, path)
    if path.exists():
        return str(path.resolve())
    if os.sep in weights or path.suffix in (".h5", ".keras", ".hdf5"):
        raise ZooError(f"weights file {weights} does not exist; check the path, or use "
                       f"--weights none to train from scratch")
    known = ", ".join([*spec.weights, "PATH", "RUN"])
    raise ZooError(f"backbone {spec.name!r} has no weights {weights!r}; choose one of: {known}")


def run_backbone_weights(spec, run_dir: Path) -> str:
    """The backbone weights a ``zoo finetune`` or ``zoo pretrain`` run trained, as a
    ``.weights.h5`` file the backbone's builder loads (the run's head and preprocessing stay
    behind). Cached by the model file's digest, so a run trained further gives a new file."""
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ZooError(f"{run_dir}/config.json cannot be read ({exc}); --weights RUN takes a "
                       f"run directory written by zoo finetune or zoo pretrain") from None
    if not isinstance(config, dict):
        raise ZooError(f"{run_dir}/config.json is not a run's config; --weights RUN takes a "
                       f"run directory written by zoo finetune or zoo pretrain")
    trained = config.get("backbone")
    if trained is None:
        raise ZooError(f"{run_dir} trained {config.get('model') or 'a model'!r} with no "
                       f"backbone; --weights RUN takes a run of 'zoo finetune {spec.name}' or "
                       f"'zoo pretrain {spec.name}'")
    if trained != spec.name:
        raise ZooError(f"{run_dir} trained backbone {trained!r}, not {spec.name!r}; use "
                       f"'zoo finetune {trained} --weights {run_dir}' or a run of {spec.name}")
    model_file = run_dir / "model.keras"
    if not model_file.is_file():
        raise ZooError(f"{run_dir} has no model.keras yet (still training, or stopped before "
                       f"its first epoch); finish it: run the same command with --resume")
    digest = file_digest(model_file, "sha256")[:16]
    target = cache_dir() / "runs" / f"{spec.name}-{digest}.weights.h5"
    if not target.is_file():
        backbones = [layer for layer in nested_layers(load_model(model_file, compile=False))
                     if layer.name == "backbone"]
        if len(backbones) != 1:
            raise ZooError(f"{model_file} has no single nested 'backbone' model; was it "
                           f"written by zoo finetune or zoo pretrain?")
        with atomic_path(target) as tmp:
            backbones[0].save_weights(tmp)
    return str(target)


def is_keras_preset(path: Path) -> bool:
    """Whether directory ``path`` is a KerasHub preset (``save_to_preset``) rather than a run:
    its ``config.json`` is a serialized Keras object, where a run's names its task."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and {"class_name", "config"} <= config.keys() \
        and "task" not in config


def fetch(wf: WeightsFile, what: str) -> str:
    """The local path of a published file: from the zoo or Keras cache, else downloaded."""
    target = cache_dir() / wf.filename
    for candidate in (target, keras_cache_dir() / wf.filename):
        if candidate.is_file() and _matches(candidate, wf):
            return str(candidate)
    try:
        download(wf.url, target, file_hash=wf.file_hash, hash_algorithm=wf.hash_algorithm,
                 label=what)
    except NetworkError as exc:
        raise ZooError(f"cannot download {what} ({exc.reason}): use --weights none to train "
                       f"from scratch, or --weights PATH to a local .h5 file (expected in "
                       f"{target})") from None
    return str(target)
