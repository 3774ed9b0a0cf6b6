"""Recommender models. Each takes string ids, so a saved model needs no side vocabulary.

* :func:`build_two_tower`: a query tower (user id -> unit vector) and a candidate tower
  (item id -> unit vector), trained for retrieval with an in-batch sampled softmax: every other
  item in the batch is a negative, logits are corrected by the log of each item's sampling
  probability (``keras_rs.layers.SamplingProbabilityCorrection``) so popular items are not
  over-penalised, and "accidental hits" (the same item twice in a batch) are masked.
* :func:`build_matrix_factorization`: user and item embeddings plus biases, predicting explicit
  ratings (mean squared error).
* :func:`build_item_knn`: the classic item-based collaborative filter: cosine similarity of item
  co-occurrence, accumulated by ``train_step`` in one pass over users' histories; a user's
  score for an item is the summed similarity to the items in their history.

:func:`score_items` ranks every item for a list of users, whatever the model.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

PACKAGE = "zoo_recommenders"


def _id_input(name: str):
    return keras.Input((), dtype="string", name=name)


def build_tower(vocabulary: list[str], dim: int, name: str, input_name: str,
                normalize: bool = True, l2: float = 0.0) -> keras.Model:
    """String id -> embedding (unit length when ``normalize``); unknown ids share one vector."""
    ids = _id_input(input_name)
    index = layers.StringLookup(vocabulary=list(vocabulary), num_oov_indices=1,
                                name=f"{input_name}_lookup")(ids)
    vector = layers.Embedding(len(vocabulary) + 1, dim, name=f"{input_name}_embedding",
                              embeddings_regularizer=keras.regularizers.l2(l2) if l2 else None,
                              embeddings_initializer=keras.initializers.RandomNormal(0, 0.1))(index)
    if normalize:
        vector = layers.UnitNormalization(name=f"{input_name}_unit")(vector)
    return keras.Model(ids, vector, name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class TwoTower(keras.Model):
    """Query and candidate towers trained with an in-batch sampled softmax (see module doc).

    ``fit`` takes batches of ``{"user": ids, "item": ids}`` (one positive pair per row).
    """

    def __init__(self, query_tower, candidate_tower, items: list[str], temperature: float = 0.1,
                 logq_correction: bool = True, **kwargs):
        super().__init__(**kwargs)
        import keras_rs

        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.items = list(items)
        self.temperature = temperature
        self.logq_correction = logq_correction
        self.item_lookup = layers.StringLookup(vocabulary=self.items, num_oov_indices=1)
        self.correction = keras_rs.layers.SamplingProbabilityCorrection()
        # Each item's share of the training interactions (index 0: unknown), set by the task.
        self.item_probability = self.add_weight(
            shape=(len(self.items) + 1,), initializer=keras.initializers.Constant(
                1.0 / (len(self.items) + 1)), trainable=False, name="item_probability")

    def set_item_probability(self, counts: np.ndarray) -> None:
        """``counts[i]``: training interactions of ``items[i]``."""
        counts = np.asarray(counts, "float64")
        self.item_probability.assign(np.r_[1.0, counts].astype("float32") / (counts.sum() + 1))

    def call(self, inputs, training=False):
        return (self.query_tower(inputs["user"], training=training),
                self.candidate_tower(inputs["item"], training=training))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        query, candidate = y_pred
        logits = tf.matmul(query, candidate, transpose_b=True) / self.temperature
        item_index = self.item_lookup(x["item"])
        if self.logq_correction:
            probability = tf.gather(self.item_probability, item_index)
            logits = self.correction(logits, tf.broadcast_to(probability[None, :],
                                                             tf.shape(logits)))
        # keras_rs' RemoveAccidentalHits (0.4) adds a tiny positive number instead of masking,
        # so the mask is applied here: another row's copy of my positive is not a negative.
        same = tf.equal(item_index[:, None], item_index[None, :])
        accidental = tf.logical_and(same, tf.logical_not(tf.eye(tf.shape(logits)[0],
                                                                dtype=tf.bool)))
        logits = tf.where(accidental, tf.fill(tf.shape(logits), -1e9), logits)
        labels = tf.range(tf.shape(logits)[0])
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return loss + tf.add_n(self.losses) if self.losses else loss

    def get_config(self):
        return {**super().get_config(),
                "query_tower": keras.saving.serialize_keras_object(self.query_tower),
                "candidate_tower": keras.saving.serialize_keras_object(self.candidate_tower),
                "items": self.items, "temperature": self.temperature,
                "logq_correction": self.logq_correction}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("query_tower", "candidate_tower"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_two_tower(users: list[str], items: list[str], dim: int = 32, temperature: float = 0.1,
                    l2: float = 0.0, logq_correction: bool = True, **_) -> TwoTower:
    model = TwoTower(build_tower(users, dim, "query_tower", "user", l2=l2),
                     build_tower(items, dim, "candidate_tower", "item", l2=l2),
                     items, temperature=temperature, logq_correction=logq_correction,
                     name="two_tower")
    model.built = True
    return model


def build_matrix_factorization(users: list[str], items: list[str], dim: int = 32,
                               l2: float = 1e-4, mean_rating: float = 3.0, **_) -> keras.Model:
    """``{"user", "item"}`` ids -> predicted rating: mean + user bias + item bias + u.v."""
    user, item = _id_input("user"), _id_input("item")
    user_tower = build_tower(users, dim, "user_tower", "user", normalize=False, l2=l2)
    item_tower = build_tower(items, dim, "item_tower", "item", normalize=False, l2=l2)
    user_bias = build_tower(users, 1, "user_bias", "user", normalize=False)
    item_bias = build_tower(items, 1, "item_bias", "item", normalize=False)
    dot = layers.Dot(axes=1)([user_tower(user), item_tower(item)])
    rating = layers.Add()([dot, user_bias(user), item_bias(item)])
    rating = layers.Rescaling(1.0, offset=mean_rating, name="rating")(rating)
    return keras.Model({"user": user, "item": item}, rating, name="matrix_factorization")


@keras.saving.register_keras_serializable(package=PACKAGE)
class ItemKNN(keras.Model):
    """Item-item cosine similarity from co-occurrence; input: users' item multi-hot rows.

    ``fit`` on multi-hot histories accumulates co-occurrence counts (one epoch is the whole
    training; more epochs scale counts and similarities alike). ``shrink`` damps similarities
    built on few co-occurrences; ``neighbours`` keeps each item's most similar items only.
    """

    def __init__(self, items: list[str], shrink: float = 10.0, neighbours: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.items = list(items)
        self.shrink = shrink
        self.neighbours = neighbours
        n = len(self.items)
        self.cooccurrence = self.add_weight(shape=(n, n), initializer="zeros", trainable=False,
                                            name="cooccurrence")
        self.built = True

    def train_step(self, data):
        history = tf.cast(data[0] if isinstance(data, tuple) else data, "float32")
        self.cooccurrence.assign_add(tf.matmul(history, history, transpose_a=True))
        return {"interactions": tf.reduce_sum(tf.linalg.diag_part(self.cooccurrence))}

    def similarity(self):
        counts = tf.linalg.diag_part(self.cooccurrence)
        norm = tf.sqrt(counts[:, None] * counts[None, :]) + self.shrink
        similarity = tf.linalg.set_diag(self.cooccurrence / norm,
                                        tf.zeros_like(counts))
        k = min(self.neighbours, len(self.items))
        kth = tf.math.top_k(similarity, k=k).values[:, -1:]
        return tf.where(similarity >= kth, similarity, 0.0)

    def call(self, history):
        return tf.matmul(tf.cast(history, "float32"), self.similarity(), transpose_b=True)

    def get_config(self):
        return {**super().get_config(), "items": self.items, "shrink": self.shrink,
                "neighbours": self.neighbours}


def build_item_knn(items: list[str], shrink: float = 10.0, neighbours: int = 50, **_) -> ItemKNN:
    return ItemKNN(items, shrink=shrink, neighbours=neighbours, name="item_knn")


def score_items(model, users: list[str], history: np.ndarray) -> np.ndarray:
    """Scores of every item in ``model.items`` order (``items`` for MF: see below) per user.

    ``history``: the users' training items as a multi-hot matrix over the same items (used by
    item_knn; the others ignore it).
    """
    if isinstance(model, ItemKNN):
        return np.asarray(model.predict(history.astype("float32"), batch_size=1024, verbose=0))
    if isinstance(model, TwoTower):
        query = model.query_tower(tf.constant(list(users)))
        candidate = model.candidate_tower(tf.constant(model.items))
        return tf.matmul(query, candidate, transpose_b=True).numpy()
    items = model_items(model)
    pairs = {"user": tf.constant(np.repeat(np.asarray(users, object), len(items)).tolist()),
             "item": tf.constant(np.tile(np.asarray(items, object), len(users)).tolist())}
    ratings = model.predict(pairs, batch_size=8192, verbose=0)
    return np.asarray(ratings).reshape(len(users), len(items))


def model_items(model) -> list[str]:
    """The item vocabulary a model ranks, in score-column order."""
    if hasattr(model, "items"):
        return list(model.items)
    lookup = model.get_layer("item_tower").get_layer("item_lookup")
    return [str(v) for v in lookup.get_vocabulary()[lookup.num_oov_indices:]]
