"""Ranking metrics and the baselines every recommender is judged against (numpy only).

All rankers are scored the same way: for each test user, rank every known item by score with the
user's training items removed, take the top ``k``, and compare with the user's held-out items.
"""

from __future__ import annotations

import numpy as np


def topk_excluding(scores: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best items per row, leaving out items marked in ``seen`` (bool)."""
    scores = np.where(seen, -np.inf, scores.astype("float64"))
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def ranking_metrics(top: np.ndarray, relevant: list[set], k: int = 10) -> dict:
    """``recall@k`` and ``ndcg@k`` (binary relevance), averaged over users with held-out items."""
    recalls, ndcgs = [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for row, truth in zip(top, relevant):
        if not truth:
            continue
        hits = np.asarray([item in truth for item in row[:k]], float)
        recalls.append(hits.sum() / min(len(truth), k))
        ideal = discounts[:min(len(truth), k)].sum()
        ndcgs.append(float((hits * discounts[:len(hits)]).sum() / ideal))
    return {f"recall@{k}": float(np.mean(recalls)) if recalls else 0.0,
            f"ndcg@{k}": float(np.mean(ndcgs)) if ndcgs else 0.0, "users": len(recalls)}


def popularity_scores(train_matrix: np.ndarray) -> np.ndarray:
    """Item popularity (training interaction counts), one row broadcast to every user."""
    return train_matrix.sum(0, keepdims=True).astype("float64")


def svd_scores(train_matrix: np.ndarray, rank: int = 8) -> np.ndarray:
    """Rank-``rank`` truncated SVD reconstruction of the binary user-item matrix (PureSVD)."""
    u, s, vt = np.linalg.svd(train_matrix.astype("float64"), full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


def evaluate_rankers(rankers: dict, train_matrix: np.ndarray, test_users: np.ndarray,
                     relevant: list[set], k: int = 10) -> dict:
    """Metrics of each ``name -> scores(user_indices) -> (n, items)`` ranker, same protocol."""
    seen = train_matrix[test_users] > 0
    return {name: ranking_metrics(topk_excluding(score(test_users), seen, k), relevant, k)
            for name, score in rankers.items()}


def baselines(train_matrix: np.ndarray, svd_rank: int = 8) -> dict:
    """The most-popular ranker and a rank-``svd_rank`` SVD ranker, as ``evaluate_rankers`` takes."""
    popular = popularity_scores(train_matrix)
    svd = svd_scores(train_matrix, svd_rank)
    return {"popular": lambda users: np.repeat(popular, len(users), 0),
            f"svd_rank{svd_rank}": lambda users: svd[users]}
