"""What the seed-grid benchmarks (from_scratch.py, text.py) share: their common arguments, and
where each recipe's runs go."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def add_grid_arguments(parser: argparse.ArgumentParser, option_example: str) -> None:
    """``--seeds``, ``--option NAME=VALUE`` (repeatable), ``--work`` and ``--json``."""
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help=f"a recipe option for every run (repeatable), e.g. {option_example}")
    parser.add_argument("--work", help="where data and runs go (default: a temp folder)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")


def recipe_and_work(args, prefix: str) -> tuple[dict, str, Path]:
    """(options, the recipe's name for folder names, the work folder)."""
    options = dict(option.split("=", 1) for option in args.option)
    recipe = "-".join(f"{name}={value}" for name, value in options.items()) or "default"
    return options, recipe, Path(args.work or tempfile.mkdtemp(prefix=prefix))
