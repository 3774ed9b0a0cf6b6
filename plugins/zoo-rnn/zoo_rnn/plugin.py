"""The hook module of zoo-rnn: specs and the ``zoo data`` sample sets; no TensorFlow."""

import zoo

ZOO_CONTRACT = 3

TEXT_TASK = "zoo_rnn.tasks:TextClassificationTask"
FORECAST_TASK = "zoo_rnn.tasks:ForecastingTask"


@zoo.hookimpl
def zoo_models():
    return [
        zoo.Model("lstm_classifier", "zoo_rnn.models:lstm_classifier", task=TEXT_TASK,
                  summary="Text classifier: embedding, LSTM, masked mean+max pooling"),
        zoo.Model("gru_classifier", "zoo_rnn.models:gru_classifier", task=TEXT_TASK,
                  summary="Text classifier: embedding, GRU, masked mean+max pooling"),
        zoo.Model("bilstm_attention", "zoo_rnn.models:bilstm_attention", task=TEXT_TASK,
                  summary="Text classifier: embedding, bidirectional LSTM, attention pooling"),
        zoo.Model("ngram_classifier", "zoo_rnn.models:ngram_classifier", task=TEXT_TASK,
                  summary="Text classifier (fastText): mean of word and word-bigram embeddings"),
        zoo.Model("lstm_forecaster", "zoo_rnn.models:lstm_forecaster", task=FORECAST_TASK,
                  summary="Time-series forecaster: a window of past values -> the next ones"),
    ]


@zoo.hookimpl
def zoo_layers():
    return [
        zoo.Component("attention_pooling", "zoo_rnn.layers:AttentionPooling",
                      summary="Learned attention weights over time steps, masked; a weighted sum"),
        zoo.Component("hashed_bigrams", "zoo_rnn.layers:HashedBigrams",
                      summary="Token ids -> hashed ids of neighbouring token pairs (fastText)"),
        zoo.Component("masked_pooling", "zoo_rnn.layers:MaskedGlobalPooling",
                      aliases=("masked_mean_max_pooling",),
                      summary="Mean, max or both over time steps, ignoring padding"),
    ]


@zoo.hookimpl
def zoo_data_commands(data):
    """``zoo data fortunes``, ``quotes``, ``docstrings`` and ``stocks``, beside the core's
    ``zoo data digits``."""
    from zoo_rnn.commands import DATA_COMMANDS

    for command in DATA_COMMANDS:
        data.add_command(command)
