"""Shell completion of kinds and component names (click calls these while completing)."""

from __future__ import annotations

import warnings

from click.shell_completion import CompletionItem

import zoo


def kind_names(ctx, param, incomplete):
    """Complete a KIND argument: ``backbones``, ``heads``, ..."""
    return [CompletionItem(zoo.plural(k)) for k in zoo.KINDS
            if zoo.plural(k).startswith(incomplete)]


def component_names(kind: str | None):
    """A click ``shell_complete`` callback offering installed names of ``kind``.

    With ``kind=None`` it uses the command's KIND argument when one was given, else every kind.
    """

    def complete(ctx, param, incomplete):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                specs = zoo.registry().list(kind or ctx.params.get("kind"))
            except zoo.ZooError:  # a mistyped KIND earlier on the line: offer nothing
                return []
        names = sorted({n for s in specs for n in (s.name, *s.aliases)})
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]

    return complete
