"""zoo-kerashub: the KerasHub image backbones as keras-zoo backbones.

Light on purpose: the hook module (:mod:`zoo_kerashub.plugin`) and :mod:`zoo_kerashub.catalog`
are imported whenever plugins are listed and never import keras_hub; the Keras code lives in
:mod:`zoo_kerashub.backbones`, imported only when a backbone is built or its preset fetched.
"""

__version__ = "0.1.0"
