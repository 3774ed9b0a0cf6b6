"""``zoo export``: a run as a SavedModel or a builtin-ops .tflite, verified against Keras."""

from __future__ import annotations

import click

import zoo
from zoo_cli.output import echo_json, echo_table


def _choices(column: str):
    """Shell completion from the export format table's ``column`` (``format`` or
    ``quantize``). Values are checked by zoo.export (not click.Choice) so a bad one gives the
    same one-line error as in Python."""
    def complete(ctx, param, incomplete):
        rows = zoo.export_formats()
        values = dict.fromkeys(value for row in rows for value in
                               (row[column] if isinstance(row[column], list) else [row[column]]))
        return [value for value in values if value.startswith(incomplete)]
    return complete


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False), required=False)
@click.option("--format", "format_", default=None, metavar="FORMAT",
              shell_complete=_choices("format"),
              help="tflite (phones) or saved_model (servers); --formats lists them "
                   "[default: tflite, or what the run's task exports].")
@click.option("--quantize", default="none", show_default=True, metavar="MODE",
              shell_complete=_choices("quantize"),
              help="TFLite only: none (float32), float16, dynamic (int8 weights) or int8 "
                   "(full integer, uint8 in/out).")
@click.option("--out", type=click.Path(), default=None,
              help="Artifact path [default: RUN/exports/model-MODE.tflite or "
                   "RUN/exports/saved_model].")
@click.option("--calibration", type=click.Path(), default=None,
              help="int8: folder of calibration images [default: the run's training images].")
@click.option("--calibration-size", type=int, default=300, show_default=True,
              help="int8: how many calibration images to use.")
@click.option("--formats", "list_formats", is_flag=True,
              help="List the export formats, their quantizations and artifacts, and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def export_command(run, format_, quantize, out, calibration, calibration_size, list_formats,
                   as_json):
    """Export RUN for phones (TFLite) or servers (SavedModel) and verify it.

    Whatever the task (images, text, series, a GAN's generator, recommender towers), the
    artifact is run on the run's held-out examples and compared with the Keras model before it
    replaces anything; one that fails is kept as *.rejected.* beside it.

    \b
    zoo export runs/resnet-1 --format tflite --quantize int8
    zoo export runs/resnet-1 --format saved_model
    zoo export --formats
    """
    if list_formats:
        rows = zoo.export_formats()
        if as_json:
            echo_json(rows)
        else:
            echo_table([[r["format"], ", ".join(r["quantize"]),
                         " ".join(f"--{o.replace('_', '-')}" for o in r["options"]),
                         r["artifact"], r["help"]] for r in rows],
                       headers=["format", "quantize", "options", "artifact", "what"])
        return
    if run is None:
        raise click.UsageError("Missing argument 'RUN'.")
    report = zoo.export(run, format=format_, quantize=quantize, out=out,
                        calibration=calibration, calibration_size=calibration_size,
                        log=lambda line: click.echo(line, err=True))
    if as_json:
        echo_json(report)
        return
    artifacts = report.get("artifacts") or {report["artifact"]: report}
    for name, entry in artifacts.items():
        if len(artifacts) > 1:
            click.secho(name, bold=True)
        echo_table(_report_rows(entry), indent=2 if len(artifacts) > 1 else 0)
        for warning in entry["warnings"]:
            click.secho(f"Warning: {warning}", fg="yellow", err=True)


def _report_rows(report: dict) -> list[list[str]]:
    """What a person checks in one artifact's report: where, how big, how faithful, how fast."""
    examples = f"{report['heldout_examples']} examples" + (
        f" from the {report['heldout_split']}" if report.get("heldout_split") else "")
    rows = [["artifact", report["artifact"]],
            ["size", f"{report['size_bytes'] / 1e6:.3f} MB"]]
    if "agreement" in report:
        rows.append(["agreement", f"{report['agreement']:.2%} of {examples}"])
    if "max_abs_diff" in report:
        allowed = f" (allowed {report['tolerance']:.2g})" if "tolerance" in report else ""
        rows.append(["max output diff", f"{report['max_abs_diff']:.2e}{allowed}"])
    if "accuracy" in report:
        accuracy = f"{report['accuracy']:.4f}"
        if report["quantize"] != "none":
            accuracy += f" (Keras {report['keras_accuracy']:.4f})"
        rows.append(["accuracy", accuracy])
    rows.append(["latency", f"{report['latency_ms']:.3f} ms median, one example"])
    rows.append(["inputs", ", ".join(f"{i['name']} {i['dtype']} {i['shape']}"
                                     for i in report["inputs"])])
    if report.get("ops"):
        rows.append(["ops (builtin)", ", ".join(report["ops"])])
    if report.get("files"):
        rows.append(["beside it", ", ".join(report["files"])])
    client = report.get("standard_metadata")
    if client and client["loads"]:
        rows.append(["metadata", f"standard TFLite metadata: {client['client']} (Android, iOS, "
                                 f"web, Python) loads it with its {client['labels']} labels, "
                                 f"LiteRT's {client.get('compared', 'top class')} on "
                                 f"{client['agreement_with_litert']:.2%} "
                                 f"of {client['examples']} examples"])
    return rows


COMMANDS = [export_command]
