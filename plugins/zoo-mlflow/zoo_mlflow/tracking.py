"""A keras-zoo run in MLflow: one MLflow run per run directory, continued by ``--resume`` and
added to by ``zoo export``.

``RUN/mlflow.json`` records the MLflow run a run directory logs into (tracking URI, experiment,
run id). The run's options are its parameters; its task, model and versions its tags; every
epoch of history.csv a step of its metrics (the run's 0-based epoch index, as TensorBoard's
steps); at the end its held-out figures (``heldout/<name>``) and files; after an export, the
artifact.

Epochs are sent only once checkpointed. A resumed run trains again the epochs after its last
checkpoint, and MLflow keeps every value logged at a step (it can neither replace nor delete
one), so an epoch sent before a kill would show twice. The callback sends at the start of every
epoch and stage and at the end of every stage and of the run: by then the engine's bookkeeping of
the epochs before is done, and history.csv holds exactly the checkpointed epochs (a resumed run
truncates it to the checkpoint first). Which epochs MLflow holds is asked of the server once per
process, so an epoch checkpointed just before a kill, but not sent yet, is sent on resume.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import keras
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking.context.registry import resolve_tags

import zoo
from zoo import io
from zoo.runs import Run, headline_figures

#: The run file that names the MLflow run of a run directory.
RECORD = "mlflow.json"
#: history.csv columns that are not figures.
NOT_METRICS = ("epoch", "stage")
#: Seconds an http(s) tracking server has to answer before the run goes on without it.
PROBE_SECONDS = 5
#: MLflow's experiment for runs that name none (MLflow's own default).
DEFAULT_EXPERIMENT = "0"
#: Where exported artifacts go in the MLflow run.
EXPORTS = "exports"


class Unreachable(Exception):
    """The tracking server did not answer."""


class MlflowCallback(keras.callbacks.Callback):
    """Logs a training run into MLflow (see the module doc). Its first failure (a server that
    does not answer, a refused request) is one warning line through the task's log, and the run
    goes on untracked."""

    def __init__(self, run: Run, task, uri: str):
        super().__init__()
        self.run, self.task, self.uri = run, task, uri
        self.tracking: Tracking | None = None
        self.off = False

    def on_train_begin(self, logs=None):  # every stage; the first creates or finds the run
        self._do(self._send)

    def on_epoch_begin(self, epoch, logs=None):
        self._do(self._send)

    def on_train_end(self, logs=None):
        self._do(self._send)

    def on_run_end(self, run: Run) -> None:
        """Called by the engine once model.keras, metrics.json, curves and report.html exist."""
        self._do(lambda: self._tracking().finish(run))

    def _send(self) -> None:
        self._tracking().send_epochs(self.run)

    def _tracking(self) -> Tracking:
        if self.tracking is None:
            self.tracking = Tracking.start(self.run, self.uri, self.task.log)
        return self.tracking

    def _do(self, action) -> None:
        if self.off:
            return
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - tracking must never stop a training run
            self.off = True
            self.task.log(f"Warning: zoo-mlflow: {describe(exc, self.uri)}; training goes on "
                          f"without MLflow tracking")


class Tracking:
    """The MLflow run that one run directory logs into."""

    def __init__(self, client: MlflowClient, run_id: str, sent: int | None = None):
        self.client, self.run_id = client, run_id
        #: The last epoch step MLflow holds (-1: none); asked of the server when first needed.
        self.sent = sent

    @classmethod
    def find(cls, run: Run, uri: str) -> Tracking | None:
        """The MLflow run ``RUN/mlflow.json`` names on the server at ``uri``, unless it was
        deleted; None when there is none."""
        check_reachable(uri)
        record = run.read(RECORD, {})
        if record.get("tracking_uri") != uri or not record.get("run_id"):
            return None
        client = MlflowClient(uri)
        try:
            found = client.get_run(record["run_id"])
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return cls(client, record["run_id"]) if found.info.lifecycle_stage == "active" else None

    @classmethod
    def start(cls, run: Run, uri: str, log) -> Tracking:
        """Continue the run's MLflow run, or create it with the run's parameters and tags."""
        tracking = cls.find(run, uri)
        if tracking is not None:
            tracking.client.update_run(tracking.run_id, status="RUNNING")
            log(f"MLflow: continuing run {tracking.run_id} at {shown(uri)}")
            return tracking
        client = MlflowClient(uri)
        created = client.create_run(experiment_id(client), run_name=run.path.name,
                                    tags=resolve_tags(run_tags(run)))
        run_id = created.info.run_id
        client.log_batch(run_id, params=[Param(k, v) for k, v in run_params(run).items()])
        io.write_json(run.file(RECORD), {"tracking_uri": uri, "run_id": run_id,
                                         "experiment_id": created.info.experiment_id})
        log(f"MLflow: logging to run {run_id} (experiment {created.info.experiment_id}) at "
            f"{shown(uri)}")
        return cls(client, run_id, sent=-1)

    def send_epochs(self, run: Run) -> None:
        """history.csv's epochs that MLflow does not hold yet, one step each."""
        rows = run.history.rows()
        if self.sent is None:
            self.sent = self._last_step(rows)
        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, int(row["epoch"]) - 1)
                   for row in rows if int(row["epoch"]) - 1 > self.sent
                   for key, value in row.items() if key not in NOT_METRICS and _number(value)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)
        if rows:
            self.sent = max(self.sent, int(rows[-1]["epoch"]) - 1)

    def _last_step(self, rows: list[dict]) -> int:
        """The highest step of the run's epoch figures on the server (-1: none)."""
        columns = {key for row in rows for key in row} - set(NOT_METRICS)
        logged = columns & set(self.client.get_run(self.run_id).data.metrics)
        return max((m.step for key in logged
                    for m in self.client.get_metric_history(self.run_id, key)), default=-1)

    def finish(self, run: Run) -> None:
        """The last epochs, the held-out figures, the run's files; the MLflow run FINISHED."""
        self.send_epochs(run)
        now, step = int(time.time() * 1000), max(self.sent, 0)
        heldout = [Metric(f"heldout/{name}", float(value), now, step)
                   for name, value in headline_figures(run.metrics).items()]
        if heldout:
            self.client.log_batch(self.run_id, metrics=heldout)
        for path in run_files(run):
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, "FINISHED")

    def log_export(self, report: dict) -> None:
        """An export's artifacts (a file, or a SavedModel folder), the files written beside them
        (labels.txt) and export-report.json, under ``exports/``."""
        entries = list(report["artifacts"].values()) if "artifacts" in report else [report]
        folders = []
        for entry in entries:
            path = Path(entry["artifact"])
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), f"{EXPORTS}/{path.name}")
            else:
                self.client.log_artifact(self.run_id, str(path), EXPORTS)
            for companion in entry.get("files", ()):
                self.client.log_artifact(self.run_id, companion, EXPORTS)
            folders += [path.parent] if path.parent not in folders else []
        for folder in folders:  # the export pipeline merges every artifact's report here
            summary = folder / "export-report.json"
            if summary.is_file():
                self.client.log_artifact(self.run_id, str(summary), EXPORTS)


def log_export(run: Run, report: dict, uri: str) -> None:
    """``zoo_after_export``: the export into the run's MLflow run. A failure is a ZooError,
    which the engine prints as one warning line (the export itself is written)."""
    try:
        tracking = Tracking.find(run, uri)
        if tracking is None:
            raise zoo.ZooError(f"{run.path} has no MLflow run at {shown(uri)} (it was trained "
                               f"without MLFLOW_TRACKING_URI, or with another); the export is "
                               f"not logged in MLflow")
        tracking.log_export(report)
    except zoo.ZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - said in one line, the export stays written
        raise zoo.ZooError(f"{describe(exc, uri)}; the export is not logged in MLflow") from exc


def check_reachable(uri: str) -> None:
    """Raise :class:`Unreachable` unless an http(s) tracking server answers within
    :data:`PROBE_SECONDS` (other stores are not probed). MLflow's client retries a refused
    connection for minutes (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``): the run would wait that long."""
    if urllib.parse.urlsplit(uri).scheme not in ("http", "https"):
        return
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_SECONDS).close()
    except urllib.error.HTTPError:
        return  # something answered: an older server without /health, or an auth proxy
    except OSError as exc:  # URLError, timeouts
        reason = getattr(exc, "reason", exc)
        why = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise Unreachable(f"cannot reach the MLflow server at {shown(uri)} ({why})") from exc


def experiment_id(client: MlflowClient) -> str:
    """MLflow's own settings: ``MLFLOW_EXPERIMENT_ID``, else ``MLFLOW_EXPERIMENT_NAME`` (created
    when new), else MLflow's Default experiment."""
    if os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def run_params(run: Run) -> dict[str, str]:
    """The run's options as config.json records them (resolved, the recipe's included)."""
    return {name: str(value) for name, value in (run.config.get("options") or {}).items()}


def run_tags(run: Run) -> dict[str, str]:
    """What the run is and what trained it: task, model, backbone, run directory, versions."""
    config = run.config
    versions = config.get("versions") or {}
    tags = {"zoo.task": config.get("task"), "zoo.model": config.get("model"),
            "zoo.backbone": config.get("backbone"), "zoo.run_dir": str(run.path.resolve()),
            **{f"zoo.version.{name}": version for name, version in versions.items()
               if name != "plugins"},
            **{f"zoo.plugin.{name}": version
               for name, version in (versions.get("plugins") or {}).items()}}
    return {key: str(value) for key, value in tags.items() if value is not None}


def run_files(run: Run) -> list[Path]:
    """The run's files uploaded at the end of training (those its task wrote)."""
    paths = (run.model_path, run.metrics_path, run.curves_path, run.confusion_path,
             run.report_path, run.config_path, run.history.path, run.file("labels.json"))
    return [path for path in paths if path.is_file()]


def describe(exc: Exception, uri: str) -> str:
    """A failure in a few words, for one line."""
    if isinstance(exc, Unreachable):
        return str(exc)
    lines = str(exc).strip().splitlines()
    return f"MLflow at {shown(uri)} failed ({type(exc).__name__}: {lines[0] if lines else ''})"


def shown(uri: str) -> str:
    """``uri`` without a password in it, for messages."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def _number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
