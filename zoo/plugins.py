"""Finding and loading plugins: entry points in the ``zoo`` group, each behind its own guard.

A plugin that fails to import, targets an unsupported contract, misspells a hook or whose hook
raises is recorded as failed (with the error) and skipped; it never stops the others. Plugins are
named by their distribution, like pip and ``zoo plugins list`` show them.
"""

from __future__ import annotations

import os
import re
import site
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from zoo import hookspecs
from zoo.errors import ZooError
from zoo.specs import Backbone, Component, Head, Model

ENTRY_POINT_GROUP = "zoo"
#: The core registers its own keras.applications backbones as a plugin of this name.
BUILTIN_PLUGIN = "keras-zoo"
BUILTIN_MODULES = ("zoo.backbones",)

#: The spec class each kind's hook must return.
KIND_SPEC = {"backbone": Backbone, "head": Head, "model": Model,
             "layer": Component, "loss": Component, "initializer": Component}


@dataclass
class PluginInfo:
    """One plugin distribution and how loading it went."""

    name: str
    version: str
    modules: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | partial (commands failed) | failed | disabled
    error: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        """Whether its components are in use (``partial``: only its commands failed)."""
        return self.status in ("ok", "partial")

    def to_dict(self) -> dict:
        row = {"name": self.name, "version": self.version, "status": self.status,
               "modules": self.modules, "components": self.counts}
        if self.error:
            row["error"] = self.error
        return row


@dataclass
class LoadedPlugins:
    """Everything the loader found: the pluggy manager, per-plugin records and their specs."""

    manager: pluggy.PluginManager
    infos: dict[str, PluginInfo]
    specs: list[Component]


def normalize(name: str) -> str:
    """PEP 503 form of a distribution name, so ``Zoo_CNN`` and ``zoo-cnn`` are the same plugin."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def _name_set(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {normalize(part) for part in value.split(",") if part.strip()}


def _describe(exc: BaseException) -> str:
    """One line: the exception's type and first line (a ZooError's message says enough alone)."""
    text = str(exc).strip().splitlines()
    if isinstance(exc, ZooError) and text:
        return text[0]
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _declared_contracts(module) -> set[int]:
    declared = getattr(module, "ZOO_CONTRACT", 1)
    return {declared} if isinstance(declared, int) else set(declared)


def _check_contract(module) -> None:
    versions = _declared_contracts(module)
    if not versions & hookspecs.SUPPORTED_CONTRACTS:
        have = ", ".join(map(str, sorted(hookspecs.SUPPORTED_CONTRACTS)))
        raise ZooError(f"written for plugin contract {sorted(versions)}, this keras-zoo supports "
                       f"{have}; upgrade the plugin or keras-zoo")


def _check_hook_names(module) -> None:
    """Reject a ``@zoo.hookimpl`` that names no hook (a misspelt hook would silently never run),
    or a hook newer than the contract the module declares.

    pluggy's ``check_pending`` catches unknown names too; this adds the "did you mean".
    """
    known = set(hookspecs.KIND_HOOKS.values()) | {"zoo_commands", *hookspecs.HOOK_CONTRACTS}
    newest = max(_declared_contracts(module))
    declared = f"the module declares {newest}" if hasattr(module, "ZOO_CONTRACT") else \
        "the module declares none, which means contract 1"
    for attr in dir(module):
        marked = hasattr(getattr(module, attr), "zoo_impl")  # pluggy's marker attribute
        if marked and attr not in known:
            import difflib
            close = difflib.get_close_matches(attr, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ZooError(f"unknown hook {attr}{hint}")
        needs = hookspecs.HOOK_CONTRACTS.get(attr, 1)
        if marked and needs > newest:
            raise ZooError(f"hook {attr} is part of plugin contract {needs}; declare "
                           f"ZOO_CONTRACT = {needs} ({declared})")


def _entry_points():
    """(distribution name, version, requirements, entry point) for every ``zoo`` entry point."""
    def order(ep):  # by distribution, so listings and warnings come in a stable order
        return normalize(ep.dist.name if ep.dist is not None else ep.name), ep.name

    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=order):
        dist = ep.dist
        name = dist.metadata["Name"] if dist is not None else ep.name
        version = dist.version if dist is not None else "?"
        requires = list(dist.requires or []) if dist is not None else []
        yield name, version, requires, ep


def _path_files() -> set[tuple[str, str]]:
    """(directory, name) of every .pth file in the site directories Python reads at startup."""
    directories = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    found = set()
    for directory in directories:
        try:
            found.update((directory, name) for name in os.listdir(directory)
                         if name.endswith(".pth"))
        except OSError:  # a site directory that does not exist (yet)
            continue
    return found


#: The .pth files Python processed when this process started (zoo is imported at startup).
_processed_path_files = _path_files()


def activate_new_path_files() -> None:
    """Process the .pth files written since startup, as :mod:`site` did for the others.

    ``pip install -e`` makes a package importable only through a .pth file: a path line, or
    setuptools' import hook (``__editable__.*.pth``). Without this, a plugin installed
    editable by ``zoo plugins install -e`` fails to import until the next process.
    """
    for directory, name in sorted(_path_files() - _processed_path_files):
        site.addpackage(directory, name, None)
        _processed_path_files.add((directory, name))


def _core_version() -> str:
    try:
        return metadata.version(BUILTIN_PLUGIN)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load(environ=os.environ) -> LoadedPlugins:
    """Load every installed plugin (honouring ZOO_DISABLE_PLUGINS / ZOO_LOAD_PLUGINS)."""
    import importlib

    disabled = _name_set(environ.get("ZOO_DISABLE_PLUGINS")) or set()
    allowed = _name_set(environ.get("ZOO_LOAD_PLUGINS"))
    manager = pluggy.PluginManager("zoo")
    manager.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}

    candidates = [(BUILTIN_PLUGIN, _core_version(), [], m, None) for m in BUILTIN_MODULES]
    candidates += [(n, v, r, ep.value, ep) for n, v, r, ep in _entry_points()]
    for dist, version, requires, module_name, ep in candidates:
        info = infos.setdefault(normalize(dist), PluginInfo(dist, version, requires=requires))
        info.modules.append(module_name)
        key = normalize(dist)
        # The core's own backbones are not subject to the allow-list, only to explicit disabling.
        if key in disabled or (ep is not None and allowed is not None and key not in allowed):
            info.status = "disabled"
            continue
        if info.status == "failed":
            continue
        try:
            module = ep.load() if ep is not None else importlib.import_module(module_name)
            _check_contract(module)
            _check_hook_names(module)
            manager.register(module, name=f"{key}/{module_name}")
            manager.check_pending()
        except Exception as exc:  # a broken plugin must never take the others down
            info.status, info.error = "failed", _describe(exc)
            _unregister(manager, key)

    specs = []
    for key, info in infos.items():
        if info.status != "ok":
            continue
        try:
            found = _collect_specs(manager, key, info.name)
        except Exception as exc:
            info.status, info.error = "failed", _describe(exc)
            _unregister(manager, key)
            continue
        for spec in found:
            info.counts[spec.kind] = info.counts.get(spec.kind, 0) + 1
        specs.extend(found)
    return LoadedPlugins(manager, infos, specs)


def _unregister(manager: pluggy.PluginManager, key: str) -> None:
    for plugin_name, plugin in list(manager.list_name_plugin()):
        if plugin_name.startswith(key + "/"):
            manager.unregister(plugin)


def _own_impls(manager: pluggy.PluginManager, hook_name: str, key: str):
    hook = getattr(manager.hook, hook_name)
    return [impl for impl in hook.get_hookimpls() if impl.plugin_name.startswith(key + "/")]


def _collect_specs(manager: pluggy.PluginManager, key: str, dist: str) -> list[Component]:
    """Call one plugin's component hooks and stamp each spec with its kind and plugin."""
    import dataclasses

    found = []
    for kind, hook_name in hookspecs.KIND_HOOKS.items():
        for impl in _own_impls(manager, hook_name, key):
            try:
                result = impl.function()
            except Exception as exc:
                raise ZooError(f"{hook_name} raised {_describe(exc)}") from exc
            for spec in result or ():
                expected = KIND_SPEC[kind]
                if not isinstance(spec, expected):
                    raise ZooError(f"{hook_name} returned {type(spec).__name__} "
                                   f"{getattr(spec, 'name', spec)!r}; expected zoo.{expected.__name__}")
                found.append(dataclasses.replace(spec, kind=kind, plugin=dist))
    return found


def call_each(loaded: LoadedPlugins, hook_name: str, **kwargs):
    """Call every loaded plugin's implementation of ``hook_name``, each behind its own guard;
    yields (PluginInfo, result, exception or None)."""
    for key, info in loaded.infos.items():
        if not info.loaded:
            continue
        for impl in _own_impls(loaded.manager, hook_name, key):
            try:
                yield info, impl.function(**kwargs), None
            except Exception as exc:  # a broken plugin must never take the others down
                yield info, None, exc


def add_commands(loaded: LoadedPlugins, cli, data) -> list[str]:
    """Let each plugin add click commands to ``cli`` (``zoo_commands``) and to the ``zoo data``
    group ``data`` (``zoo_data_commands``); returns one problem line per plugin that failed,
    whose status becomes ``partial`` (its components still load, its commands do not)."""
    problems = []
    for hook, kwargs in (("zoo_commands", {"cli": cli}), ("zoo_data_commands", {"data": data})):
        for info, _, exc in call_each(loaded, hook, **kwargs):
            if exc is not None:
                info.status = "partial"
                info.error = f"{hook} raised {_describe(exc)}; its components load, its " \
                             f"commands do not"
                problems.append(f"plugin {info.name} could not add its commands: "
                                f"{_describe(exc)}")
    return problems
