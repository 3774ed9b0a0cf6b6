"""Training under tf.distribute and mixed precision, on CPU: MirroredStrategy over two logical
CPU devices with mixed_bfloat16, and two MultiWorkerMirroredStrategy workers on 127.0.0.1.

Each run is a fresh process: logical devices, the multi-worker strategy and the global dtype
policy can only be set before TensorFlow starts (and must not leak into other tests).
"""

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from zoo import distribute
from zoo.errors import ZooError
from zoo.runs import Run

EPOCHS = 4
# --min-steps 1: an epoch is one pass, so each split keeps its uneven last batch (the recipe's
# floor of steps would repeat the images within an epoch).
TRAIN = ["--weights", "none", "--image-size", "32", "--no-augment", "--batch-size", "16",
         "--epochs", str(EPOCHS), "--patience", "0", "--min-steps", "1"]
RUN_FILES = {"config.json", "labels.json", "splits.json", "model.keras", "history.csv",
             "metrics.json", "curves.png", "confusion.png", "checkpoints"}


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from zoo.data.digits import write_digits

    path = tmp_path_factory.mktemp("distribute") / "digits"
    write_digits(path, limit=30)  # 300 images: 240 train, 60 val
    return path


@pytest.fixture(scope="session")
def uneven_digits(tmp_path_factory):
    """225 training and 33 validation images in train/ and val/ folders: at 2 workers x 16 per
    replica, each split ends in a batch of one image, which used to leave a worker an empty
    batch (BatchNormalization failed, the chief aborted the collective)."""
    import shutil

    from zoo.data.digits import write_digits

    root = tmp_path_factory.mktemp("uneven")
    write_digits(root / "all", limit=26)
    files = sorted((root / "all").rglob("*.png"))
    val = set(files[::7][:33])
    train = [f for f in files if f not in val][:225]
    for split, chosen in (("val", sorted(val)), ("train", train)):
        for path in chosen:
            (root / "digits" / split / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, root / "digits" / split / path.parent.name / path.name)
    assert (len(train), len(val)) == (225, 33) and 225 % 32 == 33 % 32 == 1
    return root / "digits"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def _zoo(*args, env=None, code="from zoo_cli.main import main; main()"):
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env or _env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=240):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def _history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_mirrored_bfloat16_over_two_logical_cpus_trains_and_exports(digits, tmp_path):
    """MirroredStrategy over two logical CPUs with mixed_bfloat16: 2 replicas, a model that learns
    with a float32 output, and a run that exports."""
    import zoo

    # Logical devices must be configured before TensorFlow initialises: a fresh process.
    code = textwrap.dedent("""
        import json, sys
        import keras, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from zoo.tasks.image_classification import ImageClassificationTask, backbone
        task = ImageClassificationTask(backbone="plain_cnn", data=sys.argv[1], out=sys.argv[2],
                                       strategy="mirrored", mixed_precision="on",
                                       **json.loads(sys.argv[3]))
        built = []
        build_model = task.build_model
        task.build_model = lambda data: built.append(build_model(data)) or built[-1]
        from zoo import engine
        engine.train(task)
        print(json.dumps({"output": built[0].output.dtype,
                          "compute": backbone(built[0]).layers[-1].compute_dtype,
                          "replicas": task.strategy.num_replicas_in_sync}))
    """)
    options = {"weights": "none", "image_size": 32, "no_augment": True, "batch_size": 16,
               "epochs": EPOCHS, "patience": 0}
    run = tmp_path / "run"
    output = _finish(_zoo(str(digits), str(run), json.dumps(options), code=code))
    trained = json.loads(output.strip().splitlines()[-1])
    assert trained == {"output": "float32", "compute": "bfloat16", "replicas": 2}
    assert "MirroredStrategy, 2 replicas; global batch 32 (16 per replica)" in output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["replicas"] == 2 and metrics["training"]["global_batch_size"] == 32
    assert float(_history(run)[-1]["accuracy"]) > 0.6  # chance is 0.1
    assert metrics["accuracy"] > 0.3
    # The saved model is float32 (TFLite has no bfloat16 kernels) and exports, agreeing with Keras.
    assert Run(run).load_model().get_layer("head").dtype_policy.name == "float32"
    report = zoo.export(run)
    assert report["format"] == "tflite" and report["passed"] and report["agreement"] >= 0.99


def test_pretraining_under_mirrored_bfloat16_learns_and_keeps_a_float32_encoder(digits, tmp_path):
    """`zoo pretrain`'s own train step under MirroredStrategy (two logical CPUs) and
    mixed_bfloat16: each replica's loss is its share, the label-free signal still learns, and the
    saved encoder is float32."""
    code = textwrap.dedent("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from zoo_cli.main import main
        main()
    """)
    run = tmp_path / "ssl"
    output = _finish(_zoo("pretrain", "plain_cnn", "--data", str(digits), "--out", str(run),
                          "--strategy", "mirrored", "--mixed-precision", "on", "--image-size",
                          "32", "--batch-size", "32", "--epochs", "3", code=code))
    assert "MirroredStrategy, 2 replicas; global batch 64 (32 per replica)" in output
    assert "chance pair accuracy 0.0079" in output  # 1 in 2 x 64 - 1: the global batch
    history = _history(run)
    assert [row["epoch"] for row in history] == ["1", "2", "3"]
    # 30 held-out images (one batch): chance is 1 in 59
    assert float(history[-1]["val_pair_accuracy"]) > 5 / 59
    assert float(history[-1]["val_loss"]) < float(history[0]["val_loss"])
    encoder = Run(run).load_model(compile=False)
    assert {layer.dtype_policy.name for layer in encoder.layers} == {"float32"}


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_workers_train_together_on_uneven_splits_and_only_the_chief_writes(uneven_digits,
                                                                                tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    run = tmp_path / "run"
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = _env(TF_CONFIG=json.dumps(tf_config), TMPDIR=str(tmp_path / f"tmp{index}"))
        (tmp_path / f"tmp{index}").mkdir()
        processes.append(_zoo("finetune", "plain_cnn", "--data", str(uneven_digits),
                              "--out", str(run),
                              "--strategy", "multi_worker", *TRAIN, env=env))
    try:
        chief, other = (_finish(p) for p in processes)
    finally:
        for p in processes:
            p.kill()
    assert "2 replicas on 2 workers; global batch 32 (16 per replica)" in chief
    assert "Worker 1 of 2 done; the chief writes the run" in other
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    history = _history(run)
    assert len(history) == EPOCHS and float(history[-1]["accuracy"]) > 0.5
    assert "val_accuracy" in history[-1]
    # The other worker trained in a private directory, removed when it exited.
    assert not any((tmp_path / "tmp1").iterdir())
    assert json.loads((run / "metrics.json").read_text())["training"]["replicas"] == 2


def test_a_killed_two_worker_run_resumes_at_the_same_epoch(uneven_digits, tmp_path):
    import signal
    import time

    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    run = tmp_path / "run"

    def start(*extra):
        processes = []
        for index in range(2):
            tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            env = _env(TF_CONFIG=json.dumps(tf_config), TMPDIR=str(tmp_path / f"tmp{index}"))
            (tmp_path / f"tmp{index}").mkdir(exist_ok=True)
            processes.append(_zoo("finetune", "plain_cnn", "--data", str(uneven_digits),
                                  "--out", str(run), "--strategy", "multi_worker", *TRAIN, *extra,
                                  env=env))
        return processes

    first = start()
    state = run / "checkpoints" / "state.json"
    deadline = time.monotonic() + 240
    while not (state.is_file() and json.loads(state.read_text())["global_epoch"] >= 1):
        assert time.monotonic() < deadline and all(p.poll() is None for p in first)
        time.sleep(0.05)
    for process in first:  # a preemption: both go at once, wherever they are
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_after = json.loads(state.read_text())["global_epoch"]
    assert killed_after < EPOCHS

    resumed = start("--resume")
    try:
        outputs = [_finish(p) for p in resumed]
    finally:
        for p in resumed:
            p.kill()
    # both restart from the chief's last checkpoint, and finish the run together
    starts = [line for output in outputs for line in output.splitlines() if "Resuming" in line]
    assert len(starts) == 2 and all(f"after epoch {killed_after} " in line for line in starts)
    history = _history(run)
    assert [int(row["epoch"]) for row in history] == list(range(1, EPOCHS + 1))
    assert RUN_FILES <= {p.name for p in run.iterdir()}


def test_tf_config_is_read_and_checked(monkeypatch):
    cluster = {"worker": ["a:1", "b:2"], "chief": ["c:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    assert distribute.worker_count() == 3 and distribute.worker_index() == 2
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "chief", "index": 0}}))
    assert distribute.is_chief()
    monkeypatch.delenv("TF_CONFIG")
    assert distribute.is_chief() and distribute.worker_count() == 1
    for bad, says in [("{not json", "not valid JSON"),
                      ('{"cluster": {}}', "no \"cluster\""),
                      ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}',
                       "host:port"),
                      ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
                       "index 1")]:
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(ZooError, match=says):
            distribute.worker_count()
    with pytest.raises(ZooError, match="--strategy must be one of"):
        distribute.resolve_strategy("horovod")
    assert [distribute.jit_compile(o) for o in ("auto", "on", "off")] == [None, True, False]
