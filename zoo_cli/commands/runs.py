"""``zoo runs`` (a table of the runs in a folder) and ``zoo report RUN`` (report.html)."""

from __future__ import annotations

from pathlib import Path

import click

import zoo
from zoo_cli.output import echo_json, echo_table


def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _exports(rows: list[dict]) -> str:
    return ", ".join(f"{row['format']}/{row['quantize']} {zoo.human_size(row['size_bytes'])} "
                     f"{_verdict(row)}" for row in rows) or "-"


def _verdict(row: dict) -> str:
    if not row["exists"]:
        return "deleted"
    if row["rejected"]:  # a failed attempt kept aside: the artifact in use is another file
        return f"rejected, kept as {row['artifact']}"
    return {True: "verified", False: "NOT verified"}.get(row["verified"], "?")


def _best(row: dict) -> str:
    if not isinstance(row["best"], (int, float)):
        return "-" if row["best"] is None else str(row["best"])
    monitor = (row["monitor"] or "").replace("val_", "val ")
    return f"{monitor} {row['best']:.4f}" + (f" @{row['best_epoch']}" if row["best_epoch"] else "")


@click.command("runs")
@click.argument("directory", default="runs", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per run.")
def runs_command(directory, as_json):
    """List the runs in DIRECTORY (default runs/), newest first.

    \b
    One line per run: name, status, task, model, data, best validation figure, epochs,
    wall time and exported artifacts (format/quantization, size, verified or not).
    """
    rows = zoo.list_runs(directory)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"No runs in {directory}")
        return
    table = [[row["name"], row["status"] if not row["problem"] else
              f"{row['status']} ({row['problem']})",
              row["task"] or "-", row["backbone"] or row["model"] or "-",
              Path(row["data"]).name if row["data"] else "-", _best(row),
              row["epochs"] if row["epochs"] is not None else "-",
              _duration(row["seconds"]), _exports(row["exports"])] for row in rows]
    echo_table(table, ["run", "status", "task", "model", "data", "best", "epochs", "time",
                       "exports"])


@click.command("report")
@click.argument("run", type=click.Path(file_okay=False))
def report_command(run):
    """Write RUN/report.html: settings, curves, metrics, worst mistakes and exports in one
    self-contained file (images inline, no network needed)."""
    path = zoo.report(run, log=click.echo)
    click.echo(f"Report: {path}")


COMMANDS = [runs_command, report_command]
