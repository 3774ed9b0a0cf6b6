"""``zoo data``: ready-made data sets for trying things offline."""

from __future__ import annotations

import click


@click.group("data")
def data_group():
    """Write example data sets."""


@data_group.command("digits")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--size", type=click.IntRange(min=8), default=32, show_default=True,
              help="Image side in pixels.")
@click.option("--test-split", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True,
              help="Fraction written to OUT/test/ (the rest to OUT/train/); 0 writes OUT/<digit>/.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the test split.")
@click.option("--resample", type=click.Choice(["bilinear", "nearest"]), default="bilinear",
              show_default=True, help="Upsampling of the 8x8 digits: smooth or blocky.")
def digits_command(out, size, test_split, seed, resample):
    """Write scikit-learn's 1,797 handwritten digits to OUT as PNGs, one folder per digit."""
    from zoo.data import write_digits  # numpy and Pillow: imported only by this command

    summary = write_digits(out, size=size, test_split=test_split, seed=seed, resample=resample)
    for split, counts in summary["counts"].items():
        click.echo(f"{split}: {sum(counts.values())} images in {len(counts)} classes")
    click.echo(f"Digits written to {summary['path']}")


COMMANDS = [data_group]
