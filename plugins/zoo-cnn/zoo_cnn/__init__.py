"""zoo-cnn: convolutional backbones, layers and initializers for small images trained from scratch.

Light on purpose: the hook module (:mod:`zoo_cnn.plugin`) is imported whenever plugins are
listed; the Keras code lives in :mod:`zoo_cnn.layers`, :mod:`zoo_cnn.initializers` and
:mod:`zoo_cnn.backbones`, imported only when a component is built.
"""

__version__ = "0.1.0"
