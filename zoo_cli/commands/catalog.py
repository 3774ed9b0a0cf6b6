"""``zoo list``, ``zoo info`` and ``zoo completion``: what is installed, without TensorFlow."""

from __future__ import annotations

import click

import zoo
from zoo_cli.completion import component_names, kind_names
from zoo_cli.output import echo_json, echo_table


def _row(spec) -> dict:
    return {"name": spec.name, "kind": spec.kind, "plugin": spec.plugin, "summary": spec.summary,
            "aliases": list(spec.aliases), "target": spec.target}


@click.command("list")
@click.argument("kind", required=False, shell_complete=kind_names)
@click.argument("pattern", required=False, shell_complete=component_names(None))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of components.")
def list_command(kind, pattern, as_json):
    """List installed components, optionally one KIND and names matching PATTERN.

    KIND is one of backbones, heads, models, layers, losses, initializers; PATTERN is a
    shell-style wildcard matched against names and aliases. A pattern alone matches every kind.

    \b
    zoo list
    zoo list backbones 'efficientnet*'
    zoo list 'mobilenet*'
    """
    if kind and pattern is None and _is_pattern(kind):
        kind, pattern = None, kind
    specs = zoo.list(kind, pattern)
    if as_json:
        echo_json([_row(s) for s in specs])
        return
    if not specs:
        what = zoo.plural(zoo.normalize_kind(kind)) if kind else "components"
        click.echo(f"No {what} match {pattern!r}." if pattern else f"No {what} installed.")
        return
    for k in zoo.KINDS:
        group = [s for s in specs if s.kind == k]
        if not group:
            continue
        click.secho(f"{zoo.plural(k)} ({len(group)})", bold=True)
        echo_table([[s.name, s.plugin, s.summary + (f" (alias: {', '.join(s.aliases)})"
                                                    if s.aliases else "")] for s in group],
                   indent=2)


def _is_pattern(word: str) -> bool:
    """Whether ``zoo list WORD`` means a name pattern across kinds rather than a kind: it has
    wildcards or names a component. Anything else stays a kind, so a misspelt kind still gets
    its "did you mean"."""
    if any(c in word for c in "*?["):
        return True
    try:
        zoo.normalize_kind(word)
        return False
    except zoo.ZooError:
        return bool(zoo.list(None, word))


@click.command("info")
@click.argument("name", shell_complete=component_names(None))
@click.option("--json", "as_json", is_flag=True, help="Print the spec(s) as JSON.")
def info_command(name, as_json):
    """Show everything known about a component NAME (any kind)."""
    specs = zoo.registry().find(name)
    if as_json:
        echo_json([s.to_dict() for s in specs] if len(specs) > 1 else specs[0].to_dict())
        return
    for spec in specs:
        click.secho(f"{spec.name} ({spec.kind}, from {spec.plugin})", bold=True)
        for key, value in spec.to_dict().items():
            if key in ("name", "kind", "plugin") or value in ("", [], {}, None):
                continue
            if isinstance(value, (list, tuple)):
                value = ", ".join(map(str, value))
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            click.echo(f"  {key:13s} {value}")


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell):
    """Print the shell completion script: eval "$(zoo completion bash)"."""
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root().command  # the zoo group
    completer = get_completion_class(shell)(root, {}, "zoo", "_ZOO_COMPLETE")
    click.echo(completer.source())


COMMANDS = [list_command, info_command, completion_command]
