"""The text recipe: the text task's defaults resolved from its training texts, as
:mod:`zoo.recipes` does for images.

Fixed defaults fit the set they were tuned on and fail elsewhere (issue 22): a 2,000-word
vocabulary holds a third of the distinct words of 3,400 technical sentences, 80 tokens pad
sentences of 15 words with 65 steps of nothing, and a set of 2,000 texts peaks after 2-5 epochs
where one of 600 often needs 10 or more. So the vocabulary, the sequence length, the embedding
width, dropout, epochs and patience are read from the number and length of the training texts,
unless the user gives them; the engine logs them in one line and stores them in config.json, and
``--resume`` reads them back.

Pure arithmetic on word counts: importing this module needs nothing but the standard library.
"""

from __future__ import annotations

import math
import re
from collections import Counter

#: What Keras' ``TextVectorization`` strips by default (``lower_and_strip_punctuation``), so the
#: words counted here are the words its vocabulary holds.
PUNCTUATION = re.compile(r'[!"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~\']')
#: The vocabulary is every word of the training split, up to MAX_TOKENS (the most frequent):
#: keeping only the words seen twice cost the n-gram model up to 5 points of its ratio to TF-IDF
#: on each benchmark set (names and rare terms recur in held-out texts; TF-IDF keeps them too).
MAX_TOKENS = 30000
#: Tokens kept per text: this quantile of the training texts' lengths in words, rounded up to a
#: multiple of LENGTH_STEP, within LENGTH_RANGE (longer texts are cut at the end).
LENGTH_QUANTILE = 0.95
LENGTH_STEP = 8
LENGTH_RANGE = (8, 256)
#: Below this many training texts a set is small: narrower embeddings, more dropout.
SMALL_SET = 1500
EMBEDDING_DIM = {True: 32, False: 64}
DROPOUT = {True: 0.4, False: 0.3}
#: Epochs give about this many optimizer steps (at the run's batch size) within EPOCH_RANGE;
#: patience is a quarter of them, at least MIN_PATIENCE.
TRAIN_STEPS = 1200
EPOCH_RANGE = (15, 40)
MIN_PATIENCE = 5


def words(text: str) -> list[str]:
    """``text`` as ``TextVectorization`` splits it: lower case, punctuation dropped."""
    return PUNCTUATION.sub("", text.lower()).split()


def quantile(values, q: float) -> int:
    """The ``q`` quantile of ``values`` (nearest rank; 0 for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else 0


def text_statistics(texts) -> dict:
    """What the recipe reads from the training texts: how many, their median and long
    (:data:`LENGTH_QUANTILE`) length in words, and how many distinct words they hold."""
    counts, lengths = Counter(), []
    for text in texts:
        tokens = words(text)
        counts.update(tokens)
        lengths.append(len(tokens))
    return {"texts": len(lengths), "median_words": quantile(lengths, 0.5),
            "long_words": quantile(lengths, LENGTH_QUANTILE),
            "distinct_words": len(counts)}


def text_defaults(stats: dict, batch_size: int) -> dict:
    """The data-dependent defaults of the text task for training texts with ``stats``
    (:func:`text_statistics`), trained at ``batch_size``."""
    small = stats["texts"] < SMALL_SET
    low, high = LENGTH_RANGE
    length = min(high, max(low, LENGTH_STEP * math.ceil(stats["long_words"] / LENGTH_STEP)))
    steps_per_epoch = max(1, math.ceil(stats["texts"] / batch_size))
    low, high = EPOCH_RANGE
    epochs = min(high, max(low, math.ceil(TRAIN_STEPS / steps_per_epoch)))
    return {"max_tokens": min(MAX_TOKENS, stats["distinct_words"] + 2),  # + padding, unknown
            "sequence_length": length, "embedding_dim": EMBEDDING_DIM[small],
            "dropout": DROPOUT[small], "epochs": epochs,
            "patience": max(MIN_PATIENCE, epochs // 4)}


def describe(stats: dict) -> str:
    """The recipe's basis in words, for the log line and config.json."""
    return (f"{stats['texts']:,} training texts of {stats['median_words']} words (median), "
            f"{stats['distinct_words']:,} distinct words")
