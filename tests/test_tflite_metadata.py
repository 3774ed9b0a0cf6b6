"""Standard TFLite metadata, checked in the stock ``mediapipe`` package's own C++ readers: the
regex tokenizer that stands for Keras' TextVectorization, and the metadata's version."""

from __future__ import annotations

import json

import pytest

from zoo import tflite_metadata
from zoo.tasks import RegexTokenizer, StandardMetadata

keras = pytest.importorskip("keras")
pytest.importorskip("mediapipe")

TRAINING_TEXTS = ["Don't panic: the Answer is 42!", "O'Brien's e-mail (re: SPAM) -- again...",
                  "Self-piercing earrings, über-cool and NAÏVE", "a b c"]
#: Spellings seen in training, their case variants, unseen ones and punctuation-only words.
SENTENCES = ["don't PANIC, the answer: 42", "DON'T Panic!!! o'brien's E-MAIL re SPAM",
             "...Again -- and again ... !!!", "unknownword über Über ÜBER naïve NAÏVE",
             "  tabs\tand\nnew lines\x0bvertical  ", "(self-piercing) [earrings] {a} <b> c.",
             "", "!!!", "42 " * 20]
LENGTH = 12


def _echo_model(tmp_path, vectorizer):
    """A .tflite whose TextClassifier "scores" are the token ids it is fed (category i = id at
    position i), with the tokenizer for ``vectorizer`` in its standard metadata."""
    import tensorflow as tf

    from zoo.exporting import convert_tflite

    echo = tf.function(lambda ids: tf.cast(ids, tf.float32),
                       input_signature=[tf.TensorSpec([1, LENGTH], tf.int32)])
    tokenizer = RegexTokenizer.for_text_vectorization(vectorizer.get_vocabulary(), TRAINING_TEXTS)
    standard = StandardMetadata("text_classifier", "echo", "token ids as scores", "1", "tests",
                                tokenizer=tokenizer)
    path = tmp_path / "echo.tflite"
    flatbuffer = convert_tflite(echo.get_concrete_function(), "none")
    path.write_bytes(tflite_metadata.write(flatbuffer, standard, [str(i) for i in range(LENGTH)]))
    return path


def test_mediapipe_tokenizes_raw_text_into_keras_ids(tmp_path):
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core.base_options import BaseOptions

    vectorizer = keras.layers.TextVectorization(output_sequence_length=LENGTH)
    vectorizer.adapt(TRAINING_TEXTS)
    path = _echo_model(tmp_path, vectorizer)
    options = text.TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)))
    with text.TextClassifier.create_from_options(options) as classifier:
        def mediapipe_ids(sentence):
            ids = [0] * LENGTH
            for category in classifier.classify(sentence).classifications[0].categories:
                ids[category.index] = round(category.score)
            return ids

        for sentence in SENTENCES:
            assert mediapipe_ids(sentence) == vectorizer([sentence]).numpy()[0].tolist(), sentence
        # The one gap: a spelling seen nowhere, in no listed case, is unknown (Keras: "dont").
        unseen = vectorizer(["dOn'T panic"]).numpy()[0].tolist()
        assert mediapipe_ids("dOn'T panic") == [1, *unseen[1:]] and unseen[0] > 1


def test_a_spelling_seen_nowhere_is_unknown_to_the_tokenizer():
    vocabulary = ["", "[UNK]", "dont", "panic"]
    table = RegexTokenizer.for_text_vectorization(vocabulary, ["Don't"]).vocabulary
    assert table["<PAD>"] == 0 and table["<UNKNOWN>"] == 1
    assert table["dont"] == table["Dont"] == table["DONT"] == table["Don't"] == table["DON'T"] == 2
    assert "dOn'T" not in table and "PANIC" in table and table["don't"] == 2
    with pytest.raises(ValueError, match="TextVectorization vocabulary"):
        RegexTokenizer.for_text_vectorization(["the", "a"])


def test_minimum_parser_version_follows_the_schema_members_used(tmp_path):
    from mediapipe.tasks.python.metadata import metadata

    vectorizer = keras.layers.TextVectorization(output_sequence_length=LENGTH)
    vectorizer.adapt(TRAINING_TEXTS)
    displayed = json.loads(metadata.MetadataDisplayer.with_model_file(
        str(_echo_model(tmp_path, vectorizer))).get_metadata_json())
    assert displayed["min_parser_version"] == "1.2.1"  # RegexTokenizerOptions came in 1.2.1
    assert (displayed["name"], displayed["version"], displayed["author"]) == ("echo", "1", "tests")


def test_a_model_with_a_while_loop_is_refused_in_one_line():
    import tensorflow as tf

    from zoo import ZooError
    from zoo.exporting import convert_tflite

    def loop(x):
        return tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2.0), (0, x))[1]

    looped = tf.function(loop, input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    flatbuffer = convert_tflite(looped.get_concrete_function(), "none")
    standard = StandardMetadata("image_classifier", "loop", "", "1", "tests")
    with pytest.raises(ZooError, match="one subgraph, and this one has 3") as error:
        tflite_metadata.write(flatbuffer, standard, ["a", "b", "c", "d"])
    assert "\n" not in str(error.value)
