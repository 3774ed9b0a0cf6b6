"""``zoo data fortunes`` / ``docstrings`` / ``stocks``: the plugin's real sample data as CSV."""

from __future__ import annotations

import click

from zoo_rnn import datasets


@click.command("fortunes")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--categories", default=",".join(datasets.FORTUNE_CATEGORIES), show_default=True,
              help="Comma-separated fortune files, one class each.")
@click.option("--per-class", type=click.IntRange(min=1), default=200, show_default=True,
              help="Fortunes kept per class (the first ones, in file order).")
def fortunes_command(out, categories, per_class):
    """Write real quotations from the BSD fortune files as a text,label CSV (text classes)."""
    _echo_texts(datasets.write_fortunes_csv(out, categories.split(","), per_class=per_class))


@click.command("docstrings")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--packages", default=",".join(datasets.DOCSTRING_PACKAGES), show_default=True,
              help="Comma-separated standard-library packages, one class each.")
@click.option("--per-class", type=click.IntRange(min=1), default=200, show_default=True,
              help="Docstring summaries kept per class (files in name order).")
def docstrings_command(out, packages, per_class):
    """Write the standard library's docstring summaries, labelled by package, as a text,label
    CSV (a second real text set: technical English, this Python's own source)."""
    _echo_texts(datasets.write_docstrings_csv(out, packages.split(","), per_class=per_class))


def _echo_texts(summary: dict) -> None:
    counts = ", ".join(f"{name} {n}" for name, n in summary["counts"].items())
    click.echo(f"{summary['rows']} texts ({counts}) written to {summary['path']}")


@click.command("stocks")
@click.argument("out", type=click.Path(dir_okay=False))
def stocks_command(out):
    """Write a daily closing-price series (matplotlib's sample data) as a date,value CSV."""
    summary = datasets.write_stock_csv(out)
    click.echo(f"{summary['rows']} days of {summary['series']} written to {summary['path']}")


DATA_COMMANDS = (fortunes_command, docstrings_command, stocks_command)
