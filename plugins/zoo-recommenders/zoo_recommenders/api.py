"""The recommender plugin's Python API: recommend for users of a run, export retrieval models.

``zoo recommend`` and ``zoo export`` on a recommender run call these::

    from zoo_recommenders.api import recommend
    recs = recommend("runs/two_tower-1", ["u0001", "nobody"], k=10)
    recs.items["u0001"]   # [{"item": "i0042", "score": 0.93}, ...]
    recs.notes            # {"nobody": "unknown user: most popular items"}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
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


def recommend(run, users: list[str], k: int = 10) -> Recommendations:
    """Top ``k`` items for each user, leaving out items the user had in training.

    Unknown users get the most popular items (score: share of training interactions) and a note.
    """
    from zoo_recommenders.models import score_items
    from zoo_recommenders.metrics import topk_excluding
    from zoo_recommenders.tasks import RunInteractions

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


def export(run, format: str = "saved_model", out=None, k: int = 10, **_) -> dict:
    """A two_tower run as three SavedModels under ``out`` (default ``RUN/exports``):

    * ``query_tower/``: ``serving_default(user: string[N]) -> {"embedding": float32[N, D]}``
    * ``candidate_tower/``: ``serving_default(item: string[N]) -> {"embedding": ...}``
    * ``retrieval/``: ``serving_default(user: string[N]) -> {"items": string[N, k],
      "scores": float32[N, k]}``: brute-force top-k over every item
      (``keras_rs.layers.BruteForceRetrieval``); it does not leave out seen items.

    Each is loaded back and checked against the Keras model; the report goes to
    ``export-report.json`` beside them.
    """
    import tensorflow as tf

    from zoo import exporting
    from zoo import io
    from zoo_recommenders.models import TwoTower

    if format != "saved_model":
        raise ZooError(f"recommenders export SavedModels only (--format saved_model), "
                       f"not {format!r}")
    run = _open(run)
    model = run.load_model(compile=False)  # inference: no optimizer state to restore
    if not isinstance(model, TwoTower):
        raise ZooError(f"{run.path} holds a {model.name} model; export serves retrieval models "
                       f"with towers (two_tower)")
    out = Path(out) if out else run.file("exports")
    k = min(k, len(model.items))
    probe_users = _train_users(run)[:16] + ["<unknown user>"]
    probe_items = model.items[:16]
    candidates = model.candidate_tower(tf.constant(model.items))
    expected = {"query_tower": model.query_tower(tf.constant(probe_users)).numpy(),
                "candidate_tower": model.candidate_tower(tf.constant(probe_items)).numpy()}
    scores = expected["query_tower"] @ candidates.numpy().T
    expected_top = np.argsort(-scores, axis=1, kind="stable")[:, :k]

    report = {"format": "saved_model", "k": k, "items": len(model.items),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "artifacts": {}}
    for name, tower, input_name, probe in (
            ("query_tower", model.query_tower, "user", probe_users),
            ("candidate_tower", model.candidate_tower, "item", probe_items)):
        with io.atomic_path(out / name) as tmp:
            _save_tower(tower, input_name, tmp)
            got = tf.saved_model.load(str(tmp)).signatures["serving_default"](
                **{input_name: tf.constant(probe)})["embedding"].numpy()
            diff = float(np.max(np.abs(got - expected[name])))
            _check(diff < 1e-4, f"the exported {name} differs from Keras by {diff:.2g}")
        report["artifacts"][name] = {"path": str(out / name), "max_abs_diff": diff,
                                     "size_bytes": exporting.file_size(out / name)}

    with io.atomic_path(out / "retrieval") as tmp:
        _save_retrieval(model, candidates, k, tmp)
        got = tf.saved_model.load(str(tmp)).signatures["serving_default"](
            user=tf.constant(probe_users))
        got_items = got["items"].numpy().astype(str)
        want_items = np.asarray(model.items)[expected_top]
        agreement = float(np.mean(got_items == want_items))
        _check(agreement >= 0.99, f"the retrieval SavedModel agrees with Keras on only "
                                  f"{agreement:.1%} of top-{k} items")
    report["artifacts"]["retrieval"] = {"path": str(out / "retrieval"),
                                        "topk_agreement": agreement,
                                        "size_bytes": exporting.file_size(out / "retrieval")}
    report["passed"] = True
    exporting.write_report(out / "retrieval", report)
    return report


def _train_users(run) -> list[str]:
    """The run's training users, in id order."""
    return sorted({row[0] for row in run.read("splits.json")["train"]})


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ZooError(message + "; nothing was written")


def _save_tower(tower, input_name: str, path: Path) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.tower = tower
    module.serve = tf.function(lambda ids: {"embedding": tower(ids, training=False)},
                               input_signature=[tf.TensorSpec([None], tf.string, name=input_name)])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def _save_retrieval(model, candidates, k: int, path: Path) -> None:
    import keras_rs
    import tensorflow as tf

    module = tf.Module()
    module.query_tower = model.query_tower
    module.retrieval = keras_rs.layers.BruteForceRetrieval(candidates, k=k, return_scores=True)
    module.item_ids = tf.Variable(tf.constant(model.items), trainable=False)

    def retrieve(users):
        scores, top = module.retrieval(model.query_tower(users, training=False))
        return {"items": tf.gather(module.item_ids, top), "scores": scores}

    module.serve = tf.function(retrieve,
                               input_signature=[tf.TensorSpec([None], tf.string, name="user")])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
