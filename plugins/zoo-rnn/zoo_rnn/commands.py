"""``zoo data fortunes`` / ``quotes`` / ``docstrings`` / ``stocks``: the plugin's real sample
data as CSV."""

from __future__ import annotations

import click

from zoo_rnn import datasets


def _fortune_topics_command(name: str, topics, per_class: int, write, doc: str):
    """A ``zoo data NAME OUT`` command writing fortune topics, one class each, with ``write``."""

    @click.command(name, help=doc)
    @click.argument("out", type=click.Path(dir_okay=False))
    @click.option("--categories", default=",".join(topics), show_default=True,
                  help="Comma-separated fortune files, one class each.")
    @click.option("--per-class", type=click.IntRange(min=1), default=per_class,
                  show_default=True,
                  help="Entries kept per class at most (the first ones, in file order).")
    def command(out, categories, per_class):
        _echo_texts(write(out, categories.split(","), per_class=per_class))

    return command


fortunes_command = _fortune_topics_command(
    "fortunes", datasets.FORTUNE_CATEGORIES, 200, datasets.write_fortunes_csv,
    "Write real quotations from the BSD fortune files as a text,label CSV (text classes).")
quotes_command = _fortune_topics_command(
    "quotes", datasets.QUOTE_CATEGORIES, 700, datasets.write_quotes_csv,
    "Write five more fortune topics (quotations, verse and jokes on politics, science, work, "
    "men and women) as a text,label CSV: a third real text set, three times the fortunes.")


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


DATA_COMMANDS = (fortunes_command, quotes_command, docstrings_command, stocks_command)
