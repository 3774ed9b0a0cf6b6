"""The figures every task of a kind reports the same way: classification (numpy only),
multi-label classification and regression (with scikit-learn's definitions)."""

from __future__ import annotations

__all__ = ["classification_metrics", "rankings", "worst_mistakes", "multilabel_metrics",
           "micro_f1", "regression_metrics"]


def classification_metrics(labels, probabilities, classes: list[str]) -> dict:
    """Accuracy, top-k accuracy, per-class precision/recall/support and the confusion matrix
    of ``probabilities`` (one row per example) against ``labels`` (class indices)."""
    import numpy as np

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    predicted = probabilities.argmax(axis=1)
    n = len(classes)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    k = min(5, n)
    top_k = np.argsort(probabilities, axis=1)[:, ::-1][:, :k]
    per_class = {}
    for i, name in enumerate(classes):
        predicted_i, actual_i = matrix[:, i].sum(), matrix[i, :].sum()
        per_class[name] = {
            "precision": round(float(matrix[i, i] / predicted_i), 4) if predicted_i else 0.0,
            "recall": round(float(matrix[i, i] / actual_i), 4) if actual_i else 0.0,
            "support": int(actual_i)}
    return {"accuracy": round(float((predicted == labels).mean()), 4),
            f"top{k}_accuracy": round(float((top_k == labels[:, None]).any(axis=1).mean()), 4),
            "count": int(len(labels)), "per_class": per_class,
            "confusion_matrix": matrix.tolist()}


def rankings(probabilities, classes: list[str], top_k: int = 1) -> list[dict]:
    """``{"class", "probability", "top": [[class, probability], ...]}`` per row of
    ``probabilities``: the ``top_k`` best classes, best first (what every classifier's predict
    returns)."""
    import numpy as np

    probabilities = np.asarray(probabilities)
    k = max(1, min(int(top_k), len(classes)))
    best = np.argsort(probabilities, axis=-1)[:, ::-1][:, :k]
    rows = []
    for row, order in zip(probabilities, best):
        top = [[classes[i], round(float(row[i]), 4)] for i in order]
        rows.append({"class": top[0][0], "probability": top[0][1], "top": top})
    return rows


def worst_mistakes(labels, probabilities, n: int = 16) -> list[int]:
    """Indices of the ``n`` examples whose true class got the lowest probability, worst first
    (ties: the earlier example first): what a classifier's report shows as its worst mistakes."""
    import numpy as np

    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities)
    if not len(labels):
        return []
    true_probability = probabilities[np.arange(len(labels)), labels]
    order = np.lexsort((np.arange(len(labels)), true_probability))
    return [int(i) for i in order[:max(0, int(n))]]


def multilabel_metrics(truth, scores, labels: list[str], threshold: float = 0.5) -> dict:
    """Figures of multi-label ``scores`` (one independent score per label and example) against
    ``truth`` (0/1, same shape); a label is predicted when its score is at least ``threshold``.

    ``map``: the mean over labels of scikit-learn's average precision (threshold-free: how well
    each label's scores rank its images), ``map_chance`` what random scores would get (each
    label's share of positive images); ``micro_f1`` over every (image, label) decision,
    ``macro_f1`` the mean of the labels' F1; ``exact_match``: images with every label right.
    Averages over labels take the labels with a positive image here (AP and recall are
    undefined without one); ``per_class`` has every label's precision, recall, F1, AP and
    support (positive images).
    """
    import numpy as np
    from sklearn.metrics import average_precision_score

    truth = np.asarray(truth).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = scores >= threshold
    per_class = {}
    for i, name in enumerate(labels):
        positives, hits = int(truth[:, i].sum()), int((truth[:, i] & predicted[:, i]).sum())
        chosen = int(predicted[:, i].sum())
        precision = hits / chosen if chosen else 0.0
        recall = hits / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        ap = float(average_precision_score(truth[:, i], scores[:, i])) if positives else None
        per_class[name] = {"precision": round(precision, 4), "recall": round(recall, 4),
                           "f1": round(f1, 4), "ap": None if ap is None else round(ap, 4),
                           "support": positives}
    present = [row for row in per_class.values() if row["support"]]

    def mean(values) -> float | None:
        return round(float(np.mean(values)), 4) if values else None

    return {"map": mean([row["ap"] for row in present]),
            "micro_f1": round(micro_f1(truth, predicted), 4),
            "macro_f1": mean([row["f1"] for row in present]),
            "exact_match": round(float((predicted == truth).all(axis=1).mean()), 4),
            "map_chance": mean([row["support"] / len(truth) for row in present]),
            "threshold": threshold, "count": int(len(truth)), "per_class": per_class}


def micro_f1(truth, predicted) -> float:
    """F1 over every (example, label) decision of 0/1 arrays ``predicted`` against ``truth``."""
    import numpy as np

    truth, predicted = np.asarray(truth).astype(bool), np.asarray(predicted).astype(bool)
    hits = int((truth & predicted).sum())
    wrong = int((truth != predicted).sum())
    return 2 * hits / (2 * hits + wrong) if hits else 0.0


def regression_metrics(truth, predicted, targets: list[str], baseline) -> dict:
    """MAE, RMSE and R² of ``predicted`` against ``truth`` (one column per target), averaged
    over ``targets`` (each target's own in ``per_target``), beside the same errors of
    ``baseline``, a constant prediction per target (the training mean: what a model must beat).
    R² is scikit-learn's: 1 - squared error / the held-out values' variance (0 for predicting
    their mean, negative for worse)."""
    import numpy as np
    from sklearn.metrics import r2_score

    truth = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(truth.shape)
    constant = np.broadcast_to(np.asarray(baseline, dtype=np.float64), truth.shape)
    per_target = {}
    for i, name in enumerate(targets):
        error, base = predicted[:, i] - truth[:, i], constant[:, i] - truth[:, i]
        per_target[name] = {
            "mae": round(float(np.abs(error).mean()), 4),
            "rmse": round(float(np.sqrt((error ** 2).mean())), 4),
            "r2": round(float(r2_score(truth[:, i], predicted[:, i])), 4) if len(truth) > 1
            else None,
            "baseline_mae": round(float(np.abs(base).mean()), 4),
            "baseline_rmse": round(float(np.sqrt((base ** 2).mean())), 4)}

    def mean(key: str) -> float | None:
        values = [row[key] for row in per_target.values() if row[key] is not None]
        return round(float(np.mean(values)), 4) if values else None

    return {"mae": mean("mae"), "rmse": mean("rmse"), "r2": mean("r2"),
            "baseline_mae": mean("baseline_mae"), "baseline_rmse": mean("baseline_rmse"),
            "count": int(len(truth)), "per_target": per_target}
