"""The ``zoo`` group: global options, plugin commands, and one-line errors.

Built-in commands live in ``zoo_cli.commands``; each module there exposes ``COMMANDS``. Plugin
commands are added through the ``zoo_commands(cli)`` hook the first time a command is looked up,
after ``--no-plugin`` has been applied.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from zoo.errors import ZooError

#: Modules under zoo_cli.commands, each with a COMMANDS list; order is the --help order.
COMMAND_MODULES = ("catalog", "plugins")


class ZooGroup(click.Group):
    """Adds plugin commands lazily and turns ZooError into one ``Error:`` line, exit 1."""

    _plugins_added = False

    def _add_plugin_commands(self, ctx: click.Context) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        blocked = [n for n in (ctx.params.get("no_plugin") or ()) if n]
        if blocked:
            current = os.environ.get("ZOO_DISABLE_PLUGINS", "")
            os.environ["ZOO_DISABLE_PLUGINS"] = ",".join(filter(None, [current, *blocked]))
        import zoo
        from zoo import plugins

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", zoo.ZooPluginWarning)  # printed below, once each
            reg = zoo.registry()
        problems = reg.problems + plugins.add_commands(reg.loaded, self)
        for line in problems:
            click.secho(f"zoo: warning: {line}", fg="yellow", err=True)

    def list_commands(self, ctx):
        self._add_plugin_commands(ctx)
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._add_plugin_commands(ctx)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            ctx.exit(1)


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras-zoo", prog_name="zoo")
@click.option("--no-plugin", multiple=True, metavar="NAME",
              help="Do not load this plugin distribution (repeatable); "
                   "like ZOO_DISABLE_PLUGINS=NAME,...")
def cli(no_plugin):
    """keras-zoo: fine-tune, train, evaluate and export Keras models from plugins.

    \b
    zoo list backbones 'efficientnet*'      what is installed
    zoo finetune resnet --data photos/      transfer learning on a class-per-folder image set
    zoo export runs/resnet-1 --format tflite --quantize int8
    """


for _module_name in COMMAND_MODULES:
    for _command in importlib.import_module(f"zoo_cli.commands.{_module_name}").COMMANDS:
        cli.add_command(_command)


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="zoo")


if __name__ == "__main__":
    sys.exit(main())
