"""zoo-rnn: recurrent models for text classification and time-series forecasting.

Light on purpose: the hook module (:mod:`zoo_rnn.plugin`), the tasks (:mod:`zoo_rnn.tasks`) and
the sample data (:mod:`zoo_rnn.datasets`) import TensorFlow only inside functions.
"""

__version__ = "0.1.0"
