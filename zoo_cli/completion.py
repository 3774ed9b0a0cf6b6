"""Shell completion of component names (click calls these while completing)."""

from __future__ import annotations

import warnings

from click.shell_completion import CompletionItem


def component_names(kind: str | None):
    """A click ``shell_complete`` callback offering installed names of ``kind`` (or all)."""

    def complete(ctx, param, incomplete):
        import zoo

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            specs = zoo.registry().list(kind)
        names = sorted({n for s in specs for n in (s.name, *s.aliases)})
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]

    return complete
