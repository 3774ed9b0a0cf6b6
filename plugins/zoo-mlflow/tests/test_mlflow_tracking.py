"""zoo-mlflow against a real MLflow tracking server (SQLite backend, artifacts served from a local
folder) started on 127.0.0.1 for this module. What landed is read back through the server's
REST API with urllib, not through MLflow's client.

One small run (zoo-cnn's plain_cnn from scratch, 32 px digits, 3 epochs) is killed in epoch 2's
checkpoint (after the plugin's callback saw that epoch: the moment a naive tracker logs a step
that the resumed run logs again), resumed with ``zoo finetune --resume`` and exported with
``zoo export``; most tests read it. The server boots while the first test trains against a
closed port.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.parse
import urllib.request
from importlib import metadata

import pytest

import zoo
from zoo.data import write_digits
from zoo.runs import Run

EPOCHS = 3
EXPERIMENT = "zoo-mlflow-test"
TINY = ("--weights", "none", "--image-size", "32", "--seed", "1", "--lr", "0.003",
        "--patience", "0")


def free_port() -> int:
    """A 127.0.0.1 port for the server (the root conftest's ``closed_port`` is per test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A running ``mlflow server``; ``uri`` waits until it answers."""

    def __init__(self, process: subprocess.Popen, port: int, log_path):
        self.process, self.log_path = process, log_path
        self.address = f"http://127.0.0.1:{port}"
        self.up = False

    @property
    def uri(self) -> str:
        deadline = time.monotonic() + 120
        while not self.up:
            assert self.process.poll() is None, \
                f"mlflow server exited:\n{self.log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, \
                f"mlflow server did not answer in 120 s:\n{self.log_path.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(f"{self.address}/health", timeout=2).close()
                self.up = True
            except OSError:
                time.sleep(0.2)
        return self.address

    def get(self, endpoint: str, **query) -> dict:
        url = f"{self.uri}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)

    def post(self, endpoint: str, body: dict) -> dict:
        request = urllib.request.Request(f"{self.uri}/api/2.0/mlflow/{endpoint}",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """(step, value) of every value logged for ``key``, in step order."""
        metrics = self.get("metrics/get-history", run_id=run_id, metric_key=key)
        return sorted((m["step"], m["value"]) for m in metrics.get("metrics", []))

    def artifacts(self, run_id: str, path: str = "") -> dict[str, int | None]:
        """name -> size of the artifacts at ``path`` in the run (folders: None)."""
        listing = self.get("artifacts/list", run_id=run_id, path=path)
        return {entry["path"].rsplit("/", 1)[-1]: entry.get("file_size")
                for entry in listing.get("files", [])}


@pytest.fixture(scope="module", autouse=True)
def server(tmp_path_factory):
    """``mlflow server`` with a SQLite backend and a local artifact folder (served through the
    server, as ``mlflow server`` does by default), started before the module's first test."""
    try:
        metadata.version("mlflow")  # the server; the plugin itself needs only mlflow-skinny
    except metadata.PackageNotFoundError:
        pytest.fail("this test runs a real MLflow server, which the full mlflow package brings: "
                    "pip install -e 'plugins/zoo-mlflow[test]'")
    root = tmp_path_factory.mktemp("tracking-server")
    port = free_port()
    log_path = root / "server.log"
    # Without the job runner (GenAI evaluation jobs) the server is 2 processes, not 7.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--artifacts-destination", str(root / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    yield Server(process, port, log_path)
    os.killpg(process.pid, signal.SIGTERM)  # the server and the uvicorn process it started
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits-data") / "digits"
    write_digits(path, limit=12, test_split=0.25, seed=0)
    return path


def zoo_cli(*args, uri: str, **env):
    """``zoo ARGS`` in a fresh process, tracking to ``uri``."""
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_TRACKING_URI": uri, **env}
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True,
                          text=True, env=environ, timeout=300)


def mlflow_lines(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines()
            if "mlflow" in line.lower()]


def history(run_path) -> list[dict]:
    with open(run_path / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_an_unreachable_server_is_one_warning_and_the_run_completes(digits, closed_port,
                                                                    tmp_path):
    closed = f"http://127.0.0.1:{closed_port}"
    out = tmp_path / "untracked"
    result = zoo_cli("finetune", "plain_cnn", "--data", digits, *TINY, "--epochs", 2,
                     "--out", out, uri=closed)
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = mlflow_lines(result)
    assert line.startswith(f"Warning: zoo-mlflow: cannot reach the MLflow server at {closed} (")
    assert line.endswith("; training goes on without MLflow tracking")
    assert [int(row["epoch"]) for row in history(out)] == [1, 2]
    assert all((out / name).is_file() for name in ("model.keras", "metrics.json", "report.html"))
    assert not (out / "mlflow.json").exists()


@pytest.fixture(scope="module")
def tracked(server, digits, tmp_path_factory, killed_in_checkpoint):
    """The run killed in epoch 2's checkpoint (in this process, through ``zoo.finetune``),
    resumed and exported through the CLI, with what the server held between."""
    out = tmp_path_factory.mktemp("tracked-runs") / "digits-1"
    options = dict(weights="none", image_size=32, epochs=EPOCHS, seed=1, lr=0.003, patience=0,
                   out=str(out), log=lambda line: None)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", server.uri)
        env.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
        killed_in_checkpoint(lambda: zoo.finetune("plain_cnn", digits, **options), epoch=1)
    run_id = json.loads((out / "mlflow.json").read_text())["run_id"]
    killed = types.SimpleNamespace(loss=server.history(run_id, "loss"),
                                   status=server.get("runs/get", run_id=run_id)["run"]["info"]
                                   ["status"])
    resumed = zoo_cli("finetune", "plain_cnn", "--data", digits, "--resume", "--out", out,
                      uri=server.uri, MLFLOW_EXPERIMENT_NAME=EXPERIMENT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    exported = zoo_cli("export", out, "--format", "tflite", uri=server.uri)
    assert exported.returncode == 0, exported.stderr[-3000:]
    return types.SimpleNamespace(out=out, run_id=run_id, killed=killed, resumed=resumed,
                                 exported=exported,
                                 run=server.get("runs/get", run_id=run_id)["run"])


def test_a_resumed_run_continues_its_mlflow_run_without_duplicate_steps(server, tracked):
    # the killed process sent the checkpointed epoch only, though its callback saw epoch 2
    assert [step for step, _ in tracked.killed.loss] == [0]
    assert tracked.killed.status == "RUNNING"
    assert f"MLflow: continuing run {tracked.run_id}" in tracked.resumed.stdout
    assert json.loads((tracked.out / "mlflow.json").read_text())["run_id"] == tracked.run_id
    experiment = server.get("experiments/get-by-name", experiment_name=EXPERIMENT)["experiment"]
    runs = server.post("runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert [run["info"]["run_id"] for run in runs] == [tracked.run_id]
    assert tracked.run["info"]["status"] == "FINISHED"

    rows = history(tracked.out)
    assert [int(row["epoch"]) for row in rows] == list(range(1, EPOCHS + 1))
    figures = [key for key in rows[0] if key not in ("epoch", "stage")]
    assert {"loss", "val_loss", "accuracy", "val_accuracy", "lr"} <= set(figures)
    for key in figures:
        logged = server.history(tracked.run_id, key)
        assert [step for step, _ in logged] == list(range(EPOCHS)), key  # each epoch once
        assert [value for _, value in logged] == pytest.approx(
            [float(row[key]) for row in rows], abs=1e-6), key


def test_the_runs_options_are_its_parameters_and_what_trained_it_its_tags(tracked):
    config = json.loads((tracked.out / "config.json").read_text())
    params = {p["key"]: p["value"] for p in tracked.run["data"]["params"]}
    assert params == {name: str(value) for name, value in config["options"].items()}
    assert params["epochs"] == str(EPOCHS) and params["weights"] == "none"
    tags = {t["key"]: t["value"] for t in tracked.run["data"]["tags"]}
    assert tags["mlflow.runName"] == tracked.run["info"]["run_name"] == "digits-1"
    assert tags["zoo.task"] == "image_classification"
    assert tags["zoo.model"] == tags["zoo.backbone"] == "plain_cnn"
    assert tags["zoo.run_dir"] == str(tracked.out.resolve())
    assert tags["zoo.plugin.zoo-mlflow"] == metadata.version("zoo-mlflow")
    assert tags["zoo.plugin.zoo-cnn"] == metadata.version("zoo-cnn")
    assert tags["zoo.version.keras"] == metadata.version("keras")
    assert tags["zoo.version.zoo"] == metadata.version("keras-zoo")


def test_the_run_ends_with_its_heldout_figures_and_files(server, tracked):
    metrics = json.loads((tracked.out / "metrics.json").read_text())
    for name in metrics["headline"]:
        [(step, value)] = server.history(tracked.run_id, f"heldout/{name}")
        assert step == EPOCHS - 1 and value == pytest.approx(metrics[name], abs=1e-6)
    files = server.artifacts(tracked.run_id)
    for name in ("model.keras", "metrics.json", "curves.png", "report.html", "config.json",
                 "history.csv"):
        assert files.get(name) == (tracked.out / name).stat().st_size, name


def test_zoo_export_logs_the_artifact_into_the_same_run(server, tracked):
    assert mlflow_lines(tracked.exported) == []  # no warning
    report = json.loads((tracked.out / "exports" / "export-report.json").read_text())
    [name] = report
    exports = server.artifacts(tracked.run_id, "exports")
    assert exports[name] == (tracked.out / "exports" / name).stat().st_size
    assert {"labels.txt", "export-report.json"} <= set(exports)


def test_an_epoch_checkpointed_but_not_sent_before_a_kill_is_sent_on_resume(server, tmp_path):
    """The other side of a kill: the checkpoint of an epoch committed, the process died before
    sending it. The next process asks the server what it holds and sends the rest, once."""
    from zoo_mlflow.tracking import Tracking

    run = Run(tmp_path / "run").make()
    run.write("config.json", {"task": "t", "model": "m", "options": {"epochs": 3}})
    lines = []
    for epoch in (1, 2):
        run.history.append({"epoch": epoch, "stage": "train", "loss": 1.0 / epoch})
    Tracking.start(run, server.uri, lines.append).send_epochs(run)
    run.history.append({"epoch": 3, "stage": "train", "loss": 0.25})  # then killed

    resumed = Tracking.start(run, server.uri, lines.append)
    resumed.send_epochs(run)
    resumed.send_epochs(run)  # nothing new: nothing sent
    assert server.history(resumed.run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert lines[0].startswith("MLflow: logging to run ")
    assert lines[1].startswith(f"MLflow: continuing run {resumed.run_id}")


def test_without_a_tracking_uri_the_plugin_does_nothing(monkeypatch):
    from zoo_mlflow import plugin

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert plugin.zoo_callbacks(run=None, task=None) == []
    assert plugin.zoo_after_export(run=None, report={}) is None
    # and listing components loads the hook module without importing MLflow
    script = ("import sys, zoo; zoo.list(); "
              "print('zoo_mlflow.plugin' in sys.modules, 'mlflow' in sys.modules)")
    listed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert listed.stdout.split() == ["True", "False"]
