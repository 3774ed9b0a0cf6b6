"""The run directory: everything needed to reproduce, resume, evaluate and ship a training run.

Layout (files a task does not produce are absent)::

    config.json      every option that shaped the run, the task, data summary, versions
    labels.json      class names, in output order
    splits.json      the files (or rows) each split used: train / val / test
    preprocessor.json  fitted preprocessing state (a vocabulary, ...), with its asset files
    model.keras      the final (best) model
    history.csv      one row per epoch, all stages
    metrics.json     held-out metrics; ``headline`` names the figures the task is judged on,
                     ``training`` summarises the training (monitor, best epoch, time)
    curves.png, confusion.png
    checkpoints/     per-epoch state for --resume
    logs/            TensorBoard event files (train/, validation/)
    report.html      `zoo report`: the whole run in one self-contained page
    exports/         what `zoo export` wrote
    training.lock    present while a process trains into the run (its pid and host)

:class:`Run` is the one place that knows these names; the engine, tasks, reports and ``zoo runs``
go through it. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from zoo import io
from zoo.errors import ZooError
from zoo.plugins import normalize
from zoo.registry import registry
from zoo.saving import load_model

# The files of a run directory; only this module spells their names.
CONFIG = "config.json"
LABELS = "labels.json"
SPLITS = "splits.json"
PREPROCESSOR = "preprocessor.json"
MODEL = "model.keras"
HISTORY = "history.csv"
METRICS = "metrics.json"
CURVES = "curves.png"
CONFUSION = "confusion.png"
REPORT = "report.html"
LOCK = "training.lock"
CHECKPOINTS = "checkpoints"
STATE = "state.json"  # in CHECKPOINTS: where --resume starts
LOGS = "logs"
EXPORTS = "exports"
EXPORT_REPORT = "export-report.json"  # in EXPORTS
REJECTED = ".rejected"  # an export that failed verification: model-int8.rejected.tflite

__all__ = ["Run", "History", "list_runs", "headline_figures"]


class History:
    """A run's ``history.csv``: one row per epoch across stages and resumes (values as text when
    read back). Every change rewrites the file atomically; columns grow as stages add metrics."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def rows(self) -> list[dict]:
        """The rows, oldest first; [] before the first epoch."""
        if not self.path.is_file():
            return []
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def append(self, row: dict) -> None:
        self._write(self.rows() + [{key: _plain(value) for key, value in row.items()}])

    def truncate(self, last_epoch: int) -> None:
        """Drop the rows of epochs after ``last_epoch`` (a resumed run trains them again)."""
        self._write([row for row in self.rows() if int(row["epoch"]) <= last_epoch])

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self, rows: list[dict]) -> None:
        if not rows:
            self.clear()
            return
        buffer = _io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
        io.write_text(self.path, buffer.getvalue())


def _plain(value):
    """A log value as history.csv stores it: ints and text as they are, numbers rounded."""
    if isinstance(value, (int, str)):
        return value
    try:
        return round(float(value), 6)
    except (TypeError, ValueError):
        return value


class Run:
    """A run directory on disk, and the one owner of its files' names and formats. Open an
    existing one with :meth:`open`, start one with :meth:`create`."""

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
                           f"runs are made by 'zoo finetune', 'zoo pretrain' or 'zoo train'")
        if not (path / CONFIG).is_file():
            raise ZooError(f"{path} is not a run directory: it has no {CONFIG}")
        return cls(path)

    @classmethod
    def create(cls, out: str | Path | None, name: str, root: str | Path = "runs",
               resume: bool = False) -> "Run":
        """The directory to train into: ``out`` if given, else ``runs/<name>-<n>``. Nothing is
        written yet (:meth:`make` creates the directory when training starts).

        Without ``resume`` an existing run with a model in it is never overwritten.
        """
        if out is None:
            if resume:
                raise ZooError("--resume needs --out RUN_DIR naming the run to continue")
            out = next_run_dir(Path(root), name)
        run = cls(out)
        if resume:
            if not run.config_path.is_file():
                raise ZooError(f"cannot resume {run.path}: it holds no run (no {CONFIG})")
        elif run.model_path.exists() or run.checkpoint_dir.exists():
            raise ZooError(f"{run.path} already holds a run; pass --resume to continue it, "
                           f"or choose another --out")
        return run

    def make(self) -> "Run":
        """Create the directory (and its parents)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    # -- files ------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """A file of the run by name: for the files a task adds itself (``samples/``, ...)."""
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def curves_path(self) -> Path:
        return self.path / CURVES

    @property
    def confusion_path(self) -> Path:
        """The confusion matrix of the run's own held-out split."""
        return self.path / CONFUSION

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def state_path(self) -> Path:
        """``checkpoints/state.json``: the resume point, written last at each epoch's end."""
        return self.path / CHECKPOINTS / STATE

    @property
    def logs_dir(self) -> Path:
        """TensorBoard event files: ``logs/train`` and ``logs/validation``."""
        return self.path / LOGS

    @property
    def exports_dir(self) -> Path:
        return self.path / EXPORTS

    @property
    def history(self) -> History:
        return History(self.path / HISTORY)

    def read(self, name: str, default: Any = None) -> Any:
        """The JSON file ``name`` of the run; ``default`` when absent (None: a ZooError)."""
        path = self.path / name
        if not path.is_file():
            if default is not None:
                return default
            raise ZooError(f"run {self.path} has no {name}; was the run interrupted? "
                           f"continue it with --resume")
        return io.read_json(path)

    def write(self, name: str, value: Any) -> Path:
        """Write JSON file ``name`` atomically."""
        return io.write_json(self.path / name, value)

    @property
    def config(self) -> dict:
        return self.read(CONFIG)

    @property
    def labels(self) -> list[str]:
        return self.read(LABELS)

    @property
    def splits(self) -> dict:
        """``{"train": [...], "val": [...], "test": [...]}``: what each split used."""
        return self.read(SPLITS)

    @property
    def metrics(self) -> dict:
        return self.read(METRICS)

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def write_setup(self, config: dict, labels=None, splits=None, preprocessor=None) -> None:
        """What a new run records before its first epoch: labels.json, splits.json and the
        preprocessor first, config.json last (the file that makes the directory a run)."""
        if labels is not None:
            self.write(LABELS, list(labels))
        if splits is not None:
            self.write(SPLITS, splits)
        if preprocessor is not None:
            preprocessor.save(self)
        self.write(CONFIG, config)

    def load_model(self, compile: bool = True):  # noqa: A002 - mirrors keras.saving.load_model
        """The trained Keras model, with the plugin modules it needs imported."""
        if not self.model_path.is_file():
            raise ZooError(f"run {self.path} has no {MODEL} yet; finish or --resume the run")
        with self.naming_missing_plugins():
            return load_model(self.model_path, compile=compile)

    def missing_plugins(self) -> dict[str, str]:
        """Plugin distributions the run was trained with (config.json) that are not loaded now:
        name -> version."""
        recorded = (self.config.get("versions") or {}).get("plugins") or {}
        loaded = {normalize(info.name) for info in registry().plugins.values() if info.loaded}
        return {name: version for name, version in recorded.items()
                if normalize(name) not in loaded}

    @contextlib.contextmanager
    def naming_missing_plugins(self):
        """A ZooError raised inside also names the plugins the run needs that are missing, and
        why each is (not installed, disabled or failed to load) with its fix."""
        try:
            yield
        except ZooError as exc:
            missing = self.missing_plugins()
            if not missing:
                raise
            named = []
            for name, version in missing.items():
                why = f", which {registry().why_not_loaded(name)}"
                told = f"{name}{why}" in str(exc)  # the registry's "unknown NAME" said it
                named.append(f"{name} {version}{'' if told else why}")
            raise ZooError(f"{exc}; {self.path} was trained with {'; and '.join(named)}") from exc

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


# -- listing runs (zoo runs): light, never imports TensorFlow -----------------------------------

def list_runs(root: str | Path = "runs") -> list[dict]:
    """One summary dict per run directory under ``root`` (or ``root`` itself if it is a run),
    newest first. Never raises for a broken run: its ``status`` says what is wrong.

    Keys: ``name``, ``path``, ``status`` (``done``, ``training``, ``interrupted``, ``broken``),
    ``task``, ``model``, ``backbone``, ``data``, ``monitor``, ``best`` (best validation figure),
    ``best_epoch``, ``epochs``, ``seconds`` (wall time of training), ``heldout`` (the headline
    held-out metrics), ``created``, ``exports`` (one dict per artifact in export-report.json:
    ``artifact``, ``format``, ``quantize``, ``size_bytes``, ``verified``, ``rejected``,
    ``exists``),
    ``problem``.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ZooError(f"{root} is not a directory of runs"
                       f"{' (it is a file)' if root.exists() else ''}; runs are written to "
                       f"runs/ by 'zoo finetune' and 'zoo train', or where --out said")
    candidates = [root] if _looks_like_run(root) else \
        [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")
         and _looks_like_run(p)]
    rows = [summarize_run(path) for path in candidates]
    rows.sort(key=lambda row: row["_sort"], reverse=True)
    for row in rows:
        del row["_sort"]
    return rows


def _looks_like_run(path: Path) -> bool:
    return any((path / name).exists() for name in (CONFIG, CHECKPOINTS, LOCK, MODEL))


def summarize_run(path: str | Path) -> dict:
    """The :func:`list_runs` row of one run directory."""
    path = Path(path)
    row: dict = {"name": path.name, "path": str(path), "status": "done", "task": None,
                 "model": None, "backbone": None, "data": None, "monitor": None, "best": None,
                 "best_epoch": None, "epochs": None, "seconds": None, "heldout": {},
                 "created": None, "exports": [], "problem": None}
    row["_sort"] = _mtime(path)
    config = _read(path / CONFIG)
    if config is None:  # a run starting (the lock comes first) or a stray folder
        if _locked(path):
            row["status"] = "training"
        else:
            row["status"], row["problem"] = "broken", f"no {CONFIG}"
        return row
    if not isinstance(config, dict):
        row["status"] = "broken"
        row["problem"] = _unreadable(CONFIG, config)
        return row
    options = config.get("options") if isinstance(config.get("options"), dict) else {}
    row.update(task=_short_task(config.get("task")), model=config.get("model"),
               backbone=config.get("backbone"), data=options.get("data"),
               created=config.get("created"))
    if config.get("created"):
        row["_sort"] = _timestamp(config["created"], row["_sort"])
    metrics = _read(path / METRICS)
    state = _read(path / CHECKPOINTS / STATE)
    if isinstance(metrics, dict):
        training = metrics.get("training") if isinstance(metrics.get("training"), dict) else {}
        row.update(monitor=training.get("monitor"), best=training.get("best"),
                   best_epoch=training.get("best_epoch"), epochs=training.get("epochs"),
                   seconds=training.get("seconds"))
        row["heldout"] = headline_figures(metrics)
        if _locked(path):
            row["status"] = "training"  # a --resume writing into a finished run
    else:
        row["status"] = "training" if _locked(path) else "interrupted"
        if isinstance(metrics, Exception):
            row["status"], row["problem"] = "broken", _unreadable(METRICS, metrics)
        if isinstance(state, dict):
            row.update(monitor=state.get("monitor"), best=state.get("best"),
                       best_epoch=state.get("best_epoch"), epochs=state.get("global_epoch"),
                       seconds=state.get("seconds"))
    row["exports"] = export_rows(path / EXPORTS)
    return row


def headline_figures(metrics: dict) -> dict:
    """The figures a run is judged on, from its metrics.json: the keys its task declared
    (``metrics["headline"]``, written by the engine), else every top-level number but counts.
    What ``zoo evaluate``, the end of ``zoo train``, ``zoo runs`` and report.html show."""
    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    declared = metrics.get("headline")
    keys = declared if isinstance(declared, list) else [
        key for key in metrics if key not in ("count", "windows", "headline")]
    return {key: metrics[key] for key in keys if number(metrics.get(key))}


def rejected_path(target: Path) -> Path:
    """Where an export that failed verification is kept, beside the ``target`` it did not
    replace."""
    return target.with_name(target.stem + REJECTED + target.suffix)


def export_rows(folder: Path) -> list[dict]:
    """One dict per artifact in ``folder``'s export-report.json (``artifact``, ``format``,
    ``quantize``, ``size_bytes``, ``verified``, ``rejected``, ``exists``), the artifacts in
    place first, then the attempts kept aside as rejected; [] without a readable report."""
    report = _read(folder / EXPORT_REPORT)
    if not isinstance(report, dict):
        return []
    rows = []
    for name, entry in sorted(report.items()):
        if not isinstance(entry, dict):
            continue
        target = folder / name
        size = entry.get("size_bytes")
        if size is None and target.exists():
            size = io.file_size(target)
        rows.append({"artifact": name, "format": entry.get("format"),
                     "quantize": entry.get("quantize") or "none", "size_bytes": size,
                     "verified": entry.get("passed"),
                     "rejected": entry.get("passed") is False and REJECTED in target.suffixes,
                     "exists": target.exists()})
    return sorted(rows, key=lambda row: row["rejected"])


def _unreadable(name: str, what) -> str:
    """Why a run file cannot be used, in a few words."""
    if isinstance(what, json.JSONDecodeError):
        return f"{name} is not valid JSON (line {what.lineno})"
    if isinstance(what, Exception):
        return f"{name} cannot be read ({type(what).__name__})"
    return f"{name} is not a JSON object"


def _read(path: Path):
    """The JSON in ``path``; None when absent; the exception when unreadable or not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return exc


def _locked(path: Path) -> bool:
    """Whether a live process holds the run's training.lock (a lock from another host counts
    as live; one whose process is gone does not)."""
    lock = _read(path / LOCK)
    if lock is None:
        return False
    if not isinstance(lock, dict):  # being written, or unreadable: someone holds it
        return True
    if lock.get("host") != socket.gethostname():
        return True
    try:
        pid = int(lock.get("pid", 0))
    except (ValueError, TypeError):
        return False
    if pid <= 0 or _process_started(pid) != lock.get("process_started"):
        return False  # no such process, or the pid was reused by a later one
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, and the boot), where /proc tells;
    None elsewhere. Tells a live trainer from a later process given the same pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, IndexError):
        return None
    return f"{boot}:{fields[19]}"  # field 22 of stat; the first two precede the ")"


@contextlib.contextmanager
def training_lock(run: "Run"):
    """``training.lock`` in the run while the body runs (what ``zoo runs`` shows as training).
    A run another live process is training is refused in one line; a stale lock is replaced."""
    lock = run.lock_path
    if _locked(run.path):
        holder = _read(lock)
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if isinstance(holder, dict) \
            else "another process"
        raise ZooError(f"{run.path} is being trained by {who}; wait for it to finish (zoo runs "
                       f"shows it), or stop that process first")
    mine = {"pid": os.getpid(), "host": socket.gethostname(),
            "process_started": _process_started(os.getpid()),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    io.write_json(lock, mine)
    try:
        yield
    finally:
        if _read(lock) == mine:  # never remove a lock a later process took over
            lock.unlink(missing_ok=True)


def _short_task(task: str | None) -> str | None:
    """``zoo_rnn.tasks:TextClassificationTask`` -> ``TextClassificationTask``."""
    return task.rsplit(":", 1)[-1] if task else task


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _timestamp(text: str, default: float) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return default
