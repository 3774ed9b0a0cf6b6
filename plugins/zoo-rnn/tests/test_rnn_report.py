"""Issue 14 for a text run: TensorBoard scalars read back with TensorBoard's own reader after an
interrupted and resumed ``zoo train lstm_classifier``, and report.html listing the held-out
texts with the lowest true-class probability."""

import csv
import html
import re

import numpy as np
import pytest

import zoo
from zoo.runs import Run
from zoo_rnn import datasets

EPOCHS = 3


@pytest.fixture(scope="module")
def resumed_text_run(tmp_path_factory, killed_in_checkpoint, tensorboard):
    """(run path, epoch_loss steps logged before the kill) of a run killed in epoch 2's
    checkpoint (after TensorBoard logged it) and resumed with --resume."""
    base = tmp_path_factory.mktemp("text14")
    data = datasets.write_fortunes_csv(base / "fortunes.csv")["path"]
    out = base / "lstm"
    options = dict(data=data, seed=1, epochs=EPOCHS, patience=0, units=16, embedding_dim=16,
                   out=str(out), log=lambda line: None)
    killed_in_checkpoint(lambda: zoo.train("lstm_classifier", **options), epoch=1)
    before = tensorboard.scalars(out / "logs" / "train")["epoch_loss"]
    zoo.train("lstm_classifier", resume=True, **options)
    return out, before


def test_text_run_tensorboard_logs_continue_after_resume(resumed_text_run, tensorboard):
    out, before = resumed_text_run
    assert [step for step, _ in before] == [0, 1]
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    train = tensorboard.scalars(out / "logs" / "train")
    val = tensorboard.scalars(out / "logs" / "validation")
    for scalars, key in ((train, "loss"), (val, "val_loss"), (val, "val_accuracy")):
        tag = "epoch_" + key.replace("val_", "")
        assert [step for step, _ in scalars[tag]] == [0, 1, 2]
        assert [value for _, value in scalars[tag]] == pytest.approx(
            [float(r[key]) for r in rows], abs=1e-5)
    assert [step for step, _ in train["epoch_learning_rate"]] == [0, 1, 2]
    assert dict(train["epoch_loss"])[0] == before[0][1]
    assert "confusion_matrix" in tensorboard.image_tags(out / "logs" / "validation")


def test_text_report_lists_the_worst_texts(resumed_text_run):
    import tensorflow as tf

    out, _ = resumed_text_run
    path = zoo.report(out, log=lambda line: None)
    assert path == out / "report.html"
    page = path.read_text()
    section = page[page.index('id="section-worst-mistakes"'):]
    section = section[:section.index("</section>")]
    listed = [html.unescape(m) for m in re.findall(r'<tr class="example" data-id="([^"]*)"',
                                                   section)]
    run = Run.open(out)
    rows = run.read("splits.json")["test"]
    probabilities = np.asarray(run.load_model().predict(tf.constant([t for t, _ in rows]),
                                                        verbose=0))
    truth = probabilities[np.arange(len(rows)), [c for _, c in rows]]
    order = sorted(range(len(rows)), key=lambda i: (truth[i], i))
    assert listed == [rows[i][0] for i in order[:len(listed)]] and len(listed) == 20
    assert "Per class" in page and "data:image/png;base64," in page  # curves, confusion
