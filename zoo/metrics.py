"""Classification figures every classifier task reports the same way (numpy only)."""

from __future__ import annotations

__all__ = ["classification_metrics", "rankings", "worst_mistakes"]


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
