"""Recommender tasks: ``zoo train two_tower|matrix_factorization|item_knn --data FILE.csv``
(Task API v2, plugin contract 2).

The CSV has a header with ``user``, ``item`` and optionally ``rating`` and ``timestamp``. Each
user's last ``--holdout`` interactions (by timestamp, else file order) are held out; the rest
train. Training runs through the shared loop (run directory, progress, ``--seed``,
``--resume``, checkpoints). ``splits.json`` keeps the exact rows of each split, so evaluation,
``zoo recommend`` (which leaves out what a user had in training) and export need nothing else.

:meth:`RecommenderTask.load_data` returns a :class:`RecommenderData`: the training interactions
and the user and item vocabularies, which ``build_model`` and ``dataset`` read. Evaluation,
recommendation and export read the trained model from the run.

metrics.json holds ``recall@K`` and ``ndcg@K`` on the held-out interactions, and the same figures
for a most-popular ranker and a rank-8 SVD ranker computed the same way (``baselines``);
matrix factorization adds the held-out ``rmse``.

``zoo export RUN --format saved_model`` on a two_tower run writes three SavedModels through the
core's export pipeline (:meth:`RecommenderTask.export_spec`): ``query_tower``,
``candidate_tower`` and ``retrieval`` (brute-force top-k over every item).

One Task class per kind of training data: :class:`RetrievalTask` (positive user-item pairs),
:class:`RatingTask` (pairs with ratings), :class:`CooccurrenceTask` (users' item histories).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo import ZooError
from zoo.tasks import (Closeness, ExactMatch, ExportSpec, Input, Monitor, Option, Task,
                       TaskData, non_negative_int, positive_int)
from zoo_recommenders.api import RunInteractions, recommend

COMMON = {
    "holdout": Option(2, positive_int, "each user's last N interactions are held out for testing"),
    "k": Option(10, positive_int, "cut-off of recall@K and NDCG@K (and the k of an exported "
                                  "retrieval model)"),
    "svd_rank": Option(8, positive_int, "rank of the SVD baseline in metrics.json"),
    "patience": Option(0, non_negative_int,
                       "epochs without training-loss improvement before stopping "
                       "(0: never; there is no validation split)"),
}
#: Users and items an export is checked on (plus one unknown user).
PROBES = 16
UNKNOWN_USER = "<unknown user>"


@dataclass
class RecommenderData(TaskData):
    """What :meth:`RecommenderTask.load_data` returns: besides the training dataset, the
    training interactions (a :class:`zoo_recommenders.data.Interactions`) and the sorted user
    and item vocabularies of the training split (the model's id vocabularies)."""

    interactions: Any = None
    users: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


class RecommenderTask(Task):
    """Shared by the three recommender tasks: CSV, time split, evaluation, recommend, export."""

    #: Options passed to the model builder (besides the vocabularies).
    MODEL_OPTIONS: tuple[str, ...] = ()
    #: Only two_tower runs have towers to export; the others fail in export_spec with a reason.
    EXPORTS = {"saved_model": ("none",)}
    #: Every interaction a user has before their held-out ones trains: the training loss is the
    #: only epoch figure.
    MONITOR = Monitor("loss", "min")
    HEADLINE = ("recall@*", "ndcg@*")

    # -- data -----------------------------------------------------------------------------------
    def load_data(self) -> RecommenderData:
        from zoo_recommenders.data import read_csv, split_by_time

        if not self.options["data"]:
            raise ZooError("pass --data FILE.csv with columns user,item[,rating][,timestamp] "
                           "('zoo data interactions FILE.csv' writes an example)")
        interactions = read_csv(self.options["data"])
        self.check_columns(interactions)
        train, test = split_by_time(interactions, holdout=self.options["holdout"])
        users, items = sorted(set(train.user.tolist())), sorted(set(train.item.tolist()))
        info = {"path": self.options["data"], "interactions": len(interactions),
                "train": len(train), "test": len(test), "users": len(users),
                "items": len(items), "rating": interactions.rating is not None,
                "timestamp": interactions.timestamp is not None}
        self.log(f"Read {len(interactions)} interactions of {len(users)} users with "
                 f"{len(items)} items; holding out {len(test)} (each user's last "
                 f"{self.options['holdout']})")
        data = RecommenderData(train=None, info=info,
                               splits={"train": train.rows(), "val": [], "test": test.rows()},
                               interactions=train, users=users, items=items)
        data.train = self.dataset(data)
        return data

    def check_columns(self, interactions) -> None:
        """Refuse data the model cannot learn from (a rating model without ratings)."""

    def dataset(self, data: RecommenderData):
        """The training dataset made from ``data.interactions`` (and its vocabularies)."""
        raise NotImplementedError

    def build_model(self, data: RecommenderData):
        import zoo

        model = zoo.get("model", self.model_name)(users=data.users, items=data.items,
                                                  **self.builder_options(data))
        self.compile(model)
        return model

    def builder_options(self, data: RecommenderData) -> dict:
        return {k: self.options[k] for k in self.MODEL_OPTIONS if self.options[k] is not None}

    def compile(self, model) -> None:
        import keras

        model.compile(optimizer=keras.optimizers.Adam(self.options["lr"]))

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, run, data=None) -> dict:
        """recall@K / NDCG@K of the run's model and of the baselines on the held-out
        interactions (``data``: None or the TaskData of training; the run's splits are used)."""
        if data is not None and not isinstance(data, TaskData):
            raise ZooError("recommenders evaluate on their run's own held-out interactions; "
                           "drop the data argument")
        model = run.load_model(compile=False)  # scoring only: no optimizer state to restore
        return self.metrics(model, RunInteractions(run, model))

    def metrics(self, model, state: RunInteractions) -> dict:
        """The figures :meth:`evaluate` reports for ``model`` on the run's interactions, and
        ``data``: which interactions (the headline line shows it)."""
        from zoo_recommenders import metrics as ranking
        from zoo_recommenders.models import score_items

        k = self.options["k"]
        test_users = [u for u in state.test_users() if u in state.user_index]
        rows = np.asarray([state.user_index[u] for u in test_users], int)
        relevant = [state.test_items(u) for u in test_users]
        model_ranker = {"model": lambda idx: score_items(
            model, [state.users[i] for i in idx], state.matrix[idx])}
        figures = ranking.evaluate_rankers(
            {**model_ranker, **ranking.baselines(state.matrix, self.options["svd_rank"])},
            state.matrix, rows, relevant, k)
        result = {**figures.pop("model"), "baselines": figures}
        result["data"] = f"last {self.options['holdout']} interactions of {result['users']} users"
        popular = figures["popular"][f"recall@{k}"]
        result[f"recall@{k}_vs_popular"] = (result[f"recall@{k}"] / popular) if popular else None
        return result

    def predict(self, run, inputs, k: int = 10, top_k: int | None = None, **_) -> list:
        """``inputs``: user ids; one ``{"user", "items": [{"item", "score"}], "note"?}`` each
        (``top_k``, as ``zoo predict`` passes it, is the same as ``k``)."""
        recs = recommend(run, list(inputs), k=top_k or k)
        return [{"user": u, "items": recs.items[u], **({"note": recs.notes[u]}
                                                         if u in recs.notes else {})}
                for u in recs.items]

    # -- export -------------------------------------------------------------------------------
    def export_spec(self, run, format: str, examples: int) -> list[ExportSpec]:
        """A two_tower run as three SavedModels (``zoo export RUN --format saved_model``):

        * ``query_tower``: ``serving_default(user: string[N]) -> {"embedding": float32[N, D]}``
        * ``candidate_tower``: ``serving_default(item: string[N]) -> {"embedding": ...}``
        * ``retrieval``: ``serving_default(user: string[N]) -> {"items": string[N, k],
          "scores": float32[N, k]}``: brute-force top-k over every item
          (``keras_rs.layers.BruteForceRetrieval``), k the run's ``--k`` (at most the item
          count); it does not leave out seen items.

        They are checked on the run's first 16 training users (in id order) plus an unknown
        user, and on the model's first 16 items.
        """
        import keras
        import keras_rs
        import tensorflow as tf

        from zoo_recommenders.models import TwoTower

        model = run.load_model(compile=False)  # inference: no optimizer state to restore
        if not isinstance(model, TwoTower):
            raise ZooError(f"{run.path} holds a {model.name} model; export serves retrieval "
                           f"models with towers (two_tower)")
        count = max(1, min(PROBES, examples))
        train_users = sorted({row[0] for row in run.read("splits.json")["train"]})
        users = np.array(train_users[:count] + [UNKNOWN_USER], dtype=object)
        items = np.array(model.items[:count], dtype=object)
        query, candidate = model.query_tower, model.candidate_tower
        k = min(self.options["k"], len(model.items))
        retrieval = keras_rs.layers.BruteForceRetrieval(
            candidate(tf.constant(model.items), training=False), k=k, return_scores=True,
            name="retrieval")
        # index -> item id; the lookup table travels in the SavedModel with the layer
        item_ids = keras.layers.StringLookup(vocabulary=model.items, num_oov_indices=0,
                                             invert=True, name="item_ids")
        item_ids(tf.range(len(model.items)))  # builds it: the export tracks built layers only

        def retrieve(user):
            scores, top = retrieval(query(user, training=False))
            return {"items": item_ids(top), "scores": scores}

        embeddings = Closeness(atol={"none": 1e-4})
        return [
            ExportSpec(lambda user: {"embedding": query(user, training=False)},
                       (Input("user", (), "string"),), (users,), embeddings, "embedding",
                       track=(query,), name="query_tower", examples_from="training users"),
            ExportSpec(lambda item: {"embedding": candidate(item, training=False)},
                       (Input("item", (), "string"),), (items,), embeddings, "embedding",
                       track=(candidate,), name="candidate_tower", examples_from="items"),
            ExportSpec(retrieve, (Input("user", (), "string"),), (users,), ExactMatch(),
                       "items", track=(query, retrieval, item_ids), name="retrieval",
                       examples_from="training users",
                       describe={"k": k, "candidates": len(model.items),
                                 "leaves_out_seen_items": False}),
        ]


class RetrievalTask(RecommenderTask):
    """two_tower: implicit feedback, every interaction a positive pair."""

    name = "zoo_recommenders.tasks:RetrievalTask"
    OPTIONS = {**COMMON,
               "dim": Option(32, positive_int, "embedding size of both towers"),
               "temperature": Option(0.5, float, "softmax temperature of the in-batch loss"),
               "l2": Option(None, float, "L2 penalty on the embeddings"),
               "epochs": Option(10, positive_int, "training epochs"),
               "batch_size": Option(256, positive_int, "pairs per step; the other pairs of a "
                                                       "batch are each pair's negatives"),
               "lr": Option(0.01, float, "Adam learning rate")}
    MODEL_OPTIONS = ("dim", "temperature", "l2")

    def dataset(self, data: RecommenderData):
        import tensorflow as tf

        train = data.interactions
        return (tf.data.Dataset.from_tensor_slices({"user": train.user.tolist(),
                                                    "item": train.item.tolist()})
                .shuffle(len(train), seed=self.options["seed"], reshuffle_each_iteration=True)
                .batch(self.options["batch_size"]).prefetch(tf.data.AUTOTUNE))

    def build_model(self, data: RecommenderData):
        model = super().build_model(data)
        index = {item: i for i, item in enumerate(data.items)}
        model.set_item_probability(np.bincount([index[i] for i in data.interactions.item],
                                               minlength=len(data.items)))
        return model


class RatingTask(RecommenderTask):
    """matrix_factorization: explicit ratings, mean squared error; held-out RMSE reported."""

    name = "zoo_recommenders.tasks:RatingTask"
    HEADLINE = (*RecommenderTask.HEADLINE, "rmse")
    OPTIONS = {**COMMON,
               "dim": Option(32, positive_int, "embedding size"),
               "l2": Option(None, float, "L2 penalty on the embeddings"),
               "epochs": Option(20, positive_int, "training epochs"),
               "batch_size": Option(256, positive_int, "ratings per step"),
               "lr": Option(0.005, float, "Adam learning rate")}
    MODEL_OPTIONS = ("dim", "l2")

    def check_columns(self, interactions) -> None:
        if interactions.rating is None:
            raise ZooError(f"{self.options['data']} has no rating column; matrix_factorization "
                           f"learns explicit ratings (use two_tower or item_knn for implicit data)")

    def dataset(self, data: RecommenderData):
        import tensorflow as tf

        train = data.interactions
        features = {"user": train.user.tolist(), "item": train.item.tolist()}
        return (tf.data.Dataset.from_tensor_slices((features, train.rating[:, None]))
                .shuffle(len(train), seed=self.options["seed"], reshuffle_each_iteration=True)
                .batch(self.options["batch_size"]).prefetch(tf.data.AUTOTUNE))

    def builder_options(self, data: RecommenderData) -> dict:
        return {**super().builder_options(data),
                "mean_rating": float(np.mean(data.interactions.rating))}

    def compile(self, model) -> None:
        import keras

        model.compile(optimizer=keras.optimizers.Adam(self.options["lr"]), loss="mse",
                      metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])

    def metrics(self, model, state: RunInteractions) -> dict:
        """The ranking figures, plus ``rmse`` on the held-out ratings next to
        ``rmse_mean_baseline`` (predicting the training mean)."""
        import tensorflow as tf

        result = super().metrics(model, state)
        test = state.test
        predicted = model.predict({"user": tf.constant(test.user.tolist()),
                                   "item": tf.constant(test.item.tolist())}, verbose=0)[:, 0]
        result["rmse"] = float(np.sqrt(np.mean((predicted - test.rating) ** 2)))
        result["rmse_mean_baseline"] = float(np.sqrt(np.mean(
            (np.mean(state.train.rating) - test.rating) ** 2)))
        return result


class CooccurrenceTask(RecommenderTask):
    """item_knn: one pass over users' histories accumulates item co-occurrence."""

    name = "zoo_recommenders.tasks:CooccurrenceTask"
    OPTIONS = {**COMMON,
               "shrink": Option(10.0, float, "damping of similarities from few co-occurrences"),
               "neighbours": Option(50, positive_int, "most similar items kept per item"),
               "epochs": Option(1, positive_int, "passes over the histories (1 is the algorithm)"),
               "batch_size": Option(256, positive_int, "users per step"),
               "patience": Option(0, non_negative_int, "not used, refused above 0: counting "
                                                       "co-occurrences has no loss to stop on")}
    #: Counting has no loss: every pass is kept.
    MONITOR = None
    MODEL_OPTIONS = ("shrink", "neighbours")

    def dataset(self, data: RecommenderData):
        import tensorflow as tf

        train = data.interactions
        user_index = {u: i for i, u in enumerate(data.users)}
        item_index = {t: i for i, t in enumerate(data.items)}
        histories = np.zeros((len(data.users), len(data.items)), "float32")
        histories[[user_index[u] for u in train.user], [item_index[t] for t in train.item]] = 1
        return tf.data.Dataset.from_tensor_slices(histories).batch(self.options["batch_size"])

    def compile(self, model) -> None:
        model.compile()  # nothing to optimise: train_step only counts
