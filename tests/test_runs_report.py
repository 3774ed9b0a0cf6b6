"""Runs people can look at (issue 14): TensorBoard logs read back with TensorBoard's own reader
(including across an interrupted and resumed run), `zoo runs`, and report.html checked in
headless Chromium with the network off.

One small real run (zoo-cnn's plain_cnn from scratch, 32 px digits, 3 epochs) interrupted after
2 epochs and resumed; every test reads it.
"""

import csv
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.data.digits import write_digits
from zoo.runs import Run, training_lock

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, killed_in_checkpoint, tensorboard):
    """(run path, epoch_loss steps logged before the kill) of a run killed in epoch 2's
    checkpoint (after TensorBoard logged it) and resumed with --resume."""
    base = tmp_path_factory.mktemp("issue14")
    data = base / "digits"
    write_digits(data, limit=12, test_split=0.25, seed=0)
    out = base / "runs" / "digits-1"
    options = dict(weights="none", image_size=32, epochs=EPOCHS, seed=1, lr=0.003, patience=0,
                   out=str(out), log=lambda line: None)

    killed_in_checkpoint(lambda: zoo.finetune("plain_cnn", data, **options), epoch=1)
    before = tensorboard.scalars(out / "logs" / "train")["epoch_loss"]
    zoo.finetune("plain_cnn", data, resume=True, **options)
    return out, before


def history(run_path) -> list[dict]:
    with open(Path(run_path) / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def check_logs_match_history(tensorboard, run_path, epochs: int,
                             image: str = "confusion_matrix"):
    """Train and validation scalars, one step per epoch (0-based, as Keras numbers them), equal
    to history.csv; the learning rate; the confusion matrix image."""
    logs = Path(run_path) / "logs"
    rows = history(run_path)
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
    train, val = tensorboard.scalars(logs / "train"), tensorboard.scalars(logs / "validation")
    assert [step for step, _ in train["epoch_loss"]] == list(range(epochs))
    assert [step for step, _ in val["epoch_loss"]] == list(range(epochs))
    assert [step for step, _ in train["epoch_learning_rate"]] == list(range(epochs))
    for (step, value), row in zip(train["epoch_loss"], rows):
        assert value == pytest.approx(float(row["loss"]), abs=1e-5), (step, row)
    for (step, value), row in zip(val["epoch_accuracy"], rows):
        assert value == pytest.approx(float(row["val_accuracy"]), abs=1e-5), (step, row)
    if image:
        assert image in tensorboard.image_tags(logs / "validation")


def test_tensorboard_logs_continue_after_resume(resumed, tensorboard):
    out, before = resumed
    # what the interrupted process flushed: both epochs it ran, though only the first was
    # checkpointed; the resume runs the second again and its first values must not stay
    assert [step for step, _ in before] == [0, 1]
    check_logs_match_history(tensorboard, out, EPOCHS)
    # the resumed process appended its own event file; the checkpointed epoch stayed as it was
    assert len(list((out / "logs" / "train").glob("events.out.tfevents.*"))) == 2
    loss = tensorboard.scalars(out / "logs" / "train")["epoch_loss"]
    assert loss[0] == before[0] and loss[1][0] == 1 and len(loss) == EPOCHS


def test_zoo_runs_lists_the_run_with_its_figures(resumed, tmp_path):
    out, _ = resumed
    root = out.parent
    # a broken run and one still training sit beside it; neither gives a traceback
    (root / "broken-1").mkdir(exist_ok=True)
    (root / "broken-1" / "config.json").write_text("{not json")
    (root / "busy-1").mkdir(exist_ok=True)
    busy = Run(root / "busy-1")
    try:
        with training_lock(busy):  # this process is training busy-1 meanwhile
            with pytest.raises(zoo.ZooError, match="is being trained by pid"):
                with training_lock(busy):  # a second trainer of the same run is refused
                    pass
            rows = {row["name"]: row for row in zoo.list_runs(root)}
            run = rows["digits-1"]
            metrics = json.loads((out / "metrics.json").read_text())
            assert run["status"] == "done" and run["task"] == "image_classification"
            assert run["backbone"] == "plain_cnn" and run["epochs"] == EPOCHS
            assert run["monitor"] == "val_data_loss"
            assert run["best"] == metrics["training"]["best"]
            assert run["heldout"]["accuracy"] == metrics["accuracy"]
            assert run["seconds"] == metrics["training"]["seconds"]
            assert rows["broken-1"]["status"] == "broken" and "not valid JSON" in \
                rows["broken-1"]["problem"]
            assert rows["busy-1"]["status"] == "training"

            from zoo_cli.main import cli

            result = CliRunner().invoke(cli, ["runs", str(root)], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            line = next(l for l in result.output.splitlines() if l.startswith("digits-1"))
            assert "plain_cnn" in line and f"val data_loss {run['best']:.4f}" in line
            assert "broken" in result.output and "training" in result.output
            as_json = CliRunner().invoke(cli, ["runs", str(root), "--json"])
            assert {r["name"] for r in json.loads(as_json.output)} >= {"digits-1", "broken-1"}
            missing = CliRunner().invoke(cli, ["runs", str(tmp_path / "nope")])
            assert missing.exit_code == 1 and missing.output.count("\n") == 1
        # a lock left by a killed trainer whose pid a later process got is not "training"
        (root / "busy-1" / "training.lock").write_text(json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "process_started": "old boot:1"}))
        assert {r["name"]: r for r in zoo.list_runs(root)}["busy-1"]["status"] != "training"
    finally:
        shutil.rmtree(root / "broken-1")
        shutil.rmtree(root / "busy-1")


def test_zoo_runs_shows_the_export(resumed, tmp_path):
    from zoo_cli.main import cli

    out, _ = resumed
    exports = out / "exports"
    exports.mkdir(exist_ok=True)
    # an int8 export rejected, then one that passed: export-report.json as zoo export leaves it
    (exports / "model-int8.rejected.tflite").write_bytes(b"x" * 3072)
    (exports / "model-int8.tflite").write_bytes(b"x" * 2048)
    (exports / "export-report.json").write_text(json.dumps({
        "model-int8.rejected.tflite": {
            "format": "tflite", "quantize": "int8", "size_bytes": 3072, "passed": False,
            "failure": "agrees with the Keras model on only 41%", "agreement": 0.41},
        "model-int8.tflite": {
            "format": "tflite", "quantize": "int8", "size_bytes": 2048, "passed": True,
            "agreement": 0.98, "latency_ms": 0.3}}))
    try:
        [row] = [r for r in zoo.list_runs(out.parent) if r["name"] == "digits-1"]
        assert row["exports"] == [
            {"artifact": "model-int8.tflite", "format": "tflite", "quantize": "int8",
             "size_bytes": 2048, "verified": True, "rejected": False, "exists": True},
            {"artifact": "model-int8.rejected.tflite", "format": "tflite", "quantize": "int8",
             "size_bytes": 3072, "verified": False, "rejected": True, "exists": True}]
        table = CliRunner().invoke(cli, ["runs", str(out.parent)], catch_exceptions=False)
        [line] = [line for line in table.output.splitlines() if line.startswith("digits-1")]
        assert line.endswith("tflite/int8 2.0 KB verified, tflite/int8 3.0 KB rejected, kept "
                             "as model-int8.rejected.tflite"), line
        assert "NOT verified" not in table.output
        path = zoo.report(out, log=lambda line: None)
        page = path.read_text()
        assert "model-int8.tflite" in page and "model-int8.rejected.tflite" in page
        assert page.index("model-int8.tflite") < page.index("model-int8.rejected.tflite")
        assert "2.0 KB" in page
    finally:
        shutil.rmtree(exports)


def test_report_errors_are_one_line(tmp_path):
    from zoo_cli.main import cli

    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert result.output.count("\n") == 1 and "not a run directory" in result.output


def worst_held_out(run_path, n: int) -> list[str]:
    """The n held-out images with the lowest true-class probability, computed here."""
    from zoo.data.images import load_images

    run = Run.open(run_path)
    items = run.read("splits.json")["test"]
    model = run.load_model()
    probabilities = np.asarray(model.predict(load_images([p for p, _ in items], (32, 32)),
                                             verbose=0))
    truth = probabilities[np.arange(len(items)), [c for _, c in items]]
    order = sorted(range(len(items)), key=lambda i: (truth[i], i))
    return [items[i][0] for i in order[:n]]


HARNESS = """<script>window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({w: i.naturalWidth, h: i.naturalHeight,
                                                  complete: i.complete}));
  const mistakes = [...document.querySelectorAll("#section-worst-mistakes .example")]
    .map(e => e.dataset.id);
  const out = document.createElement("pre");
  out.id = "zoo-test-result";
  out.textContent = JSON.stringify({images, mistakes});
  document.body.appendChild(out);
});</script>"""

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# the network is off: every host resolves nowhere and every proxy connection is refused
OFFLINE = ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--enable-logging=stderr", "--v=0"]


def chromium(*args, timeout=90):
    return subprocess.run([CHROMIUM, *OFFLINE, *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                             "(apt-get install -y chromium)")
def test_report_in_headless_chromium(resumed, tmp_path):
    out, _ = resumed
    path = out / "report.html"
    assert path.is_file()  # written at the end of training
    path = zoo.report(out, log=lambda line: None)
    page = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    # as it is: no console message at all (a blocked fetch, a broken image, a CSP violation)
    shot = ROOT / "docs" / "images" / "report.png"
    shown = chromium(f"--screenshot={tmp_path / 'report.png'}", "--window-size=1200,2400",
                     "--hide-scrollbars", path.as_uri())
    assert shown.returncode == 0, shown.stderr[-2000:]
    console = [l for l in shown.stderr.splitlines() if ":CONSOLE" in l]
    assert console == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
    if os.environ.get("ZOO_DOCS_SCREENSHOT") == "1":  # refresh the docs' picture on request only
        shot.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "report.png", shot)
    # a copy with a script that reports what the browser decoded, read back from the DOM
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("default-src 'none';",
                                  "default-src 'none'; script-src 'unsafe-inline';")
                     .replace("</body>", HARNESS + "</body>"))
    dumped = chromium("--dump-dom", probe.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert [l for l in dumped.stderr.splitlines() if ":CONSOLE" in l] == []
    found = re.search(r'<pre id="zoo-test-result">(.*?)</pre>', dumped.stdout, re.S)
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(result["images"]) >= 3  # curves, confusion matrix, mistakes
    assert all(image["complete"] and image["w"] > 0 and image["h"] > 0
               for image in result["images"]), result["images"]
    expected = worst_held_out(out, 24)
    assert result["mistakes"] == expected


def test_progress_bars_only_where_someone_watches(monkeypatch, capsys):
    from zoo.progress import progress

    monkeypatch.delenv("ZOO_PROGRESS", raising=False)
    assert list(progress(range(500), "Checking images")) == list(range(500))
    assert capsys.readouterr().err == ""  # not a terminal: no bar
    monkeypatch.setenv("ZOO_PROGRESS", "1")
    assert list(progress(iter(range(300)), "Checking images", total=300)) == list(range(300))
    assert "Checking images" in capsys.readouterr().err  # tqdm's bar, on stderr
    assert list(progress(range(5), "tiny")) == list(range(5))  # too short for a bar
    assert capsys.readouterr().err == ""
