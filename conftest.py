"""Fixtures shared by the core's tests (tests/) and the first-party plugins' (plugins/*/tests):
interrupting a real training run (in process, or a CLI run killed with SIGKILL), reading its
TensorBoard logs back with TensorBoard's own reader, classifying with an exported file in
MediaPipe Tasks, and a port where nothing listens (offline)."""

import os

import pytest


def pytest_configure(config):
    # A developer's own MLflow server must not receive the suite's runs (zoo-mlflow logs every
    # run when this is set); its tests start their own server.
    os.environ.pop("MLFLOW_TRACKING_URI", None)


class Interrupted(Exception):
    """Stands in for a kill during an epoch's checkpoint, after TensorBoard logged the epoch."""


@pytest.fixture(scope="session")
def killed_in_checkpoint():
    """``killed_in_checkpoint(train, epoch=1)``: run ``train()`` (a zoo.train / zoo.finetune
    call) and kill it inside epoch ``epoch``'s checkpoint (0-based): everything that epoch logged
    is written, its checkpoint never lands, as when a process is killed there."""
    from zoo.loop import RunCheckpoint

    def run(train, epoch: int = 1):
        commit = RunCheckpoint.on_epoch_end

        def killed_before_commit(self, index, logs=None):
            if index == epoch:
                raise Interrupted
            commit(self, index, logs)

        RunCheckpoint.on_epoch_end = killed_before_commit
        try:
            with pytest.raises(Interrupted):
                train()
        finally:
            RunCheckpoint.on_epoch_end = commit

    return run


def tensorboard_events(folder):
    """TensorBoard's own reader on ``folder``, everything loaded."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "images": 0,
                                                          "scalars": 0})
    events.Reload()
    return events


def tensorboard_scalars(folder) -> dict:
    """tag -> [(step, value)] of every scalar TensorBoard's reader finds in ``folder`` (tf.summary
    v2 stores scalars as tensors; images are string tensors and left out)."""
    from tensorboard.util import tensor_util

    events = tensorboard_events(folder)
    return {tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                  for e in events.Tensors(tag)]
            for tag in events.Tags()["tensors"]
            if all(e.tensor_proto.dtype != 7 for e in events.Tensors(tag))}  # 7: DT_STRING


def tensorboard_image_tags(folder) -> list[str]:
    """Tags of the images (string tensors) TensorBoard's reader finds in ``folder``."""
    events = tensorboard_events(folder)
    return [tag for tag in events.Tags()["tensors"]
            if all(e.tensor_proto.dtype == 7 for e in events.Tensors(tag))]


@pytest.fixture(scope="session")
def tensorboard():
    """``tensorboard.scalars(folder)``, ``.image_tags(folder)`` and ``.events(folder)``, for test
    modules (they cannot import a conftest)."""
    import types

    return types.SimpleNamespace(scalars=tensorboard_scalars, image_tags=tensorboard_image_tags,
                                 events=tensorboard_events)


@pytest.fixture
def closed_port():
    """A 127.0.0.1 port nothing listens on: connecting fails at once, like being offline."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def sigkill_after_checkpoint():
    """``kill(command, out, epoch=1, timeout=240)``: start ``command`` (a ``zoo`` CLI run writing
    run directory ``out``), SIGKILL it once its checkpoint holds ``epoch`` epochs, and return
    the epoch the checkpoint was at when it died (the run is then resumed with --resume)."""
    import json
    import os
    import signal
    import subprocess
    import tempfile
    import time

    def kill(command, out, epoch: int = 1, timeout: float = 240) -> int:
        state = out / "checkpoints" / "state.json"
        deadline = time.monotonic() + timeout
        with tempfile.TemporaryFile("w+") as output:  # a pipe nobody reads could fill and block
            child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            while not (state.is_file() and
                       json.loads(state.read_text())["global_epoch"] >= epoch):
                if child.poll() is not None or time.monotonic() > deadline:
                    child.kill()
                    child.wait()
                    output.seek(0)
                    pytest.fail(f"no checkpoint at epoch {epoch} before the run ended or "
                                f"{timeout} s passed: {output.read()[-3000:]}")
                time.sleep(0.05)
            child.send_signal(signal.SIGKILL)
            child.wait()
        return json.loads(state.read_text())["global_epoch"]

    return kill


@pytest.fixture(scope="session")
def mediapipe_check():
    """``check(run, report)``: classify ``run``'s held-out images (val split, read from their
    files) with the exported .tflite of ``report`` in the stock ``mediapipe`` package's
    ImageClassifier, as an app would. Asserts that every result names exactly the run's labels
    and that the accuracy is the file's in LiteRT, and for a float file the Keras model's
    (within 1 point). Returns the accuracy."""
    pytest.importorskip("mediapipe")
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    def check(run, report):
        rows = run.read("splits.json")["val"]
        options = vision.ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=report["artifact"]))
        with vision.ImageClassifier.create_from_options(options) as classifier:
            results = [classifier.classify(mp.Image.create_from_file(path)) for path, _ in rows]
        names = [[c.category_name for c in r.classifications[0].categories] for r in results]
        assert all(sorted(found) == sorted(run.labels) for found in names), names[0]
        accuracy = sum(found[0] == run.labels[truth] for found, (_, truth) in zip(names, rows)) \
            / len(rows)
        assert abs(accuracy - report["accuracy"]) <= 0.01, (accuracy, report)
        if report["quantize"] in ("none", "float16"):
            assert abs(accuracy - report["keras_accuracy"]) <= 0.01, (accuracy, report)
        assert report["standard_metadata"]["agreement_with_litert"] >= 0.99, report
        return accuracy

    return check
