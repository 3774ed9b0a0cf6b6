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


@data_group.command("letters")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--chars", default="upper", show_default=True,
              help="Characters, one class each: upper (A-Z), lower (a-z), digits, a literal "
                   "string (ABC), or several joined by commas (upper,digits).")
@click.option("--size", type=click.IntRange(min=8), default=32, show_default=True,
              help="Image side in pixels.")
@click.option("--test-split", type=click.FloatRange(0, 1, max_open=True), default=0.25,
              show_default=True,
              help="Fraction of typeface families written to OUT/test/ (the rest to OUT/train/); "
                   "0 writes OUT/<class>/.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the family split.")
@click.option("--fonts", "font_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Read font files from this folder instead of the system's (repeatable).")
@click.option("--rendering", type=click.Choice(["glyph", "line"]), default="glyph",
              show_default=True,
              help="glyph: each character alone, centred; line: cropped from a line of text "
                   "(its neighbours show at the edges), jittered, blurred and noisy: harder.")
def letters_command(out, chars, size, test_split, seed, font_dirs, rendering):
    """Write characters rendered from the installed typefaces to OUT, one folder per class.

    Each image is one character drawn by one font; the test split holds whole families, so a
    held-out image is a design never seen in training. Small letters go to NAME_small folders
    (a_small), safe on case-insensitive disks; OUT/letters.json says which font drew each image.
    """
    from zoo.data import write_letters  # numpy, Pillow, fontTools: only this command

    summary = write_letters(out, chars=chars, size=size, test_split=test_split, seed=seed,
                            fonts=list(font_dirs) or None, rendering=rendering)
    for split, counts in summary["counts"].items():
        click.echo(f"{split}: {sum(counts.values())} images in {len(counts)} classes from "
                   f"{summary['families'][split]} typeface families")
    if summary["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in summary["skipped"].items())
        click.echo(f"Skipped font files: {reasons} (the list: {summary['manifest']})")
    click.echo(f"Letters written to {summary['path']}")


COMMANDS = [data_group]
