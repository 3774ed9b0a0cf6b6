"""The engine and its epoch loop (zoo.engine, zoo.loop) through a tiny task: stages, history, early stopping,
seeds, and --resume after a SIGKILL."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from zoo import engine
from zoo.errors import ZooError
from zoo.runs import Run

# A tiny task: two blobs in 8 dimensions, a 2-layer MLP. ``slow`` sleeps per batch so a test
# can kill the process mid-run. Written to a file because the SIGKILL test runs it in a child.
TASK_SOURCE = textwrap.dedent('''
    import time

    import numpy as np

    from zoo.tasks import Option, Stage, Task, TaskData


    class BlobTask(Task):
        name = "blob"
        OPTIONS = {"slow": Option(0.0, float, "seconds to sleep per batch"),
                   "stages": Option(1, int, "1 or 2 training stages")}

        def load_data(self):
            import tensorflow as tf

            rng = np.random.default_rng(0)
            x = np.concatenate([rng.normal(-1, 1, (64, 8)), rng.normal(1, 1, (64, 8))])
            y = np.repeat([0, 1], 64).astype("int32")
            order = rng.permutation(128)
            x, y = x[order].astype("float32"), y[order]
            slow = self.options["slow"]

            def batches(xs, ys):
                def gen():
                    for i in range(0, len(xs), 16):
                        time.sleep(slow)
                        yield xs[i:i + 16], ys[i:i + 16]
                batches = tf.data.Dataset.from_generator(gen, output_signature=(
                    tf.TensorSpec((None, 8), tf.float32), tf.TensorSpec((None,), tf.int32)))
                # a generator's length is unknown to Keras; say it, as a real pipeline knows it
                return batches.apply(tf.data.experimental.assert_cardinality(-(-len(xs) // 16)))

            return TaskData(batches(x[:96], y[:96]), batches(x[96:], y[96:]), classes=["a", "b"],
                            info={"path": "blobs"}, splits={"train": [], "val": [], "test": []})

        def build_model(self, data):
            import keras

            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                                      keras.layers.Dense(2, activation="softmax")])
            model.compile(keras.optimizers.Adam(self.options["lr"]),
                          "sparse_categorical_crossentropy", metrics=["accuracy"])
            return model

        def stages(self, model, data):
            if self.options["stages"] == 1:
                return super().stages(model, data)

            def lower_lr(model):
                model.compile(type(model.optimizer)(self.options["lr"] / 10),
                              "sparse_categorical_crossentropy", metrics=["accuracy"])

            return [Stage("first", self.options["epochs"]),
                    Stage("second", self.options["epochs"], lower_lr)]

        def evaluate(self, run, data=None):
            return {"accuracy": float(run.read("checkpoints/state.json")["best"])}
''')


@pytest.fixture(scope="module")
def blob_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blobtask")
    (folder / "blob_task.py").write_text(TASK_SOURCE)
    sys.path.insert(0, str(folder))
    import blob_task

    yield blob_task
    sys.path.remove(str(folder))


def _history(run_path):
    with open(run_path / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _weights(run_path):
    from zoo.saving import load_model

    return [w.copy() for w in load_model(run_path / "model.keras").get_weights()]


def test_options_are_checked_with_did_you_mean(blob_module):
    with pytest.raises(ZooError, match="did you mean --epochs"):
        blob_module.BlobTask(epoch=3)
    with pytest.raises(ZooError, match="--epochs expects"):
        blob_module.BlobTask(epochs="many")
    assert blob_module.BlobTask(epochs="3", resume="yes").options["epochs"] == 3


def test_two_stages_write_one_history_and_a_complete_run(blob_module, tmp_path):
    run = engine.train(blob_module.BlobTask(epochs=3, stages=2, lr=0.05, out=str(tmp_path / "r"),
                                            patience=0), log=lambda line: None)
    rows = _history(run.path)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["stage"] for r in rows] == ["first"] * 3 + ["second"] * 3
    assert float(rows[3]["lr"]) == pytest.approx(0.005)
    for name in ("config.json", "model.keras", "metrics.json", "curves.png", "labels.json"):
        assert (run.path / name).is_file(), name
    config = run.config
    assert config["task"] == "blob" and config["options"]["epochs"] == 3
    assert {"zoo", "keras", "tensorflow", "plugins"} <= set(config["versions"])
    metrics = run.read("metrics.json")
    assert metrics["accuracy"] > 0.8  # the blobs are easy: it must learn
    assert metrics["training"]["epochs"] == 6
    with pytest.raises(ZooError, match="already holds a run"):
        engine.train(blob_module.BlobTask(epochs=1, out=str(tmp_path / "r")),
                     log=lambda line: None)


def test_early_stopping_restores_the_best_weights(blob_module, tmp_path):
    # A huge learning rate makes validation get worse after the first epochs.
    lines = []
    run = engine.train(blob_module.BlobTask(epochs=30, lr=3.0, patience=2,
                                            out=str(tmp_path / "r")), log=lines.append)
    state = run.read("checkpoints/state.json")
    assert state["global_epoch"] < 30 and state["stopped_early"]
    assert any(line.startswith("Best val_accuracy") for line in lines)
    model = run.load_model()
    best = blob_module.BlobTask().build_model(None)
    best.optimizer.build(best.trainable_variables)  # the checkpoint holds optimizer state too
    best.load_weights(run.path / "checkpoints" / "best.weights.h5")
    for a, b in zip(model.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_same_seed_same_weights_on_cpu(blob_module, tmp_path):
    def weights(seed, name):
        run = engine.train(blob_module.BlobTask(epochs=2, seed=seed, out=str(tmp_path / name)),
                           log=lambda line: None)
        return _weights(run.path)

    first, again, other = weights(7, "a"), weights(7, "b"), weights(8, "c")
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))


def test_resume_after_sigkill_continues_from_the_last_epoch(blob_module, tmp_path):
    out = tmp_path / "killed"
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(os.path.dirname(blob_module.__file__))!r})
        from blob_task import BlobTask
        from zoo import engine
        engine.train(BlobTask(epochs=4, stages=2, slow=0.05, out={str(out)!r},
                              resume=len(sys.argv) > 1, patience=0))
    ''')
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    state_file = out / "checkpoints" / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if state_file.is_file() and json.loads(state_file.read_text())["global_epoch"] >= 2:
            break
        assert child.poll() is None, "the training child exited before epoch 2"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_at = json.loads(state_file.read_text())["global_epoch"]
    assert 2 <= killed_at < 8
    assert not (out / "model.keras").exists()

    resumed = subprocess.run([sys.executable, "-c", script, "resume"], capture_output=True,
                             text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Resuming {out} after epoch {killed_at}" in resumed.stdout
    rows = _history(out)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))  # no gap, no repeat
    assert [r["stage"] for r in rows] == ["first"] * 4 + ["second"] * 4
    assert Run.open(out).read("metrics.json")["training"]["epochs"] == 8


def test_zoo_train_is_the_api_function_beside_the_loop_module():
    import zoo
    import zoo.loop as loop
    import zoo.training as training

    assert hasattr(loop, "fit") and hasattr(training, "Stage")
    with pytest.raises(ZooError, match="did you mean 'lstm_classifier'|unknown model"):
        zoo.train("lstm_clasifier")
