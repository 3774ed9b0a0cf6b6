"""Component lookup by kind and name: aliases, wildcards, "did you mean", clash reporting.

Names are unique per kind across all installed plugins. When two plugins claim one name, both
stay listed, the clash is reported, and using the bare name fails with a message that says how to
pick one (``dist:name``) — never a silent shadow.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import warnings
from typing import Any

from zoo import plugins as plugin_loader
from zoo.errors import ZooError
from zoo.hookspecs import KIND_HOOKS
from zoo.specs import Component

KINDS = tuple(KIND_HOOKS)


class ZooPluginWarning(UserWarning):
    """A plugin was skipped or clashes with another; the message says which and why."""


def plural(kind: str) -> str:
    return f"{kind}es" if kind.endswith("s") else f"{kind}s"


def normalize_kind(kind: str) -> str:
    """``backbones`` / ``Backbone`` -> ``backbone``; unknown kinds raise ZooError."""
    key = kind.lower().strip()
    key = {plural(k): k for k in KINDS}.get(key, key)
    if key not in KINDS:
        close = difflib.get_close_matches(key, [*KINDS, *map(plural, KINDS)], n=1)
        hint = f"did you mean {plural(normalize_kind(close[0]))!r}? " if close else ""
        raise ZooError(f"unknown kind {kind!r}; {hint}kinds are: "
                       f"{', '.join(plural(k) for k in KINDS)}")
    return key


class Registry:
    """Every installed component, indexed per kind by name and alias."""

    def __init__(self, loaded: plugin_loader.LoadedPlugins):
        self.loaded = loaded
        self.plugins = loaded.infos
        self.specs = loaded.specs
        self._index: dict[str, dict[str, list[Component]]] = {kind: {} for kind in KINDS}
        for spec in self.specs:
            for key in (spec.name, *spec.aliases):
                claims = self._index[spec.kind].setdefault(key.lower(), [])
                if spec not in claims:
                    claims.append(spec)
        self.problems = self._plugin_problems() + self._clash_problems()

    def add_commands(self, cli, data) -> list[str]:
        """Let every loaded plugin add its click commands to ``cli`` and to the ``zoo data``
        group ``data``; returns one problem line per plugin whose hook failed."""
        return plugin_loader.add_commands(self.loaded, cli, data)

    def _plugin_problems(self) -> list[str]:
        return [f"plugin {info.name} skipped: {info.error} (see 'zoo plugins list')"
                for info in self.plugins.values() if info.status == "failed"]

    def _clash_problems(self) -> list[str]:
        lines = []
        for kind, names in self._index.items():
            for key, claims in names.items():
                if len({spec.plugin for spec in claims}) > 1:
                    lines.append(f"{kind} name {key!r} is claimed by "
                                 f"{' and '.join(s.plugin for s in claims)}; "
                                 f"pick one as {' or '.join(repr(s.qualified_name) for s in claims)}")
        return lines

    def spec(self, kind: str, name: str) -> Component:
        """The spec for ``name`` (or an alias, or ``dist:name``) of ``kind``."""
        found = self.lookup(kind, name)
        if found is None:
            raise ZooError(self._unknown_message(normalize_kind(kind), name))
        return found

    def lookup(self, kind: str, name: str) -> Component | None:
        """Like :meth:`spec`, but None when no plugin registers ``name`` (a clash still raises).

        For options that take a registered name or else a Keras one (``--loss``, ``--head-init``).
        """
        kind = normalize_kind(kind)
        if not isinstance(name, str) or not name:
            raise ZooError(f"a {kind} name must be a non-empty string")
        dist, sep, short = name.rpartition(":")
        claims = self._index[kind].get((short if sep else name).lower(), [])
        if sep:
            claims = [s for s in claims if plugin_loader.normalize(s.plugin) ==
                      plugin_loader.normalize(dist)]
        if len(claims) == 1:
            return claims[0]
        if len(claims) > 1:
            raise ZooError(f"{kind} {name!r} is provided by {' and '.join(s.plugin for s in claims)}; "
                           f"use {' or '.join(repr(s.qualified_name) for s in claims)}, or disable "
                           f"one with ZOO_DISABLE_PLUGINS")
        return None

    def _unknown_message(self, kind: str, name: str) -> str:
        elsewhere = [s.kind for other in KINDS if other != kind
                     for s in self._index[other].get(name.lower(), [])]
        if elsewhere:
            return f"{name!r} is a {elsewhere[0]}, not a {kind}"
        return f"unknown {kind} {name!r}; " + self._not_found_hint(
            name, list(self._index[kind]), f"see 'zoo list {plural(kind)}'")

    def _not_found_hint(self, name: str, names: list[str], otherwise: str) -> str:
        """After "unknown NAME": the plugins that failed to load (one of them may provide it: a
        "did you mean" would point elsewhere), else the close ``names``, else ``otherwise``."""
        failed = [info for info in self.plugins.values() if info.status == "failed"]
        if len(failed) == 1:
            return f"it may come from {failed[0].name}, which {self.why_not_loaded(failed[0].name)}"
        if failed:
            return f"it may come from {' or '.join(info.name for info in failed)}, which " \
                   f"failed to load: see 'zoo plugins list'"
        close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
        return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else otherwise

    def why_not_loaded(self, name: str) -> str:
        """Why plugin distribution ``name`` is not in use, and the fix, to follow "NAME, which"
        ("is not installed: zoo plugins install NAME"); "" when it is in use."""
        info = self.plugins.get(plugin_loader.normalize(name))
        if info is None:
            return f"is not installed: zoo plugins install {name}"
        if info.status == "disabled":
            return "is disabled: enable it in ZOO_LOAD_PLUGINS / ZOO_DISABLE_PLUGINS"
        if info.status == "failed":
            return f"failed to load ({info.error}): fix or reinstall it, see 'zoo plugins list'"
        return ""

    def get(self, kind: str, name: str) -> Any:
        """The imported target object (a class or builder function) for ``name``."""
        return self.spec(kind, name).load()

    def list(self, kind: str | None = None, pattern: str | None = None) -> list[Component]:
        """Specs of one kind (or all), optionally filtered by a wildcard on name or alias."""
        kinds = [normalize_kind(kind)] if kind else list(KINDS)
        rows = [s for s in self.specs if s.kind in kinds]
        if pattern:
            pattern = pattern.lower()
            rows = [s for s in rows
                    if any(fnmatch.fnmatchcase(n.lower(), pattern) for n in (s.name, *s.aliases))]
        order = {k: i for i, k in enumerate(KINDS)}
        return sorted(rows, key=lambda s: (order[s.kind], s.name, s.plugin))

    def find(self, name: str) -> list[Component]:
        """Every spec of any kind answering to ``name`` (for ``zoo info``)."""
        dist, sep, short = name.rpartition(":")
        found = [s for kind in KINDS for s in self._index[kind].get(short.lower(), [])]
        if sep:
            found = [s for s in found
                     if plugin_loader.normalize(s.plugin) == plugin_loader.normalize(dist)]
        if not found:
            everything = [k for kind in KINDS for k in self._index[kind]]
            raise ZooError(f"no component named {name!r}; " +
                           self._not_found_hint(name, everything, "see 'zoo list'"))
        return found


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loading plugins on first use."""
    global _registry
    if _registry is None:
        _registry = Registry(plugin_loader.load(os.environ))
        for line in _registry.problems:
            warnings.warn(line, ZooPluginWarning, stacklevel=2)
    return _registry


def reload_plugins() -> Registry:
    """Forget the loaded plugins and load again (after installing one, or changing env vars)."""
    import importlib

    global _registry
    _registry = None
    plugin_loader.activate_new_path_files()  # an editable install's path or import hook
    importlib.invalidate_caches()  # a package pip just wrote must be importable
    return registry()
