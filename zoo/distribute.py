"""Which ``tf.distribute`` strategy a run trains under, and which process writes the run directory.

``--strategy``:

* ``auto``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names a cluster of more than one
  worker, ``MirroredStrategy`` when more than one GPU is visible, else none (the default device);
* ``none``: the default device;
* ``mirrored``: ``MirroredStrategy`` over every visible GPU, or over the logical CPU devices when
  there is no GPU and the process configured several (how the tests run it);
* ``multi_worker``: ``MultiWorkerMirroredStrategy`` over the cluster ``TF_CONFIG`` names.

``--batch-size`` is per replica: a training step takes ``batch_size * replicas`` examples (the
global batch). Every worker of a cluster runs the same job; only the chief (task ``chief``, else
worker 0) writes the run directory, the others write their copy to a worker directory that is
removed when the process exits after training (it is kept after a crash, so ``--resume`` works).

``MultiWorkerMirroredStrategy`` must exist before TensorFlow runs any operation, so
:func:`resolve_strategy` is called first thing in :func:`zoo.engine.train`. Reading
``TF_CONFIG`` needs no TensorFlow; the strategies import it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from zoo.errors import ZooError
from zoo.runs import EXPORTS, MODEL, Run

STRATEGIES = ("auto", "none", "mirrored", "multi_worker")
JIT_COMPILE = ("auto", "on", "off")
#: Cluster roles whose members train (``ps`` and ``evaluator`` tasks don't, under MWMS).
TRAINING_ROLES = ("chief", "worker")

_multi_worker = None  # MultiWorkerMirroredStrategy can be created only once per process


def tf_config() -> dict | None:
    """``TF_CONFIG`` parsed and checked: ``{"cluster": {role: ["host:port", ...]}, "task":
    {"type": role, "index": i}}``, or None when it is unset or empty.

    A malformed value raises ZooError saying what is wrong.
    """
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ZooError(f"TF_CONFIG is not valid JSON ({exc.msg} at character {exc.pos}); "
                       f"set it like {example}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not any(cluster.get(r) for r in TRAINING_ROLES):
        raise ZooError(f"TF_CONFIG has no \"cluster\" with a \"worker\" (or \"chief\") list of "
                       f"host:port addresses; set it like {example}")
    for role, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise ZooError(f"TF_CONFIG cluster[{role!r}] must be a list of \"host:port\" "
                           f"strings, got {addresses!r}")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ZooError(f"TF_CONFIG needs \"task\": {{\"type\": one of {sorted(cluster)}, "
                       f"\"index\": N}} saying which member this process is, got {task!r}")
    index = task.get("index")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise ZooError(f"TF_CONFIG task index {index!r} is not a position in cluster"
                       f"[{task['type']!r}] ({len(cluster[task['type']])} addresses)")
    return config


def worker_count() -> int:
    """How many processes train together: the chief and workers ``TF_CONFIG`` names (else 1)."""
    config = tf_config()
    if config is None:
        return 1
    return sum(len(config["cluster"].get(role, [])) for role in TRAINING_ROLES)


def worker_index() -> int:
    """This process's position among the training processes (the chief, if any, is 0)."""
    config = tf_config()
    if config is None:
        return 0
    task, cluster = config["task"], config["cluster"]
    if task["type"] == "chief":
        return 0
    return len(cluster.get("chief", [])) + task["index"]


def is_chief() -> bool:
    """Whether this process writes the run: no cluster, the ``chief`` task, or worker 0 of a
    cluster without a chief (TensorFlow's own rule)."""
    return worker_index() == 0


def resolve_strategy(name: str = "auto"):
    """The ``tf.distribute`` strategy for ``--strategy NAME`` (see the module doc); None for the
    default device. Call it before any other TensorFlow operation."""
    if name not in STRATEGIES:
        raise ZooError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "none":
        return None
    if name == "multi_worker" or (name == "auto" and worker_count() > 1):
        return _multi_worker_strategy()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else None
    if gpus:
        return tf.distribute.MirroredStrategy()
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=cpus)


def _multi_worker_strategy():
    global _multi_worker
    if _multi_worker is None:
        if tf_config() is None:
            raise ZooError("--strategy multi_worker needs TF_CONFIG naming the cluster and this "
                           "worker; see docs/scaling.md")
        import tensorflow as tf

        try:
            _multi_worker = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            raise ZooError(f"cannot start multi-worker training ({exc}); the strategy must be "
                           f"created before TensorFlow runs anything: start a fresh process") \
                from None
    return _multi_worker


def is_multi_worker(strategy) -> bool:
    """Whether ``strategy`` is this process's MultiWorkerMirroredStrategy."""
    return strategy is not None and strategy is _multi_worker


def replicas(strategy) -> int:
    """How many model replicas train in sync (1 without a strategy)."""
    return strategy.num_replicas_in_sync if strategy is not None else 1


def describe(strategy, batch_size: int) -> str:
    """One line for the log: the strategy, its replicas and the global batch."""
    if strategy is None:
        return f"Strategy: default device; batch {batch_size}"
    count = replicas(strategy)
    workers = f" on {worker_count()} workers" if is_multi_worker(strategy) else ""
    return (f"Strategy: {type(strategy).__name__}, {count} replica{'s' * (count > 1)}{workers}; "
            f"global batch {batch_size * count} ({batch_size} per replica)")


def shard_by_data(dataset):
    """Tell tf.data to shard ``dataset`` across workers element by element (every worker reads
    the same file list; sharding by file would need one file per element source)."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def jit_compile(option: str):
    """``--jit-compile``: ``auto`` (None: Keras decides, XLA on a single GPU), ``on`` or ``off``."""
    if option not in JIT_COMPILE:
        raise ZooError(f"--jit-compile must be one of {', '.join(JIT_COMPILE)}, got {option!r}")
    return {"auto": None, "on": True, "off": False}[option]


def create_run(strategy, out: str | Path | None, name: str, resume: bool):
    """The :class:`zoo.runs.Run` this process trains into: the run directory on the chief (and
    without a cluster); on another worker, its private :func:`worker_dir`."""
    if not is_multi_worker(strategy) or is_chief():
        return Run.create(out, name, resume=resume)
    path = worker_dir(out, name)
    chief = Path(out) if out else None
    if not resume:
        shutil.rmtree(path, ignore_errors=True)  # a copy left by a crashed run that isn't resumed
    elif chief is not None and Run(chief).state_path.is_file():
        # Killed workers do not stop at the same instant: take the chief's last checkpoint (when
        # this worker can read it) so that every worker restarts at the same epoch.
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(chief, path, ignore=shutil.ignore_patterns(EXPORTS, MODEL))
    return Run.create(path, name, resume=resume)


def finish_run(run, log) -> None:
    """After a finished run: a non-chief worker's directory goes when the process exits."""
    if _multi_worker is not None and not is_chief():
        atexit.register(shutil.rmtree, run.path, ignore_errors=True)
        log(f"Worker {worker_index()} of {worker_count()} done; the chief writes the run "
            f"({run.path} is removed at exit)")


def distribute_data(data, strategy, global_batch: int):
    """``data`` (a TaskData) ready for ``strategy``: unchanged on one machine; under a
    multi-worker strategy, its train and val datasets in full batches of ``global_batch`` and
    sharded by element across workers.

    Full batches because real data sets are never a multiple of workers x batch: a partial last
    batch is split across workers, and one of 1 example leaves a worker an empty batch, on which
    BatchNormalization fails and the chief aborts the collective. So each epoch leaves out fewer
    than ``global_batch`` examples (different ones each epoch, the training data being shuffled).

    Batches reach GPUs through Keras' distributed iterator, which prefetches them onto each
    replica's device under the mirrored strategies. ``tf.data.experimental.prefetch_to_device``
    is not added for a single GPU: it hides the dataset's length from Keras (a warning every
    epoch) and could not be verified without a GPU.
    """
    import dataclasses

    if not is_multi_worker(strategy):
        return data
    import tensorflow as tf

    val = data.val
    if isinstance(val, tf.data.Dataset):
        # counted (one pass; it fills the cache): too few examples would leave no val batch
        examples = int(val.unbatch().reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        if examples < global_batch:
            raise ZooError(f"the validation split has {examples} examples, fewer than one "
                           f"global batch ({global_batch} across {worker_count()} workers); "
                           f"lower --batch-size or hold out more data")
    return dataclasses.replace(data, train=full_batches(data.train, global_batch),
                               val=full_batches(val, global_batch))


def full_batches(dataset, global_batch: int):
    """``dataset`` re-batched into full batches of ``global_batch``, sharded by element."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    return shard_by_data(dataset.unbatch().batch(global_batch, drop_remainder=True))


def prepare_model(model, strategy) -> None:
    """Work around two Keras 3 bugs under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    * Before training, Keras builds the optimizer and metrics from one batch that it averages
      across workers with ``strategy.reduce``, which fails for an ``(x, y)`` batch ("unsupported
      type PerReplica"). Only the shapes matter for that build: build from this worker's own
      first batch instead.
    * After each step it averages the step's logs across workers along axis 0, which scalars
      lack ("Invalid reduction dimension 0"): give each scalar log a leading axis of 1.

    Other strategies keep Keras' behaviour.
    """
    if not is_multi_worker(strategy):
        return
    import tensorflow as tf
    from keras import tree

    def local(value):
        return value.values[0] if isinstance(value, tf.distribute.DistributedValues) else value

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(local, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    def with_replica_axis(step):
        def run(data):
            return tree.map_structure(lambda v: v[None] if len(v.shape) == 0 else v, step(data))

        return run

    model._maybe_symbolic_build = symbolic_build
    model.train_step = with_replica_axis(model.train_step)
    model.test_step = with_replica_axis(model.test_step)


def worker_dir(out: str | Path | None, name: str) -> Path:
    """Where a non-chief worker writes its copy of the run: a private directory under the
    system temp folder, the same one for the same ``--out`` so a restarted worker resumes."""
    key = str(Path(out).expanduser().resolve()) if out else name
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"zoo-worker{worker_index()}-{digest}"
