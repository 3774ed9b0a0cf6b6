"""Fixtures shared by the core's tests (tests/) and the first-party plugins' (plugins/*/tests):
interrupting a real training run, and reading its TensorBoard logs back with TensorBoard's own
reader."""

import pytest


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
