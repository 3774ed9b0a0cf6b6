"""The plugin contract: the hooks a keras-zoo plugin may implement, and the modules it may import.

Each component hook returns a list of specs (:class:`zoo.Component` and friends). A plugin module
declares the contract versions it was written for with ``ZOO_CONTRACT = 2`` (an int or a tuple
of ints); a module that declares none is taken to target version 1.

Contract 2 added the Task API v2 (:mod:`zoo.tasks`: preprocessors, callbacks, ``export_spec``
feeding the core's one export pipeline), the ``zoo_callbacks`` hook and the declared plugin
API (:data:`PLUGIN_API`). Contract 3 added what a task is judged on (``Task.MONITOR`` and
``HEADLINE``), stages that train a substitute model, the ``zoo_data_commands`` and
``zoo_after_export`` hooks, a callback's ``on_run_end(run)``, and :mod:`zoo.testing`. Each
contract keeps the hooks of the ones before, so plugins written for them load unchanged.
"""

import pluggy

#: Version of this contract. Bump on a breaking change; keep old versions in SUPPORTED_CONTRACTS
#: for as long as the loader can still serve them.
CONTRACT_VERSION = 3
SUPPORTED_CONTRACTS = frozenset({1, 2, 3})

#: The modules a plugin may import from keras-zoo, each exporting its API in ``__all__``.
#: Anything else in the core is internal and may change without a contract bump.
PLUGIN_API = ("zoo", "zoo.tasks", "zoo.training", "zoo.runs", "zoo.io", "zoo.data",
              "zoo.metrics", "zoo.plots", "zoo.reports", "zoo.progress", "zoo.weights",
              "zoo.testing")

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


@hookspec
def zoo_data_commands(data):
    """Add click commands to ``zoo data`` (the click group passed as ``data``): sample data
    sets a plugin's models train on, as ``@data.command("name")`` (contract 3)."""


@hookspec
def zoo_callbacks(run, task):
    """Return a list of Keras callbacks to add to a training run of any task (contract 2).

    ``run`` is the :class:`zoo.runs.Run` being written (``run.path``), ``task`` the
    :class:`zoo.tasks.Task` training it (``task.name``, ``task.model_name``, ``task.options``).
    Called once per run, before training; import Keras inside the function. The callbacks see
    the run's epoch index (0-based across stages and ``--resume``); one that raises is dropped
    from the run with a warning. A callback's ``on_run_end(run)``, if it has one, is called once
    the run's model, metrics.json, curves and report.html are written (contract 3).
    """


@hookspec
def zoo_after_export(run, report):
    """Called after ``zoo export`` wrote and verified an artifact of ``run``; ``report`` is the
    export's report (``report["artifact"]`` is the path; ``format``, ``quantize``,
    ``size_bytes``, ``passed``). A tracker logs the file here (contract 3)."""


#: Hooks added after contract 1, by the contract version that introduced them.
HOOK_CONTRACTS = {"zoo_callbacks": 2, "zoo_data_commands": 3, "zoo_after_export": 3}

#: Component kinds, in display order, and the hook that supplies each.
KIND_HOOKS = {
    "backbone": "zoo_backbones",
    "head": "zoo_heads",
    "model": "zoo_models",
    "layer": "zoo_layers",
    "loss": "zoo_losses",
    "initializer": "zoo_initializers",
}
