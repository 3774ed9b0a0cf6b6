"""The hook module of zoo-mlflow: no MLflow, Keras or TensorFlow here (``zoo list`` imports it).

Tracking is on when ``MLFLOW_TRACKING_URI`` names a tracking server (or another MLflow store);
without it both hooks return at once and MLflow is never imported.
"""

import os

import zoo

ZOO_CONTRACT = 3


def tracking_uri() -> str | None:
    """Where MLflow is, as MLflow itself reads it; None: tracking is off."""
    return os.environ.get("MLFLOW_TRACKING_URI", "").strip() or None


@zoo.hookimpl
def zoo_callbacks(run, task):
    uri = tracking_uri()
    if uri is None:
        return []
    from zoo_mlflow.tracking import MlflowCallback

    return [MlflowCallback(run, task, uri)]


@zoo.hookimpl
def zoo_after_export(run, report):
    uri = tracking_uri()
    if uri is None:
        return
    from zoo_mlflow.tracking import log_export

    log_export(run, report, uri)
