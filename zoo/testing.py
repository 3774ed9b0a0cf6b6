"""Checks for plugin authors (declared plugin API, contract 3): call them from pytest.

:func:`check_layer` is what Keras' own (private) ``run_layer_test`` checks that a plugin's layer
needs: it builds, its output has the expected shape and dtype in eager and symbolic calls, its
``get_config`` round-trips, a model using it saves to ``.keras`` and reloads through
``zoo.load_model`` with the same outputs, a training step changes each of its trainable weights,
and it keeps its dtypes under mixed precision (``mixed_bfloat16``, which runs on a CPU).

:func:`check_task` is keras-zoo's ``run_task_test`` (after keras-hub's): it trains a task for one
epoch, stops, resumes the run for the next (history continues, only the missing epoch trains),
evaluates (the headline figures are numbers), predicts, exports every format and quantization
the task declares through the core's one pipeline (each artifact verified against the Keras
model), and evaluates again on a task rebuilt from the run. It goes through the same engine and
public functions as ``zoo train / evaluate / predict / export``.

Both raise ``AssertionError`` naming the check that failed and what to fix, and return a small
report dict. Importing this module never imports TensorFlow; a check does when it runs.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from zoo.errors import ZooError
from zoo.registry import registry
from zoo.runs import Run, headline_figures
from zoo.tasks import Monitor, Task, task_class, task_for_run

__all__ = ["check_layer", "check_task"]

#: How close a reloaded model's outputs must be to the original's.
RELOAD_RTOL, RELOAD_ATOL = 1e-5, 1e-6
#: How close two evaluations of one run must be (the same model on the same examples).
EVALUATE_RTOL = 1e-4


# -- layers ----------------------------------------------------------------------------------

def check_layer(layer_class: type, init_kwargs: dict | None = None, input_shape=None, *,
                input_dtype: str = "float32", input_data=None, call_kwargs: dict | None = None,
                expected_output_shape=None, expected_output_dtype: str | None = None,
                expected_num_trainable_weights: int | None = None,
                expected_num_non_trainable_weights: int | None = None,
                expected_num_seed_generators: int | None = None,
                expected_num_losses: int | None = None, supports_masking: bool | None = None,
                run_training_check: bool = True, run_mixed_precision_check: bool = True,
                workdir=None) -> dict:
    """Check a Keras layer class the way keras-zoo uses it; raise AssertionError on a problem.

    The layer is built as ``layer_class(**init_kwargs)`` and called on one input: random values
    of ``input_shape`` (batch axis included) and ``input_dtype``, or ``input_data``, with
    ``call_kwargs``. The argument names follow Keras' ``run_layer_test``: an ``expected_*``
    left None is not checked; an ``expected_output_shape`` entry of None matches any size; a
    layer with several outputs takes a list of shapes. ``expected_output_dtype`` defaults to
    the layer's compute dtype for float outputs. ``run_training_check=False`` skips the training
    step (a layer that is not trained), ``run_mixed_precision_check=False`` the mixed-precision
    call. ``workdir`` is where the ``.keras`` file goes (default: a temporary folder).

    Returns ``{"layer", "output_shape", "output_dtype", "trainable_weights",
    "non_trainable_weights", "seed_generators", "losses", "checks"}``.
    """
    import keras
    import numpy as np

    name = layer_class.__name__
    init_kwargs, call_kwargs = dict(init_kwargs or {}), dict(call_kwargs or {})
    if (input_shape is None) == (input_data is None):
        raise TypeError("check_layer needs input_shape or input_data (one of them)")
    if input_data is None:
        input_data = _random_input(tuple(input_shape), input_dtype)
    inputs = np.asarray(input_data)
    checks = []

    def check(condition: bool, message: str) -> None:
        if not condition:
            raise AssertionError(f"check_layer({name}): {message}")

    if layer_class.__module__.split(".")[0] != "keras":
        registered = keras.saving.get_registered_name(layer_class)
        check(keras.saving.get_registered_object(registered) is layer_class,
              "the class is not registered, so a saved model cannot find it; decorate it with "
              "@keras.saving.register_keras_serializable(package='<your package>')")
        checks.append("registered")

    # Build and call eagerly.
    layer = _construct(layer_class, init_kwargs, check)
    outputs = _call(layer, inputs, call_kwargs, check, "an eager call")
    check(layer.built, "calling the layer did not build it; call super().build(input_shape) "
                       "or let Keras build it")
    flat = keras.tree.flatten(outputs)
    shapes = [tuple(int(d) for d in keras.ops.shape(o)) for o in flat]
    dtypes = [keras.backend.standardize_dtype(o.dtype) for o in flat]
    counts = {"trainable_weights": len(layer.trainable_weights),
              "non_trainable_weights": len(layer.non_trainable_weights),
              "seed_generators": sum(v.name == "seed_generator_state" for v in layer.variables),
              "losses": len(layer.losses)}
    expected_counts = {"trainable_weights": expected_num_trainable_weights,
                       "non_trainable_weights": expected_num_non_trainable_weights,
                       "seed_generators": expected_num_seed_generators,
                       "losses": expected_num_losses}
    for what, expected in expected_counts.items():
        check(expected is None or counts[what] == expected,
              f"expected {expected} {what.replace('_', ' ')} once built, found {counts[what]}"
              + (f" ({', '.join(w.path for w in layer.trainable_weights)})"
                 if what == "trainable_weights" else ""))
    if expected_output_shape is not None:
        wanted = [tuple(expected_output_shape)] if len(flat) == 1 and not isinstance(
            expected_output_shape, list) else [tuple(s) for s in expected_output_shape]
        check(len(wanted) == len(shapes) and all(
            _shape_matches(w, s) for w, s in zip(wanted, shapes)),
            f"expected output shape {_one(wanted)}, got {_one(shapes)} for input shape "
            f"{inputs.shape}")
    for dtype, output in zip(dtypes, flat):
        expected = expected_output_dtype or (layer.compute_dtype if _is_float(dtype) else dtype)
        check(dtype == expected, f"expected output dtype {expected}, got {dtype}")
    if supports_masking is not None:
        check(layer.supports_masking == supports_masking,
              f"supports_masking is {layer.supports_masking}, expected {supports_masking}")
    checks.append("eager call")

    # Symbolic call: what a functional model (and the saved model) sees.
    symbolic_input = keras.Input(shape=inputs.shape[1:], dtype=str(inputs.dtype))
    symbolic_layer = _construct(layer_class, init_kwargs, check)
    symbolic = keras.tree.flatten(_call(symbolic_layer, symbolic_input, call_kwargs, check,
                                        "a symbolic call (keras.Input)"))
    check(len(symbolic) == len(flat), f"a symbolic call gives {len(symbolic)} outputs, an eager "
                                      f"call {len(flat)}")
    for spec, shape, dtype in zip(symbolic, shapes, dtypes):
        check(_shape_matches(tuple(spec.shape), shape),
              f"a symbolic call gives shape {tuple(spec.shape)}, an eager one {shape}; check "
              f"compute_output_shape (or what call does with unknown sizes)")
        check(keras.backend.standardize_dtype(spec.dtype) == dtype,
              f"a symbolic call gives dtype {spec.dtype}, an eager one {dtype}")
    checks.append("symbolic call")

    # get_config / from_config, and Keras' serialization as a saved model writes it.
    serialized = keras.saving.serialize_keras_object(layer)
    try:
        text = json.dumps(serialized, sort_keys=True)
    except TypeError as exc:
        raise AssertionError(f"check_layer({name}): get_config() returns a value that is not "
                             f"JSON ({exc}); return numbers, strings, lists, dicts or Keras "
                             f"objects") from None
    try:
        revived = layer_class.from_config(layer.get_config())
    except Exception as exc:  # noqa: BLE001 - reported as the check that failed
        raise AssertionError(f"check_layer({name}): from_config(get_config()) fails "
                             f"({type(exc).__name__}: {exc}); get_config must return the "
                             f"constructor's arguments") from None
    again = json.loads(json.dumps(keras.saving.serialize_keras_object(revived), sort_keys=True))
    differ = _differences(json.loads(text).get("config", {}), again.get("config", {}))
    check(not differ, f"get_config() does not round-trip: {'; '.join(differ)}; " + (
        "pass **kwargs on to super().__init__" if {d.split(":")[0] for d in differ} & {
            "name", "dtype", "trainable"} else
        "return every constructor argument from get_config (merged with super().get_config())"))
    deserialized = keras.saving.deserialize_keras_object(json.loads(text))
    check(type(deserialized) is layer_class, f"deserializing gives {type(deserialized).__name__}")
    checks.append("config round trip")

    # In a saved .keras model, reloaded with zoo.load_model: same outputs.
    import zoo

    model = keras.Model(symbolic_input, _call(_construct(layer_class, init_kwargs, check),
                                              symbolic_input, call_kwargs, check, "a model"))
    outputs_before = [np.asarray(o) for o in keras.tree.flatten(model(inputs, training=False))]
    with _folder(workdir) as folder:
        path = Path(folder) / f"check_layer_{name}.keras"
        model.save(path)
        try:
            reloaded = zoo.load_model(path)
        except ZooError as exc:
            raise AssertionError(f"check_layer({name}): a model using the layer saves but does "
                                 f"not reload: {exc}") from None
    got = [np.asarray(o) for o in keras.tree.flatten(reloaded(inputs, training=False))]
    for before, after in zip(outputs_before, got):
        check(np.allclose(before, after, rtol=RELOAD_RTOL, atol=RELOAD_ATOL),
              f"the reloaded model's outputs differ by up to "
              f"{float(np.max(np.abs(before - after))):.3g}; save every weight (add_weight in "
              f"build) and every constructor argument (get_config)")
    checks.append("saved and reloaded")

    # A training step reaches every trainable weight.
    trainable = model.trainable_weights
    if run_training_check and trainable and all(_is_float(d) for d in dtypes):
        before = [np.array(w.numpy()) for w in trainable]
        targets = [o + 1.0 for o in outputs_before]  # a loss with a gradient everywhere
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        try:
            model.fit(inputs, targets if len(targets) > 1 else targets[0],
                      batch_size=len(inputs), epochs=1, verbose=0)
        except Exception as exc:  # noqa: BLE001 - reported as the check that failed
            raise AssertionError(f"check_layer({name}): a training step fails "
                                 f"({type(exc).__name__}: {_first_line(exc)})") from None
        unchanged = [w.path for w, old in zip(trainable, before) if np.array_equal(w.numpy(), old)]
        check(not unchanged, f"a training step left trainable weight(s) {', '.join(unchanged)} "
                             f"unchanged: the output does not depend on them (make them "
                             f"non-trainable, or use them in call)")
        checks.append("training step")

    # Mixed precision: compute in bfloat16, keep float32 weights, say so symbolically too.
    if run_mixed_precision_check:
        mixed = _construct(layer_class, {**init_kwargs, "dtype": "mixed_bfloat16"}, check,
                           hint="; accept **kwargs and pass them to super().__init__")
        check(mixed.dtype_policy.name == "mixed_bfloat16",
              f"{name}(dtype='mixed_bfloat16') has policy {mixed.dtype_policy.name}: pass "
              f"**kwargs on to super().__init__")
        eager = keras.tree.flatten(_call(mixed, inputs, call_kwargs, check,
                                         "a mixed_bfloat16 call"))
        spec_input = keras.KerasTensor(inputs.shape, dtype=mixed.compute_dtype if _is_float(
            str(inputs.dtype)) else str(inputs.dtype))
        specs = keras.tree.flatten(mixed.compute_output_spec(spec_input, **call_kwargs))
        for tensor, spec in zip(eager, specs):
            got_dtype = keras.backend.standardize_dtype(tensor.dtype)
            check(got_dtype == keras.backend.standardize_dtype(spec.dtype),
                  f"under mixed_bfloat16 the layer returns {got_dtype} but declares "
                  f"{spec.dtype} symbolically; cast float32 weights to the input's dtype "
                  f"(keras.ops.cast(weight, inputs.dtype)) before combining them")
        wrong = [f"{w.path} ({w.dtype})" for w in mixed.weights
                 if _is_float(keras.backend.standardize_dtype(w.dtype))
                 and keras.backend.standardize_dtype(w.dtype) != "float32"]
        check(not wrong, f"under mixed_bfloat16, weights must stay float32: {', '.join(wrong)}")
        checks.append("mixed precision")

    return {"layer": name, "output_shape": shapes[0] if len(shapes) == 1 else shapes,
            "output_dtype": dtypes[0] if len(dtypes) == 1 else dtypes, **counts,
            "checks": checks}


def _random_input(shape: tuple, dtype: str):
    import numpy as np

    rng = np.random.default_rng(0)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 10, shape).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def _construct(layer_class, kwargs: dict, check, hint: str = ""):
    try:
        return layer_class(**kwargs)
    except Exception as exc:  # noqa: BLE001 - reported as the check that failed
        check(False, f"{layer_class.__name__}(**{kwargs!r}) raised {type(exc).__name__}: "
                     f"{_first_line(exc)}{hint}")


def _call(layer, inputs, call_kwargs: dict, check, what: str):
    try:
        return layer(inputs, **call_kwargs)
    except Exception as exc:  # noqa: BLE001 - reported as the check that failed
        shape = getattr(inputs, "shape", None)
        check(False, f"{what} on an input of shape {tuple(shape) if shape is not None else '?'} "
                     f"raised {type(exc).__name__}: {_first_line(exc)}")


def _shape_matches(expected: tuple, got: tuple) -> bool:
    return len(expected) == len(got) and all(
        e is None or g is None or e == g for e, g in zip(expected, got))


def _is_float(dtype: str) -> bool:
    return "float" in str(dtype)


def _one(items: list):
    return items[0] if len(items) == 1 else items


def _differences(before: dict, after: dict) -> list[str]:
    return [f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


@contextlib.contextmanager
def _folder(workdir):
    """``workdir`` (created if need be), or a temporary folder removed afterwards."""
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        yield Path(workdir)
        return
    with tempfile.TemporaryDirectory(prefix="zoo-check-") as folder:
        yield Path(folder)


# -- tasks -----------------------------------------------------------------------------------

def check_task(task: type | str, data=None, *, model: str | None = None,
               options: dict | None = None, inputs: list | None = None,
               results: int | None = None, exports: dict | None = None, workdir=None,
               log: Callable[[str], None] = print) -> dict:
    """Train, resume, evaluate, predict, export and reload a task; raise AssertionError on a
    problem (the message names the step and what the contract expects).

    ``task`` is a registered model's name (``"tiny_regressor"``: its spec's task trains it) or
    a :class:`zoo.tasks.Task` subclass (``model`` names the model its ``build_model`` builds,
    if it needs one). ``data`` is the task's ``--data``; ``options`` are other task options
    (``epochs`` defaults to 2: one trained, one resumed; keep the rest small). ``inputs`` is a
    list of what ``zoo predict`` takes (files, texts, rows); ``results`` is how many results
    they give (default one per input); without ``inputs`` predict is not checked. ``exports``
    limits the formats (``{"tflite": ("none",)}``; default: all of the task's ``EXPORTS``).
    ``workdir`` is where the run is written (``workdir/run``; default: a temporary folder,
    removed afterwards). ``log`` receives the progress lines.

    The steps: train the first epoch and stop (as a killed run would); ``--resume`` it to the
    end: history.csv continues without a gap and only the missing epochs train; the declared
    ``MONITOR`` figure is in every epoch's logs; metrics.json and report.html are written;
    the run rebuilds the same Task class from config.json; evaluate on a rebuilt task gives
    the headline figures as numbers, the same as training's; predict gives JSON-ready dicts;
    each export passes the pipeline's verification; evaluating again after the exports gives
    the same figures. Returns ``{"run", "epochs", "resumed_epochs", "monitor", "best_epoch",
    "headline", "predictions", "exports", "seconds"}`` (``run`` is gone when ``workdir`` was
    not given).
    """
    import zoo
    from zoo import engine  # imports Keras: only when a check runs

    start = time.monotonic()
    cls, model_name = _task_and_model(task, model)
    title = model_name or cls.__name__
    given = {**(options or {}), **({"data": str(data)} if data is not None else {})}
    given.setdefault("epochs", 2)

    def check(condition: bool, message: str) -> None:
        if not condition:
            raise AssertionError(f"check_task({title}): {message}")

    with _folder(workdir) as folder:
        out = Path(folder) / "run"
        check(not out.exists(), f"{out} exists; give check_task an empty workdir")
        counted = _counting(cls)

        # 1. The first epoch, then an interruption, as a killed run.
        first = counted(model_name, log=log, **given, out=str(out))
        first.stop_after = 1
        try:
            _attempt(check, "training", engine.train, first, log=log)
            interrupted = False
        except _Interrupted:
            interrupted = True
        check(interrupted, "the run finished within one epoch, so resuming was not checked; "
                           "give it at least 2 epochs (options={'epochs': 2})")
        run = Run(out)
        check(run.state_path.is_file(), "no checkpoint after the first epoch")

        # 2. Resume: only the missing epochs train, and history.csv continues.
        resumed = counted(model_name, log=log, **given, out=str(out), resume=True)
        _attempt(check, "resuming", engine.train, resumed, log=log)
        metrics = run.metrics
        summary = metrics.get("training") or {}
        epochs = int(summary.get("epochs") or 0)
        history = run.history.rows()
        check([int(row["epoch"]) for row in history] == list(range(1, epochs + 1)),
              f"history.csv has epochs {[row['epoch'] for row in history]} after resuming, "
              f"expected 1 to {epochs}")
        check(resumed.epochs_begun == epochs - 1,
              f"the resumed run trained {resumed.epochs_begun} epoch(s), expected "
              f"{epochs - 1} (it should start after the checkpointed epoch)")
        monitor = cls.MONITOR
        if isinstance(monitor, Monitor):
            columns = set(history[0])
            for figure in monitor.figures():
                check(figure in columns,
                      f"MONITOR {figure!r} is not in the epoch logs (history.csv has "
                      f"{', '.join(sorted(columns - {'epoch', 'stage', 'lr'}))}); compile that "
                      f"metric, or add it to the logs in a callback")
            check(summary.get("monitor") == monitor.metric and summary.get("best_epoch"),
                  f"training did not pick its best epoch by {monitor.metric} ({summary})")
        check(run.report_path.is_file(), "report.html was not written (see the warning in the "
                                         "log: report_sections failed)")

        # 3. A fresh task from the run, as `zoo evaluate` rebuilds it.
        rebuilt = task_for_run(run, log)
        check(type(rebuilt) is cls,
              f"config.json names task {run.config.get('task')!r}, which is "
              f"{type(rebuilt).__name__}, not {cls.__name__}; set name = "
              f"'{cls.__module__}:{cls.__qualname__}' on the Task class")
        trained_figures = headline_figures(metrics)
        evaluated = _evaluate(zoo, run, check)
        for pattern in cls.HEADLINE:
            check(any(fnmatch.fnmatchcase(key, pattern) for key in evaluated["headline"]),
                  f"HEADLINE {pattern!r} matches no number evaluate returned "
                  f"({', '.join(sorted(k for k, v in evaluated.items() if _number(v)))})")
        _same_figures(check, trained_figures, headline_figures(evaluated),
                      "evaluate on a task rebuilt from the run gives other figures than at the "
                      "end of training; keep state in the run (preprocessor, splits.json), not "
                      "on the task")

        # 4. Predict.
        predictions = None
        if inputs is not None:
            found = _attempt(check, "predict", zoo.predict, run.path, list(inputs), log=log)
            wanted = len(inputs) if results is None else results
            check(len(found) == wanted, f"predict gave {len(found)} results for "
                                        f"{len(inputs)} inputs, expected {wanted}")
            check(all(isinstance(row, dict) for row in found),
                  f"predict's results must be dicts, got {_kinds(found)}")
            _json_ready(check, found, "predict's results")
            predictions = len(found)

        # 5. Every declared export, verified by the pipeline.
        exported = {}
        declared = cls.EXPORTS if exports is None else exports
        for fmt, quantizations in declared.items():
            check(fmt in cls.EXPORTS and set(quantizations) <= set(cls.EXPORTS[fmt]),
                  f"exports={exports!r} asks for more than EXPORTS declares ({cls.EXPORTS})")
            for quantize in quantizations:
                report = _attempt(check, f"export --format {fmt} --quantize {quantize}",
                                  zoo.export, run.path, format=fmt, quantize=quantize,
                                  log=log)
                check(report.get("passed") is True and Path(report["artifact"]).exists(),
                      f"export --format {fmt} --quantize {quantize} did not pass: {report}")
                exported[f"{fmt}/{quantize}"] = report.get("size_bytes")
        if not cls.EXPORTS:
            try:
                zoo.export(run.path, log=log)
                refused = False
            except ZooError:
                refused = True
            check(refused, "the task declares no EXPORTS, yet zoo export did not refuse")

        # 6. Evaluate again on a rebuilt task, after the exports.
        _same_figures(check, headline_figures(evaluated), headline_figures(
            _evaluate(zoo, run, check)), "evaluating again after exporting gives other figures")
        report = {"run": str(out) if workdir is not None else None, "epochs": epochs,
                  "resumed_epochs": resumed.epochs_begun, "monitor": summary.get("monitor"),
                  "best_epoch": summary.get("best_epoch"),
                  "headline": headline_figures(evaluated), "predictions": predictions,
                  "exports": exported, "seconds": round(time.monotonic() - start, 1)}
    return report


def _task_and_model(task, model: str | None) -> tuple[type, str | None]:
    """(Task class, model name) from a registered model's name or a Task subclass."""
    if isinstance(task, str):
        spec = registry().spec("model", task)
        return task_class(spec.task), spec.name
    if not (isinstance(task, type) and issubclass(task, Task)):
        raise TypeError(f"check_task takes a model name or a zoo.tasks.Task subclass, not "
                        f"{task!r}")
    return task, model


class _Interrupted(Exception):
    """Stops the first training of :func:`check_task` after its first epoch."""


def _counting(cls: type) -> type:
    """``cls`` with one more callback, which counts the epochs begun and stops training
    (as a kill would, after the checkpoint) when ``stop_after`` epochs are done. Error
    messages still name ``cls`` and its plugin."""
    import keras

    class EpochCounter(keras.callbacks.Callback):
        def __init__(self, task):
            super().__init__()
            self.task = task

        def on_epoch_begin(self, epoch, logs=None):
            task = self.task
            if task.stop_after is not None and task.epochs_begun >= task.stop_after:
                raise _Interrupted()
            task.epochs_begun += 1

    class Counted(cls):
        stop_after = None
        epochs_begun = 0

        def callbacks(self, run, model, data):
            found = super().callbacks(run, model, data)
            return [*found, EpochCounter(self)] if isinstance(found, list) else found

    Counted.__name__, Counted.__qualname__, Counted.__module__ = \
        cls.__name__, cls.__qualname__, cls.__module__
    return Counted


def _attempt(check, what: str, function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)``; a ZooError (a contract the task broke, or bad data) fails
    the check, naming ``what`` was being done."""
    try:
        return function(*args, **kwargs)
    except ZooError as exc:
        check(False, f"{what} fails: {exc}")


def _evaluate(zoo, run: Run, check) -> dict:
    metrics = _attempt(check, "evaluate", zoo.evaluate, run.path, log=lambda line: None)
    check(bool(metrics.get("headline")), f"evaluate returned no headline figure ({metrics})")
    for key in metrics["headline"]:
        check(_number(metrics.get(key)) and math.isfinite(metrics[key]),
              f"headline figure {key} is {metrics.get(key)!r}, not a finite number")
    _json_ready(check, metrics, "evaluate's metrics")
    return metrics


def _same_figures(check, before: dict, after: dict, message: str) -> None:
    check(set(before) == set(after) and all(
        math.isclose(before[k], after[k], rel_tol=EVALUATE_RTOL, abs_tol=1e-9) for k in before),
        f"{message}: {before} then {after}")


def _json_ready(check, value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        check(False, f"{what} are not JSON-ready ({exc}); return plain numbers, strings, "
                     f"lists and dicts (float(x) for numpy numbers)")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kinds(values: list) -> str:
    return ", ".join(sorted({type(v).__name__ for v in values})) or "nothing"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
