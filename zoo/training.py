"""The training loop every task shares: seeds, stages, checkpoints, resume, early stopping.

A task builds and compiles a model and splits its training into :class:`Stage` s (one for most
tasks; two for transfer learning: head only, then the top of the backbone). :func:`fit` runs them
with Keras' own ``model.fit`` and one callback, :class:`RunCheckpoint`, that after every epoch

* appends the epoch to ``history.csv`` (one file across stages),
* saves weights + optimizer state + stage + epoch under ``checkpoints/`` atomically, so
  ``--resume`` after a SIGKILL continues from the last completed epoch,
* keeps the best weights by the validation metric and stops early after ``patience`` epochs
  without improvement; the best weights are restored when training ends.

Every run also writes TensorBoard event files under ``logs/`` (``train/`` and ``validation/``)
through Keras' own ``keras.callbacks.TensorBoard``: one step per epoch, numbered across stages
and across ``--resume`` (step = epoch - 1 of history.csv), so a resumed run appends to the same
curves (epochs logged after the last checkpoint are dropped first, as in history.csv).
:func:`log_image` adds images (a confusion matrix, a GAN's sample grid) to those logs.

``strategy`` is a ``tf.distribute`` strategy (None: the default device). Build and compile the
model inside :func:`strategy_scope` and Keras distributes ``fit`` over it.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
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
from zoo.runs import read_history
from zoo.tasks.base import Stage

#: What a plugin may use (the declared plugin API); the loop itself is driven by Task.train.
__all__ = ["Stage", "make_optimizer", "warmup_cosine", "save_model", "float32_copy",
           "log_image"]

STATE = "state.json"
#: TensorBoard event files of a run: ``logs/train`` and ``logs/validation``.
LOGS = "logs"


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


def warmup_cosine(peak_lr: float, total_steps: int, warmup_steps: int | None = None):
    """Linear warm-up to ``peak_lr`` then cosine decay to 0 (a serializable Keras schedule)."""
    total_steps = max(1, int(total_steps))
    warmup = max(0, min(int(warmup_steps if warmup_steps is not None else total_steps // 10),
                        total_steps - 1))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak_lr, decay_steps=total_steps - warmup,
        warmup_target=peak_lr if warmup else None, warmup_steps=warmup)


def make_optimizer(name: str, learning_rate):
    """A Keras optimizer by name: adam, adamw, sgd (Nesterov momentum 0.9), rmsprop or any other
    ``keras.optimizers`` name."""
    if name.lower() == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    try:
        optimizer_class = type(keras.optimizers.get(name.lower()))
    except ValueError:
        raise ZooError(f"unknown optimizer {name!r}; use adam, adamw, sgd, rmsprop or another "
                       f"keras.optimizers name") from None
    return optimizer_class(learning_rate=learning_rate)


class RunCheckpoint(keras.callbacks.Callback):
    """Per-epoch bookkeeping in the run directory (see the module doc).

    ``state`` is the dict saved as ``checkpoints/state.json``, shared across stages;
    ``epoch_offset`` is the number of epochs completed before this stage's epoch 0.
    """

    def __init__(self, run, state: dict, stage_index: int, stage: Stage, patience: int,
                 epoch_offset: int, clock: Callable[[], float]):
        """``clock()``: training seconds so far, across resumes."""
        super().__init__()
        self.clock = clock
        self.run, self.state = run, state
        self.stage_index, self.stage = stage_index, stage
        self.patience, self.epoch_offset = patience, epoch_offset

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        state = self.state
        if state.get("monitor") is None:
            state["monitor"] = next((m for m in ("val_accuracy", "val_loss", "loss") if m in logs),
                                    None)
        monitor = state["monitor"]
        global_epoch = self.epoch_offset + epoch + 1
        row = {"epoch": global_epoch, "stage": self.stage.name,
               "lr": _current_lr(self.model.optimizer), **logs}
        _append_history(self.run.path / "history.csv", row)

        ckpt_dir = self.run.checkpoint_dir
        value = logs.get(monitor)
        improved = value is not None and (
            state.get("best") is None or (value > state["best"] if monitor.endswith("accuracy")
                                          else value < state["best"]))
        if improved:
            state.update(best=float(value), best_epoch=global_epoch, wait=0)
            _save_weights(self.model, ckpt_dir / "best.weights.h5")
        else:
            state["wait"] = state.get("wait", 0) + 1
        if self.patience and state["wait"] >= self.patience and monitor != "loss":
            self.model.stop_training = True
        finished = epoch + 1 >= self.stage.epochs
        stage_over = finished or self.model.stop_training
        # Resume point: the next epoch to run, as (stage index, epoch within stage).
        state["seconds"] = round(self.clock(), 1)
        state.update(stage=self.stage_index + 1 if stage_over else self.stage_index,
                     epoch=0 if stage_over else epoch + 1, global_epoch=global_epoch,
                     stopped_early=bool(self.model.stop_training and not finished))
        last = f"last-{global_epoch}.weights.h5"
        _save_weights(self.model, ckpt_dir / last)
        state["weights"] = last
        io.write_json(ckpt_dir / STATE, state)  # the commit point: weights first, then state
        for old in ckpt_dir.glob("last-*.weights.h5"):
            if old.name != last:
                old.unlink(missing_ok=True)


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


def log_image(run, tag: str, image, step: int, subdir: str = "validation") -> None:
    """Write ``image`` into the run's TensorBoard logs (``logs/<subdir>``) at ``step`` (an epoch
    index, as the scalars use). ``image``: a PNG file path, PNG bytes, or an H x W (x C) uint8
    array."""
    import numpy as np
    import tensorflow as tf

    if isinstance(image, (str, Path)):
        image = Path(image).read_bytes()
    if isinstance(image, (bytes, bytearray)):
        pixels = tf.io.decode_png(bytes(image), channels=0)
    else:
        pixels = np.asarray(image)
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    logdir = str(Path(run.path if hasattr(run, "path") else run) / LOGS / subdir)
    writer = tf.summary.create_file_writer(logdir)  # a new events file; closed right after
    try:
        with writer.as_default():
            tf.summary.image(tag, tf.convert_to_tensor(pixels)[None], step=int(step))
    finally:
        writer.close()


def fit(model, data, run, stages: list[Stage], *, callbacks=(), patience: int = 5,
        resume: bool = False, log: Callable[[str], None] = print, strategy=None,
        verbose: int | None = None, jit_compile: bool | None = None) -> dict:
    """Train ``model`` on ``data.train`` / ``data.val`` through ``stages`` into ``run``.

    ``callbacks`` (the task's, then plugins') run before the run's own bookkeeping each epoch,
    so what they add to the epoch's logs reaches history.csv.

    With ``resume`` it continues from ``checkpoints/state.json``. Ends with the best weights
    (by validation accuracy, else validation loss) in ``model`` and returns a summary dict:
    ``best``, ``monitor``, ``best_epoch``, ``epochs``, ``seconds``, ``stopped_early``.
    ``verbose`` is Keras' (default: a live progress bar on a terminal, a line per epoch in logs).
    ``jit_compile`` True/False overrides what each stage's ``compile`` chose (XLA on or off).
    """
    start = time.monotonic()
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    ckpt_dir = run.checkpoint_dir
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state = io.read_json(ckpt_dir / STATE) if resume and (ckpt_dir / STATE).is_file() else {}
    if resume and state:
        log(f"Resuming {run.path} after epoch {state['global_epoch']} "
            f"(stage {stages[min(state['stage'], len(stages) - 1)].name})")
        _truncate_history(run.path / "history.csv", state["global_epoch"])
        _truncate_logs(run.path / LOGS, state["global_epoch"])
    else:  # a new run, or one killed before its first checkpoint: nothing of it is kept
        (run.path / "history.csv").unlink(missing_ok=True)
        shutil.rmtree(run.path / LOGS, ignore_errors=True)
    first_stage, first_epoch = state.get("stage", 0), state.get("epoch", 0)
    before = float(state.get("seconds", 0.0))  # spent by the processes this one resumes

    def clock() -> float:
        return before + time.monotonic() - start

    for index, stage in enumerate(stages):
        if index < first_stage:
            continue
        with strategy_scope(strategy):
            if stage.prepare is not None:
                stage.prepare(model)
            if state.get("weights"):
                _load_weights(model, ckpt_dir / state["weights"],
                              with_optimizer=index == first_stage and first_epoch > 0)
        initial = first_epoch if index == first_stage else 0
        if initial == 0:
            state["wait"] = 0  # patience counts within a stage
        # Epoch numbers in history.csv run on across stages, even after an early stop.
        offset = state.get("global_epoch", 0) - initial
        header = f"Stage {index + 1}/{len(stages)}: {stage.name}"
        log(header + (f" - {stage.description}" if stage.description else "") +
            f" ({stage.epochs} epochs{f', from epoch {initial + 1}' if initial else ''})")
        callback = RunCheckpoint(run, state, index, stage, patience, offset, clock)
        tensorboard = EpochTensorBoard(run.path / LOGS, offset)
        if jit_compile is not None:
            model.jit_compile = jit_compile
        with warnings.catch_warnings():
            # tf.data pipelines shuffle themselves; Keras warns that fit's shuffle is ignored.
            warnings.filterwarnings("ignore", message=".*shuffle=True.*")
            model.fit(data.train, validation_data=data.val, epochs=stage.epochs,
                      initial_epoch=initial,
                      callbacks=[*callbacks, tensorboard, callback],
                      class_weight=data.class_weight, verbose=verbose)

    if (ckpt_dir / "best.weights.h5").is_file():
        _load_weights(model, ckpt_dir / "best.weights.h5", with_optimizer=False)
    seconds = clock()
    summary = {"monitor": state.get("monitor"), "best": state.get("best"),
               "best_epoch": state.get("best_epoch"), "epochs": state.get("global_epoch", 0),
               "stopped_early": state.get("stopped_early", False), "seconds": round(seconds, 1)}
    if summary["best"] is not None:
        log(f"Best {summary['monitor']} {summary['best']:.4f} at epoch {summary['best_epoch']} "
            f"of {summary['epochs']} ({_duration(seconds)}); run: {run.path}")
    return summary


def save_model(model, path: str | Path) -> Path:
    """Save a ``.keras`` model atomically, in float32 (see :func:`float32_copy`)."""
    with io.atomic_path(path, suffix=".keras") as tmp:
        float32_copy(model).save(tmp)
    return Path(path)


def float32_copy(model):
    """``model`` rebuilt with float32 layers and the same weights, if it was built under a
    mixed-precision policy (else ``model`` itself).

    Mixed precision is how a model trains fast; what is saved for evaluation and export is the
    float32 model (TFLite has no bfloat16 kernels, and CPUs run float16 slowly). The weights of
    a mixed-precision model are float32 already, so nothing is lost.
    """
    def mixed(layer):
        return layer.dtype_policy.name.startswith("mixed_")

    if not any(mixed(layer) for layer in model._flatten_layers(include_self=True)):
        return model

    def to_float32(node):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy":
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {key: "float32" if key == "dtype" and value in ("float16", "bfloat16")
                    else to_float32(value) for key, value in node.items()}
        if isinstance(node, list):
            return [to_float32(item) for item in node]
        return node

    config = to_float32(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


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


def _append_history(path: Path, row: dict) -> None:
    """Rewrite history.csv with one more row (atomic; columns grow as stages add metrics)."""
    rows = read_history(path) + [{k: _plain(v) for k, v in row.items()}]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    io.write_text(path, buffer.getvalue())


def _truncate_history(path: Path, last_epoch: int) -> None:
    """Drop rows of epochs that ran after the checkpoint (they will run again)."""
    rows = [r for r in read_history(path) if int(r["epoch"]) <= last_epoch]
    if not rows:
        path.unlink(missing_ok=True)
        return
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    io.write_text(path, buffer.getvalue())


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


def _plain(value):
    if isinstance(value, (int, str)):
        return value
    try:
        return round(float(value), 6)
    except (TypeError, ValueError):
        return value


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
