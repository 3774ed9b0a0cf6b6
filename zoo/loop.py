"""The epoch loop every task shares: stages, checkpoints, resume, early stopping, best weights.

A task builds and compiles a model and splits its training into :class:`~zoo.tasks.Stage` s
(one for most tasks; two for transfer learning: head only, then the top of the backbone).
:func:`fit` runs them with Keras' own ``model.fit`` and one callback, :class:`RunCheckpoint`,
that after every epoch

* appends the epoch to the run's history (``history.csv``, one file across stages),
* saves weights + optimizer state + stage + epoch under ``checkpoints/`` atomically, so
  ``--resume`` after a SIGKILL continues from the last completed epoch,
* keeps the run's best weights by the task's monitor (:class:`~zoo.tasks.Monitor`) across
  stages, and each stage's best by the stage's monitor: a stage stops early after ``patience``
  epochs without improving it and hands its best weights to the next stage; the run's best
  weights are restored when training ends.

A stage may train a :class:`~zoo.tasks.Substitute` instead of the run's model (a head on
features computed once): it shares the trainable layers, so the run's model carries its
training; its checkpoints hold the substitute (small) until the stage ends, when the run's model
is checkpointed whole.

Every run also writes TensorBoard event files under ``logs/`` (``train/`` and ``validation/``)
through Keras' own ``keras.callbacks.TensorBoard``: one step per epoch, numbered across stages
and across ``--resume`` (step = epoch - 1 of history.csv), so a resumed run appends to the same
curves (epochs logged after the last checkpoint are dropped first, as in history.csv).

Plugin callbacks (``zoo_callbacks``) run behind :class:`GuardedCallback`: they see the same
global epoch numbering, and one that raises is dropped from the run with one warning line.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import keras

from zoo import io
from zoo.errors import ZooError
from zoo.runs import Run
from zoo.tasks.base import AUTO_MONITORS, Monitor, Stage, Substitute

BEST = "best.weights.h5"
STAGE_BEST = "stage-best.weights.h5"


def setup(seed: int | None = 0, mixed_precision: str = "auto") -> str:
    """Seed every RNG and set the global dtype policy; call before building the model.

    ``mixed_precision``: ``auto`` is mixed_float16 on a GPU and float32 on CPU; ``on`` is
    mixed_float16 on a GPU and mixed_bfloat16 on CPU; ``off`` is float32. Returns the policy.
    """
    import tensorflow as tf

    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    policy = {"auto": "mixed_float16" if on_gpu else "float32",
              "on": "mixed_float16" if on_gpu else "mixed_bfloat16",
              "off": "float32"}[mixed_precision]
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def strategy_scope(strategy=None):
    """``strategy.scope()``, or a no-op for the default single device."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


class RunCheckpoint(keras.callbacks.Callback):
    """Per-epoch bookkeeping in the run directory (see the module doc).

    ``state`` is the dict saved as ``checkpoints/state.json``, shared across stages;
    ``epoch_offset`` is the number of epochs completed before this stage's epoch 0;
    ``run_model`` is the model the run saves (``self.model``, the one being fitted, may be a
    substitute sharing its layers).
    """

    def __init__(self, run: Run, run_model, state: dict, stage_index: int, stages: list[Stage],
                 monitors: "Monitors", patience: int, epoch_offset: int,
                 clock: Callable[[], float], log: Callable[[str], None]):
        super().__init__()
        self.run, self.run_model, self.state = run, run_model, state
        self.stage_index, self.stage = stage_index, stages[stage_index]
        self.last_stage = stage_index == len(stages) - 1
        self.monitors, self.patience, self.epoch_offset = monitors, patience, epoch_offset
        self.clock, self.log = clock, log

    @property
    def substituted(self) -> bool:
        return self.model is not self.run_model

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) if _is_number(value) else value
                for key, value in (logs or {}).items()}
        state, ckpt_dir = self.state, self.run.checkpoint_dir
        run_monitor = self.monitors.resolve(logs)
        stage_monitor = self.stage.monitor or run_monitor
        global_epoch = self.epoch_offset + epoch + 1
        self.run.history.append({"epoch": global_epoch, "stage": self.stage.name,
                                 "lr": _current_lr(self.model.optimizer), **logs})

        figures = {k: logs[k] for k in _figures(run_monitor, stage_monitor) if k in logs}
        if run_monitor is not None and run_monitor.better(logs, state.get("best_logs")):
            state.update(best=logs.get(run_monitor.metric), best_logs=figures,
                         best_epoch=global_epoch)
            _save_weights(self.run_model, ckpt_dir / BEST)
        if stage_monitor is not None and stage_monitor.better(logs, state.get("stage_best_logs")):
            state.update(stage_best_logs=figures, stage_best_epoch=global_epoch, wait=0)
            if not self.last_stage:  # the last stage ends with the run's best anyway
                _save_weights(self.model, ckpt_dir / STAGE_BEST)
        else:
            state["wait"] = state.get("wait", 0) + 1
        if self.patience and stage_monitor is not None and state["wait"] >= self.patience:
            self.model.stop_training = True
        finished = epoch + 1 >= self.stage.epochs
        stage_over = finished or self.model.stop_training
        if stage_over and not self.last_stage:
            self._end_with_stage_best(global_epoch)
        # Resume point: the next epoch to run, as (stage index, epoch within stage).
        state["seconds"] = round(self.clock(), 1)
        state.update(stage=self.stage_index + 1 if stage_over else self.stage_index,
                     epoch=0 if stage_over else epoch + 1, global_epoch=global_epoch,
                     stopped_early=bool(self.model.stop_training and not finished))
        # A substitute's checkpoints hold the substitute alone (the rest of the run's model does
        # not change in its stage), until the stage ends.
        whole = stage_over or not self.substituted
        last = f"last-{global_epoch}{'' if whole else '.substitute'}.weights.h5"
        _save_weights(self.run_model if whole else self.model, ckpt_dir / last)
        if whole:
            state.pop("base_weights", None)
        elif "base_weights" not in state:  # what the run's model was when the stage started
            state["base_weights"] = state.get("weights")
        state["weights"] = last
        io.write_json(self.run.state_path, state)  # the commit point: weights first, then state
        keep = {last, state.get("base_weights")}
        for old in ckpt_dir.glob("last-*.weights.h5"):
            if old.name not in keep:
                old.unlink(missing_ok=True)

    def _end_with_stage_best(self, global_epoch: int) -> None:
        """The next stage starts from this stage's best epoch, not its last."""
        state = self.state
        best_epoch = state.get("stage_best_epoch")
        path = self.run.checkpoint_dir / STAGE_BEST
        if best_epoch is not None and best_epoch != global_epoch and path.is_file():
            _load_weights(self.model, path, with_optimizer=False)
            figures = ", ".join(f"{k} {v:.4f}" for k, v in state["stage_best_logs"].items())
            self.log(f"Stage {self.stage.name} ends with the weights of epoch {best_epoch} "
                     f"({figures})")
        path.unlink(missing_ok=True)


class Monitors:
    """The run's monitor: the task's declaration, resolved at the first epoch for ``"auto"``
    (the first of :data:`~zoo.tasks.base.AUTO_MONITORS` in the logs), and kept in state.json so
    a resumed run judges by the same figure."""

    def __init__(self, declared, state: dict):
        self.declared, self.state = declared, state

    def resolve(self, logs: dict) -> Monitor | None:
        if isinstance(self.declared, Monitor) or self.declared is None:
            self.state["monitor"] = self.declared.metric if self.declared else None
            return self.declared
        name = self.state.get("monitor")
        if name is None:
            found = next((m for m in AUTO_MONITORS if m.metric in logs), None)
            self.state["monitor"] = found.metric if found else None
            return found
        return next(m for m in AUTO_MONITORS if m.metric == name)


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback with epoch steps that run on across stages and resumes.

    ``model.fit`` numbers epochs from 0 in each stage (from ``initial_epoch`` when resuming
    within one); adding ``epoch_offset`` (epochs completed before the stage) makes the step the
    run's global epoch index. Writers are flushed every epoch, so a killed run loses nothing
    that its checkpoint kept; on ``--resume``, :func:`fit` first drops the logged epochs that
    ran after the checkpoint (:func:`_truncate_logs`), since they run again.
    """

    def __init__(self, log_dir, epoch_offset: int = 0):
        super().__init__(log_dir=str(log_dir), histogram_freq=0, write_graph=False,
                         write_images=False, write_steps_per_second=False, update_freq="epoch",
                         profile_batch=0)
        self.epoch_offset = epoch_offset

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(self.epoch_offset + epoch, logs)

    def on_test_end(self, logs=None):
        # Keras also logs "evaluation_*_vs_iterations" here, stepped by optimizer iterations: the
        # epoch's val scalars again, and steps a resumed run would write twice. Skip them.
        self._pop_writer()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(self.epoch_offset + epoch, logs)
        for writer in getattr(self, "_writers", {}).values():  # a GAN has no validation writer
            writer.flush()


class EpochLines(keras.callbacks.Callback):
    """One log line every ``every`` epochs (and at the last): the epoch's figures and the
    seconds since the previous line. Through the run's ``log``, so a caller that silences the
    log silences training too."""

    def __init__(self, log: Callable[[str], None], epochs: int, every: int = 10):
        super().__init__()
        self.log, self.epochs, self.every = log, epochs, every
        self.since = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.since is None:
            self.since = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.epochs and not self.model.stop_training:
            return
        figures = ", ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items()
                            if _is_number(v))
        seconds, self.since = time.monotonic() - self.since, None
        self.log(f"  epoch {done}/{self.epochs} ({seconds:.1f} s): {figures}")


#: The Keras callback methods a plugin callback may implement, all guarded.
_CALLBACK_METHODS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                     "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
                     "on_test_batch_begin", "on_test_batch_end", "on_predict_begin",
                     "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


class GuardedCallback(keras.callbacks.Callback):
    """A plugin's callback, behind a guard: the epoch it sees is the run's global epoch index
    (0-based across stages and ``--resume``, as TensorBoard's steps), and the first exception
    it raises drops it from the run with one warning line naming the plugin; training goes on.

    After the run is written (model, metrics.json, curves, report), :meth:`run_end` calls the
    callback's ``on_run_end(run)`` if it has one: where a tracker uploads the run's files.
    """

    def __init__(self, callback, plugin: str, log: Callable[[str], None]):
        super().__init__()
        self.callback, self.plugin, self.log = callback, plugin, log
        self.epoch_offset = 0
        self.dropped = False

    def set_model(self, model):
        super().set_model(model)
        self._call("set_model", model)

    def set_params(self, params):
        super().set_params(params)
        self._call("set_params", params)

    def run_end(self, run) -> None:
        if hasattr(self.callback, "on_run_end"):
            self._call("on_run_end", run)

    def _call(self, method: str, *args) -> None:
        if self.dropped:
            return
        try:
            getattr(self.callback, method)(*args)
        except Exception as exc:  # noqa: BLE001 - a plugin must never stop the run
            self.dropped = True
            self.log(f"Warning: plugin {self.plugin}'s callback {type(self.callback).__name__} "
                     f"failed in {method} ({type(exc).__name__}: {_first_line(exc)}); training "
                     f"goes on without it")


def _guarded(method: str):
    def call(self, *args, **kwargs):
        if method in ("on_epoch_begin", "on_epoch_end"):
            args = (self.epoch_offset + args[0], *args[1:])
        self._call(method, *args, *kwargs.values())
    call.__name__ = method
    return call


for _method in _CALLBACK_METHODS:
    setattr(GuardedCallback, _method, _guarded(_method))


def fit(model, data, run: Run, stages: list[Stage], *, monitor, callbacks=(),
        plugin_callbacks: list[GuardedCallback] = (), patience: int = 5, resume: bool = False,
        log: Callable[[str], None] = print, strategy=None, verbose: int | None = None,
        jit_compile: bool | None = None) -> dict:
    """Train ``model`` on ``data.train`` / ``data.val`` through ``stages`` into ``run``.

    ``monitor`` is the task's ``MONITOR`` declaration. ``callbacks`` (the task's) run before
    the run's own bookkeeping each epoch, so what they add to the epoch's logs reaches
    history.csv and may be the monitored figure; ``plugin_callbacks`` come after them.

    With ``resume`` it continues from ``checkpoints/state.json``. Ends with the run's best
    weights in ``model`` and returns a summary dict: ``monitor``, ``best``, ``best_epoch``,
    ``epochs``, ``seconds``, ``stopped_early``. ``verbose`` is Keras' (default: its live
    progress bar on a terminal; elsewhere Keras is silent and a line per epoch goes through
    ``log``). ``jit_compile`` True/False overrides what each
    stage's ``compile`` chose (XLA on or off).
    """
    start = time.monotonic()
    # Keras prints to stdout whatever ``log`` is: only its live bar on a terminal.
    epoch_lines = verbose is None and not sys.stdout.isatty()
    if verbose is None:
        verbose = 0 if epoch_lines else 1
    ckpt_dir = run.checkpoint_dir
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state = io.read_json(run.state_path) if resume and run.state_path.is_file() else {}
    if resume and state:
        log(f"Resuming {run.path} after epoch {state['global_epoch']} "
            f"(stage {stages[min(state['stage'], len(stages) - 1)].name})")
        _upgrade_state(state)
        run.history.truncate(state["global_epoch"])
        _truncate_logs(run.logs_dir, state["global_epoch"])
    else:  # a new run, or one killed before its first checkpoint: nothing of it is kept
        run.history.clear()
        shutil.rmtree(run.logs_dir, ignore_errors=True)
    monitors = Monitors(monitor, state)
    first_stage, first_epoch = state.get("stage", 0), state.get("epoch", 0)
    before = float(state.get("seconds", 0.0))  # spent by the processes this one resumes

    def clock() -> float:
        return before + time.monotonic() - start

    for index, stage in enumerate(stages):
        if index < first_stage:
            continue
        mid_stage = index == first_stage and first_epoch > 0
        initial = first_epoch if index == first_stage else 0
        header = f"Stage {index + 1}/{len(stages)}: {stage.name}"
        log(header + (f" - {stage.description}" if stage.description else "") +
            f" ({stage.epochs} epochs{f', from epoch {initial + 1}' if initial else ''})")
        with strategy_scope(strategy):
            if stage.prepare is not None:
                stage.prepare(model)
            full = state.get("base_weights") if mid_stage and "base_weights" in state else \
                state.get("weights")
            if full:
                _load_weights(model, ckpt_dir / full,
                              with_optimizer=mid_stage and "base_weights" not in state)
            trained, train, val = model, data.train, data.val
            if stage.substitute is not None:
                substitute = stage.substitute(model)
                if not isinstance(substitute, Substitute):
                    raise ZooError(f"stage {stage.name!r}'s substitute returned "
                                   f"{type(substitute).__name__}; expected zoo.tasks.Substitute")
                trained, train, val = substitute.model, substitute.train, substitute.val
                if substitute.description:
                    log(f"Training {substitute.description}")
                if mid_stage and "base_weights" in state:
                    _load_weights(trained, ckpt_dir / state["weights"], with_optimizer=True)
        if initial == 0:  # patience and the stage's best count within a stage
            state.update(wait=0, stage_best_logs=None, stage_best_epoch=None)
        # Epoch numbers in history.csv run on across stages, even after an early stop.
        offset = state.get("global_epoch", 0) - initial
        if trained is not model:  # a substitute's epochs take moments: a line every few
            progress = [EpochLines(log, stage.epochs)]
        elif epoch_lines:
            progress = [EpochLines(log, stage.epochs, every=1)]
        else:  # Keras' live bar
            progress = []
        stage_patience = patience if stage.patience is None else stage.patience
        bookkeeping = RunCheckpoint(run, model, state, index, stages, monitors, stage_patience,
                                    offset, clock, log)
        for guard in plugin_callbacks:
            guard.epoch_offset = offset
        if jit_compile is not None:
            trained.jit_compile = jit_compile
        with warnings.catch_warnings():
            # tf.data pipelines shuffle themselves; Keras warns that fit's shuffle is ignored.
            warnings.filterwarnings("ignore", message=".*shuffle=True.*")
            trained.fit(train, validation_data=val, epochs=stage.epochs, initial_epoch=initial,
                        callbacks=[*callbacks, *plugin_callbacks,
                                   EpochTensorBoard(run.logs_dir, offset), *progress,
                                   bookkeeping],
                        class_weight=data.class_weight, verbose=0 if progress else verbose)

    if (ckpt_dir / BEST).is_file():
        _load_weights(model, ckpt_dir / BEST, with_optimizer=False)
    seconds = clock()
    summary = {"monitor": state.get("monitor"), "best": state.get("best"),
               "best_epoch": state.get("best_epoch"), "epochs": state.get("global_epoch", 0),
               "stopped_early": state.get("stopped_early", False), "seconds": round(seconds, 1)}
    if summary["best"] is not None:
        log(f"Best {summary['monitor']} {summary['best']:.4f} at epoch {summary['best_epoch']} "
            f"of {summary['epochs']} ({_duration(seconds)}); run: {run.path}")
    return summary


def _upgrade_state(state: dict) -> None:
    """A state.json written before monitors carried tie-breakers kept only the best figure."""
    if state.get("best") is not None and "best_logs" not in state and state.get("monitor"):
        state["best_logs"] = {state["monitor"]: state["best"]}


def _figures(*monitors) -> list[str]:
    return list(dict.fromkeys(f for m in monitors if m is not None for f in m.figures()))


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _save_weights(model, path: Path) -> None:
    with io.atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)


def _load_weights(model, path: Path, with_optimizer: bool) -> None:
    """Model (and, resuming mid-stage, optimizer) state from a checkpoint."""
    if with_optimizer and model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings():
        # A fresh stage has a new optimizer whose variables the file's don't match: skip them.
        warnings.simplefilter("ignore")
        if with_optimizer:
            model.load_weights(path)
        else:
            optimizer, model.optimizer = model.optimizer, None
            try:
                model.load_weights(path)
            finally:
                model.optimizer = optimizer


def _current_lr(optimizer) -> float:
    try:
        return float(optimizer.learning_rate)
    except (TypeError, ValueError, AttributeError):
        return math.nan


def _truncate_logs(logs: Path, last_epoch: int) -> None:
    """Drop TensorBoard events of epochs that ran after the checkpoint (steps >= ``last_epoch``):
    they run again, and TensorBoard's reader would show both values (it purges only after a
    session-start event, which tf.summary does not write). A record cut short by a kill goes
    too. Files that need no change are left alone."""
    if not logs.is_dir():
        return
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    for path in sorted(logs.rglob("events.out.tfevents.*")):
        records, cut = [], False
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                records.append(record.numpy())
        except tf.errors.DataLossError:
            cut = True  # the last record is incomplete
        keep = [r for r in records if not _after(event_pb2.Event.FromString(r), last_epoch)]
        if len(keep) == len(records) and not cut:
            continue
        with io.atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in keep:
                writer.write(record)


def _after(event, last_epoch: int) -> bool:
    """An epoch summary (or image) of an epoch index >= last_epoch."""
    return event.HasField("summary") and event.step >= last_epoch


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
