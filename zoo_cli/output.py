"""Printing helpers shared by commands: tables, JSON and plugin warnings."""

from __future__ import annotations

import json
import warnings

import click

import zoo


def echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def echo_table(rows: list[list[str]], headers: list[str] | None = None, indent: int = 0) -> None:
    """Left-aligned columns; the last column is left to wrap freely."""
    table = ([headers] if headers else []) + [[str(c) for c in row] for row in rows]
    if not table:
        return
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for n, row in enumerate(table):
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        line = " " * indent + "  ".join(cells).rstrip()
        click.echo(click.style(line, bold=True) if headers and n == 0 else line)


def quiet_registry(reload: bool = False):
    """The plugin registry (loaded again after an install with ``reload``), its problems held
    back as Python warnings: the CLI prints each one as its own ``zoo: warning:`` line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", zoo.ZooPluginWarning)
        return zoo.reload_plugins() if reload else zoo.registry()


def echo_warnings(lines) -> None:
    for line in lines:
        click.secho(f"zoo: warning: {line}", fg="yellow", err=True)
