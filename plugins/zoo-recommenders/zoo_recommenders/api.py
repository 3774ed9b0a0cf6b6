"""The recommender plugin's Python API: recommend for users of a run.

``zoo recommend`` calls it::

    from zoo_recommenders.api import recommend
    recs = recommend("runs/two_tower-1", ["u0001", "nobody"], k=10)
    recs.items["u0001"]   # [{"item": "i0042", "score": 0.93}, ...]
    recs.notes            # {"nobody": "unknown user: most popular items"}

Exporting goes through the core's pipeline: ``zoo.export(run, format="saved_model")`` (see
:meth:`zoo_recommenders.tasks.RecommenderTask.export_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo import ZooError
from zoo.runs import Run

TASK_PREFIX = "zoo_recommenders.tasks:"
UNKNOWN_USER_NOTE = "unknown user: most popular items"


@dataclass
class Recommendations:
    """``items``: user -> ranked ``[{"item", "score"}]``; ``notes``: user -> why (unknown users)."""

    items: dict[str, list[dict]]
    notes: dict[str, str] = field(default_factory=dict)


def _open(run) -> Run:
    run = run if isinstance(run, Run) else Run.open(run)
    if not str(run.config.get("task", "")).startswith(TASK_PREFIX):
        raise ZooError(f"{run.path} is a {run.config.get('task')} run, not a recommender run; "
                       f"train one with 'zoo train two_tower|matrix_factorization|item_knn'")
    return run


class RunInteractions:
    """A trained run's training interactions as a user x item matrix over the model's items."""

    def __init__(self, run, model):
        from zoo_recommenders.data import Interactions
        from zoo_recommenders.models import model_items

        info = run.config["data"]
        splits = run.read("splits.json")
        self.train = Interactions.from_rows(splits["train"], info["rating"], info["timestamp"])
        self.test = Interactions.from_rows(splits["test"], info["rating"], info["timestamp"])
        self.items = model_items(model)
        self.item_index = {item: i for i, item in enumerate(self.items)}
        self.users = sorted(set(self.train.user.tolist()))
        self.user_index = {user: i for i, user in enumerate(self.users)}
        self.matrix = np.zeros((len(self.users), len(self.items)), "float32")
        known = [i for i, item in enumerate(self.train.item) if item in self.item_index]
        self.matrix[[self.user_index[self.train.user[i]] for i in known],
                    [self.item_index[self.train.item[i]] for i in known]] = 1.0

    def test_users(self) -> list[str]:
        return sorted(set(self.test.user.tolist()))

    def test_items(self, user: str) -> set:
        return {self.item_index[item] for u, item in zip(self.test.user, self.test.item)
                if u == user and item in self.item_index}

    def popularity(self) -> np.ndarray:
        return self.matrix.sum(0)


def recommend(run, users: list[str], k: int = 10) -> Recommendations:
    """Top ``k`` items for each user, leaving out items the user had in training.

    Unknown users get the most popular items (score: share of training interactions) and a note.
    """
    from zoo_recommenders.models import score_items
    from zoo_recommenders.metrics import topk_excluding

    if k < 1:
        raise ZooError(f"--k must be at least 1, got {k}")
    if not users:
        raise ZooError("name at least one --user")
    run = _open(run)
    model = run.load_model(compile=False)  # inference: no optimizer state to restore
    state = RunInteractions(run, model)
    users = [str(u) for u in dict.fromkeys(users)]
    known = [u for u in users if u in state.user_index]
    result = Recommendations({})
    if known:
        rows = [state.user_index[u] for u in known]
        scores = score_items(model, known, state.matrix[rows])
        top = topk_excluding(scores, state.matrix[rows] > 0, k)
        for user, row, order in zip(known, scores, top):
            result.items[user] = [{"item": state.items[i], "score": round(float(row[i]), 6)}
                                  for i in order]
    popularity = state.popularity()
    popular = np.argsort(-popularity, kind="stable")[:k]
    for user in users:
        if user not in result.items:
            result.items[user] = [{"item": state.items[i],
                                   "score": round(float(popularity[i] / popularity.sum()), 6)}
                                  for i in popular]
            result.notes[user] = UNKNOWN_USER_NOTE
    result.items = {u: result.items[u] for u in users}
    return result
