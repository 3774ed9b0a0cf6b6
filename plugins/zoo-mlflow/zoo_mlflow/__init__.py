"""zoo-mlflow: every keras-zoo training run and export tracked in MLflow."""
