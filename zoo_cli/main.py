"""The ``zoo`` group: global options, plugin commands, and one-line errors.

Built-in commands live in ``zoo_cli.commands``; each module there exposes ``COMMANDS``. Plugin
commands are added through the ``zoo_commands(cli)`` and ``zoo_data_commands(data)`` hooks the
first time a command is looked up, after ``--no-plugin`` has been applied. Every user error (a ``ZooError`` or a usage mistake) is
one ``Error:`` line on stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

import click

import zoo
from zoo_cli.output import echo_warnings, quiet_registry

#: Modules under zoo_cli.commands, each with a COMMANDS list; order is the --help order.
COMMAND_MODULES = ("catalog", "plugins", "training", "export", "data", "runs")
#: Commands that never need TensorFlow (everything else gets it imported up front, quietly).
LIGHT_COMMANDS = frozenset({"list", "info", "plugins", "completion", "data", "runs"})


def _error_line(message: str, exit_code: int):
    """The one way the CLI reports a user's mistake: one red ``Error:`` line, no traceback."""
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(exit_code)


def _usage_error(exc: click.UsageError):
    """A usage mistake as one line; a bare group name still shows its help, as click does."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        exc.show()
        sys.exit(exc.exit_code)
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    _error_line(exc.format_message() + hint, exc.exit_code)


class ZooGroup(click.Group):
    """Adds plugin commands lazily and prints ZooError and usage errors as one ``Error:`` line."""

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        reg = quiet_registry()
        echo_warnings(reg.problems + reg.add_commands(self, self.commands["data"]))

    def list_commands(self, ctx):
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._add_plugin_commands()
        return super().get_command(ctx, name)

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        if name not in LIGHT_COMMANDS and not {"-h", "--help"} & set(rest):
            _import_tensorflow_quietly()
        return name, command, rest

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except zoo.ZooError as exc:
            _error_line(str(exc), 1)
        except click.UsageError as exc:
            _usage_error(exc)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up chatter swallowed.

    TensorFlow writes C++ INFO lines (oneDNN, CUDA stubs, CPU features) to file descriptor 2
    before its logging is configured, so TF_CPP_MIN_LOG_LEVEL cannot stop them; probing for GPUs
    on a machine with CUDA libraries but no GPU adds a "failed call to cuInit" line. The import
    and the one-time GPU probe run with that output captured; it is shown only if they fail.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # probed once; later calls are cached
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _disable_plugins(ctx, param, names):
    """``--no-plugin NAME``: eager, so it applies before ``--help`` lists plugin commands."""
    names = [n for n in names if n]
    if names:
        current = os.environ.get("ZOO_DISABLE_PLUGINS", "")
        os.environ["ZOO_DISABLE_PLUGINS"] = ",".join(filter(None, [current, *names]))


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras-zoo", prog_name="zoo")
@click.option("--no-plugin", multiple=True, metavar="NAME", is_eager=True, expose_value=False,
              callback=_disable_plugins,
              help="Do not load this plugin distribution (repeatable); "
                   "like ZOO_DISABLE_PLUGINS=NAME,...")
def cli():
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
