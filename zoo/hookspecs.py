"""The plugin contract: the hooks a keras-zoo plugin may implement.

Each component hook returns a list of specs (:class:`zoo.Component` and friends). A plugin module
declares the contract versions it was written for with ``ZOO_CONTRACT = 1`` (an int or a tuple
of ints); a module that declares none is taken to target version 1.
"""

import pluggy

#: Version of this contract. Bump on a breaking change; keep old versions in SUPPORTED_CONTRACTS
#: for as long as the loader can still serve them.
CONTRACT_VERSION = 1
SUPPORTED_CONTRACTS = frozenset({1})

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_layers():
    """Return :class:`zoo.Component` specs for Keras ``Layer`` subclasses."""


@hookspec
def zoo_losses():
    """Return :class:`zoo.Component` specs for Keras ``Loss`` subclasses or loss functions."""


@hookspec
def zoo_initializers():
    """Return :class:`zoo.Component` specs for Keras ``Initializer`` subclasses."""


@hookspec
def zoo_backbones():
    """Return :class:`zoo.Backbone` specs: ``build(input_shape, weights) -> keras.Model``."""


@hookspec
def zoo_heads():
    """Return :class:`zoo.Head` specs: ``build(num_outputs, **options) -> keras Layer``."""


@hookspec
def zoo_models():
    """Return :class:`zoo.Model` specs: ``build(**options) -> keras.Model``, naming their task."""


@hookspec
def zoo_commands(cli):
    """Add click commands to the ``zoo`` group passed as ``cli`` (``@cli.command()``)."""


#: Component kinds, in display order, and the hook that supplies each.
KIND_HOOKS = {
    "backbone": "zoo_backbones",
    "head": "zoo_heads",
    "model": "zoo_models",
    "layer": "zoo_layers",
    "loss": "zoo_losses",
    "initializer": "zoo_initializers",
}
