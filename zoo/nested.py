"""Walking Keras models inside models: a zoo classifier nests the model ``backbone`` (and a
KerasHub backbone nests keras-hub's own model inside that).

Light on purpose (no Keras import: it only follows ``.layers``), so ``zoo.weights`` can use it
while staying importable by ``zoo list``.
"""

from __future__ import annotations


def nested_layers(layer):
    """Every layer inside ``layer``, depth first, nested models' layers included."""
    for inner in getattr(layer, "layers", ()):
        yield inner
        yield from nested_layers(inner)
