"""Recommender tasks: ``zoo train two_tower|matrix_factorization|item_knn --data FILE.csv``.

The CSV has a header with ``user``, ``item`` and optionally ``rating`` and ``timestamp``. Each
user's last ``--holdout`` interactions (by timestamp, else file order) are held out; the rest
train. Training runs through the shared loop (run directory, progress, ``--seed``,
``--resume``, checkpoints). ``splits.json`` keeps the exact rows of each split, so evaluation,
``zoo recommend`` (which leaves out what a user had in training) and export need nothing else.

metrics.json holds ``recall@K`` and ``ndcg@K`` on the held-out interactions, and the same figures
for a most-popular ranker and a rank-8 SVD ranker computed the same way (``baselines``);
matrix factorization adds the held-out ``rmse``.

One Task class per kind of training data: :class:`RetrievalTask` (positive user-item pairs),
:class:`RatingTask` (pairs with ratings), :class:`CooccurrenceTask` (users' item histories).
"""

from __future__ import annotations

import numpy as np

from zoo.errors import ZooError
from zoo.tasks.base import Option, Task, TaskData, non_negative_int, positive_int

COMMON = {
    "holdout": Option(2, positive_int, "each user's last N interactions are held out for testing"),
    "k": Option(10, positive_int, "cut-off of recall@K and NDCG@K"),
    "svd_rank": Option(8, positive_int, "rank of the SVD baseline in metrics.json"),
    "patience": Option(0, non_negative_int,
                       "epochs without training-loss improvement before stopping "
                       "(0: never; there is no validation split)"),
}


class RecommenderTask(Task):
    """Shared by the three recommender tasks: CSV, time split, evaluation, recommend, export."""

    #: Options passed to the model builder (besides the vocabularies).
    MODEL_OPTIONS: tuple[str, ...] = ()

    # -- data -----------------------------------------------------------------------------------
    def load_data(self) -> TaskData:
        from zoo_recommenders.data import read_csv, split_by_time

        if not self.options["data"]:
            raise ZooError("pass --data FILE.csv with columns user,item[,rating][,timestamp] "
                           "('zoo data interactions FILE.csv' writes an example)")
        interactions = read_csv(self.options["data"])
        self.check_columns(interactions)
        train, test = split_by_time(interactions, holdout=self.options["holdout"])
        self.users, self.items = sorted(set(train.user)), sorted(set(train.item))
        self.train_rows = train
        info = {"path": self.options["data"], "interactions": len(interactions),
                "train": len(train), "test": len(test), "users": len(self.users),
                "items": len(self.items), "rating": interactions.rating is not None,
                "timestamp": interactions.timestamp is not None}
        self.log(f"Read {len(interactions)} interactions of {len(self.users)} users with "
                 f"{len(self.items)} items; holding out {len(test)} (each user's last "
                 f"{self.options['holdout']})")
        return TaskData(train=self.dataset(train), info=info,
                        splits={"train": train.rows(), "val": [], "test": test.rows()})

    def check_columns(self, interactions) -> None:
        """Refuse data the model cannot learn from (a rating model without ratings)."""

    def dataset(self, train):
        raise NotImplementedError

    def build_model(self, data: TaskData):
        import zoo

        model = zoo.get("model", self.model_name)(users=self.users, items=self.items,
                                                  **self.builder_options())
        self.compile(model)
        self.model = model
        return model

    def builder_options(self) -> dict:
        return {k: self.options[k] for k in self.MODEL_OPTIONS if self.options[k] is not None}

    def compile(self, model) -> None:
        import keras

        model.compile(optimizer=keras.optimizers.Adam(self.options["lr"]))

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, run, data=None) -> dict:
        """recall@K / NDCG@K of the model and of the baselines on the held-out interactions."""
        from zoo_recommenders import metrics
        from zoo_recommenders.models import score_items

        if data is not None and not isinstance(data, TaskData):
            raise ZooError("recommenders evaluate on their run's own held-out interactions; "
                           "drop the data argument")
        model = getattr(self, "model", None) or run.load_model()
        state = RunInteractions(run, model)
        k = self.options["k"]
        test_users = [u for u in state.test_users() if u in state.user_index]
        rows = np.asarray([state.user_index[u] for u in test_users], int)
        relevant = [state.test_items(u) for u in test_users]
        model_ranker = {"model": lambda idx: score_items(
            model, [state.users[i] for i in idx], state.matrix[idx])}
        figures = metrics.evaluate_rankers(
            {**model_ranker, **metrics.baselines(state.matrix, self.options["svd_rank"])},
            state.matrix, rows, relevant, k)
        result = {**figures.pop("model"), "baselines": figures}
        popular = figures["popular"][f"recall@{k}"]
        result[f"recall@{k}_vs_popular"] = (result[f"recall@{k}"] / popular) if popular else None
        return result

    def predict(self, run, inputs, k: int = 10, top_k: int | None = None, **_) -> list:
        """``inputs``: user ids; one ``{"user", "items": [{"item", "score"}], "note"?}`` each
        (``top_k``, as ``zoo predict`` passes it, is the same as ``k``)."""
        from zoo_recommenders.api import recommend

        recs = recommend(run, list(inputs), k=top_k or k)
        return [{"user": u, "items": recs.items[u], **({"note": recs.notes[u]}
                                                         if u in recs.notes else {})}
                for u in recs.items]

    def export(self, run, **options):
        from zoo_recommenders.api import export

        return export(run, **options)


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

    def dataset(self, train):
        import tensorflow as tf

        return (tf.data.Dataset.from_tensor_slices({"user": train.user.tolist(),
                                                    "item": train.item.tolist()})
                .shuffle(len(train), seed=self.options["seed"], reshuffle_each_iteration=True)
                .batch(self.options["batch_size"]).prefetch(tf.data.AUTOTUNE))

    def build_model(self, data: TaskData):
        model = super().build_model(data)
        index = {item: i for i, item in enumerate(self.items)}
        model.set_item_probability(np.bincount([index[i] for i in self.train_rows.item],
                                               minlength=len(self.items)))
        return model


class RatingTask(RecommenderTask):
    """matrix_factorization: explicit ratings, mean squared error; held-out RMSE reported."""

    name = "zoo_recommenders.tasks:RatingTask"
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

    def dataset(self, train):
        import tensorflow as tf

        features = {"user": train.user.tolist(), "item": train.item.tolist()}
        return (tf.data.Dataset.from_tensor_slices((features, train.rating[:, None]))
                .shuffle(len(train), seed=self.options["seed"], reshuffle_each_iteration=True)
                .batch(self.options["batch_size"]).prefetch(tf.data.AUTOTUNE))

    def builder_options(self) -> dict:
        return {**super().builder_options(),
                "mean_rating": float(np.mean(self.train_rows.rating))}

    def compile(self, model) -> None:
        import keras

        model.compile(optimizer=keras.optimizers.Adam(self.options["lr"]), loss="mse",
                      metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])

    def evaluate(self, run, data=None) -> dict:
        import tensorflow as tf

        result = super().evaluate(run, data)
        model = getattr(self, "model", None) or run.load_model()
        state = RunInteractions(run, model)
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
               "batch_size": Option(256, positive_int, "users per step")}
    MODEL_OPTIONS = ("shrink", "neighbours")

    def dataset(self, train):
        import tensorflow as tf

        user_index = {u: i for i, u in enumerate(self.users)}
        item_index = {t: i for i, t in enumerate(self.items)}
        histories = np.zeros((len(self.users), len(self.items)), "float32")
        histories[[user_index[u] for u in train.user], [item_index[t] for t in train.item]] = 1
        return tf.data.Dataset.from_tensor_slices(histories).batch(self.options["batch_size"])

    def compile(self, model) -> None:
        model.compile()  # nothing to optimise: train_step only counts
