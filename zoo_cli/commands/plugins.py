"""``zoo plugins``: list, install and uninstall plugin distributions."""

from __future__ import annotations

import subprocess
import sys

import click

import zoo
from zoo_cli.output import echo_json, echo_table, echo_warnings, quiet_registry


@click.group("plugins")
def plugins_group():
    """Manage plugins (pip distributions with entry points in the 'zoo' group)."""


@plugins_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of plugins.")
@click.option("--requirements", is_flag=True, help="Also show what each plugin requires.")
def list_plugins(as_json, requirements):
    """Show installed plugins, their versions, status and components."""
    infos = list(zoo.registry().plugins.values())
    if as_json:
        rows = []
        for info in infos:
            row = info.to_dict()
            if requirements:
                row["requires"] = info.requires
            rows.append(row)
        echo_json(rows)
        return
    rows = []
    for info in infos:
        detail = info.error if info.error else _components(info)
        rows.append([info.name, info.version, info.status, detail])
        if requirements and info.requires:
            rows.append(["", "", "", "requires: " + ", ".join(info.requires)])
    echo_table(rows, headers=["PLUGIN", "VERSION", "STATUS", "COMPONENTS / ERROR"])


def _components(info) -> str:
    """``1 backbone, 2 layer``: how many components of each kind a plugin provides."""
    return ", ".join(f"{n} {k}" for k, n in sorted(info.counts.items()))


def _pip(*args: str) -> None:
    """Run pip in the running environment, so plugins land where ``zoo`` runs (like llm install)."""
    result = subprocess.run([sys.executable, "-m", "pip", *args])
    if result.returncode != 0:
        raise zoo.ZooError(f"pip {args[0]} failed (exit {result.returncode}); see pip's output above")


@plugins_group.command("install")
@click.argument("packages", nargs=-1, required=True)
@click.option("-e", "--editable", is_flag=True, help="Install a local path in editable mode.")
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade if already installed.")
def install_plugins(packages, editable, upgrade):
    """Install plugins by name (from the package index) or PATH into this environment."""
    args = ["install"] + (["--upgrade"] if upgrade else [])
    for package in packages:
        args += ["-e", package] if editable else [package]
    told = set(zoo.registry().problems)  # printed when the command started
    before = {key: (info.version, info.status) for key, info in zoo.registry().plugins.items()}
    _pip(*args)
    registry = quiet_registry(reload=True)
    echo_warnings(line for line in registry.problems if line not in told)
    for key, info in registry.plugins.items():  # loaded in this very process, editable ones too
        if info.loaded and before.get(key) != (info.version, info.status):
            click.echo(f"Loaded {info.name} {info.version}: {_components(info) or 'no components'}")
    click.echo("Installed. 'zoo plugins list' shows every plugin, 'zoo list' their components.")


@plugins_group.command("uninstall")
@click.argument("packages", nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall_plugins(packages, yes):
    """Uninstall plugin distributions from this environment."""
    _pip("uninstall", *(["-y"] if yes else []), *packages)


@plugins_group.command("new")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True,
              type=click.Path(file_okay=False), help="Where to create zoo-NAME/.")
@click.option("--kinds", default=",".join(zoo.KINDS), show_default=True, metavar="KIND,...",
              help="Which components to write, one of each; add 'task' for a Task of the "
                   "plugin's own (checked by zoo.testing.check_task) and 'callbacks' for a "
                   "zoo_callbacks hook.")
def new_plugin(name, directory, kinds):
    """Create a plugin package zoo-NAME/ with one working part per kind, and its tests."""

    root = zoo.new_plugin(name, directory, kinds)
    click.echo(f"Created {root}")
    click.echo(f"Next: zoo plugins install -e {root} && python -m pytest {root / 'tests'}")


COMMANDS = [plugins_group]
