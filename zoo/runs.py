"""The run directory: everything needed to reproduce, resume, evaluate and ship a training run.

Layout (files a task does not produce are absent)::

    config.json      every option that shaped the run, the task, data summary, versions
    labels.json      class names, in output order
    splits.json      the files (or rows) each split used: train / val / test
    model.keras      the final (best) model
    history.csv      one row per epoch, all stages
    metrics.json     held-out metrics
    curves.png, confusion.png
    checkpoints/     per-epoch state for --resume
    exports/         what `zoo export` wrote
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from zoo import io
from zoo.errors import ZooError

CONFIG = "config.json"

__all__ = ["Run"]


class Run:
    """A run directory on disk. Open an existing one with :meth:`open`, start one with :meth:`create`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- locating ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "Run":
        """An existing run; a clear ZooError when ``path`` is not one."""
        path = Path(path)
        if not path.is_dir():
            problem = "it is a file" if path.exists() else "it does not exist"
            raise ZooError(f"{path} is not a run directory ({problem}); "
                           f"runs are made by 'zoo finetune' or 'zoo train'")
        if not (path / CONFIG).is_file():
            raise ZooError(f"{path} is not a run directory: it has no {CONFIG}")
        return cls(path)

    @classmethod
    def create(cls, out: str | Path | None, name: str, root: str | Path = "runs",
               resume: bool = False) -> "Run":
        """The directory to train into: ``out`` if given, else ``runs/<name>-<n>``.

        Without ``resume`` an existing run with a model in it is never overwritten.
        """
        if out is None:
            if resume:
                raise ZooError("--resume needs --out RUN_DIR naming the run to continue")
            out = next_run_dir(Path(root), name)
        run = cls(out)
        if resume:
            if not (run.path / CONFIG).is_file():
                raise ZooError(f"cannot resume {run.path}: it holds no run (no {CONFIG})")
        elif (run.path / "model.keras").exists() or (run.path / "checkpoints").exists():
            raise ZooError(f"{run.path} already holds a run; pass --resume to continue it, "
                           f"or choose another --out")
        run.path.mkdir(parents=True, exist_ok=True)
        return run

    # -- files ------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    def read(self, name: str, default: Any = None) -> Any:
        path = self.path / name
        if not path.is_file():
            if default is not None:
                return default
            raise ZooError(f"run {self.path} has no {name}; was the run interrupted? "
                           f"continue it with --resume")
        return io.read_json(path)

    def write(self, name: str, value: Any) -> Path:
        return io.write_json(self.path / name, value)

    @property
    def config(self) -> dict:
        return self.read(CONFIG)

    @property
    def labels(self) -> list[str]:
        return self.read("labels.json")

    def load_model(self, compile: bool = True):  # noqa: A002 - mirrors keras.saving.load_model
        """The trained Keras model, with the plugin modules it needs imported."""
        from zoo.saving import load_model

        if not self.model_path.is_file():
            raise ZooError(f"run {self.path} has no model.keras yet; finish or --resume the run")
        with self._naming_missing_plugins():
            return load_model(self.model_path, compile=compile)

    def task(self):
        """The Task object that trained this run (evaluate, predict and export go through it)."""
        from zoo.tasks import task_for_run

        with self._naming_missing_plugins():
            return task_for_run(self)

    def missing_plugins(self) -> dict[str, str]:
        """Plugin distributions the run was trained with (config.json) that are not loaded now:
        name -> version."""
        import zoo
        from zoo.plugins import normalize

        recorded = (self.config.get("versions") or {}).get("plugins") or {}
        loaded = {normalize(info.name) for info in zoo.registry().plugins.values() if info.loaded}
        return {name: version for name, version in recorded.items()
                if normalize(name) not in loaded}

    @contextlib.contextmanager
    def _naming_missing_plugins(self):
        """A ZooError raised inside also names the plugins the run needs that are missing."""
        try:
            yield
        except ZooError as exc:
            missing = self.missing_plugins()
            if not missing:
                raise
            names = " ".join(missing)
            raise ZooError(f"{exc}; {self.path} was trained with "
                           f"{', '.join(f'{n} {v}' for n, v in missing.items())}, not loaded "
                           f"here: zoo plugins install {names} (or enable it in "
                           f"ZOO_LOAD_PLUGINS / ZOO_DISABLE_PLUGINS)") from exc

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)


def next_run_dir(root: Path, name: str) -> Path:
    """``root/<name>-<n>`` with n one past the highest existing number."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    taken = [int(m.group(1)) for p in root.glob(f"{safe}-*")
             if (m := re.fullmatch(re.escape(safe) + r"-(\d+)", p.name))]
    return root / f"{safe}-{max(taken, default=0) + 1}"
