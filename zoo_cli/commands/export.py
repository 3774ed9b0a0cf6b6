"""``zoo export``: a run as a SavedModel or a builtin-ops .tflite, verified against Keras."""

from __future__ import annotations

import click

from zoo_cli.output import echo_json, echo_table


def _choices(name):
    """Shell completion from zoo.exporting's constant ``name``. Values are checked by zoo.exporting
    (not click.Choice) so a bad one gives the same one-line error as in Python."""
    def complete(ctx, param, incomplete):
        import importlib

        values = getattr(importlib.import_module("zoo.exporting"), name)
        return [v for v in values if v.startswith(incomplete)]
    return complete


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--format", "format_", default="tflite", show_default=True, metavar="FORMAT",
              shell_complete=_choices("FORMATS"), help="tflite (phones) or saved_model (servers).")
@click.option("--quantize", default="none", show_default=True, metavar="MODE",
              shell_complete=_choices("QUANTIZATIONS"),
              help="TFLite only: none (float32), float16, dynamic (int8 weights) or int8 "
                   "(full integer, uint8 in/out).")
@click.option("--out", type=click.Path(), default=None,
              help="Artifact path [default: RUN/exports/model-MODE.tflite or "
                   "RUN/exports/saved_model].")
@click.option("--calibration", type=click.Path(), default=None,
              help="int8: folder of calibration images [default: the run's training images].")
@click.option("--calibration-size", type=int, default=300, show_default=True,
              help="int8: how many calibration images to use.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def export_command(run, format_, quantize, out, calibration, calibration_size, as_json):
    """Export RUN for phones (TFLite) or servers (SavedModel) and verify it.

    The artifact takes raw RGB pixels and returns class probabilities; it is run on the run's
    held-out images and compared with the Keras model before it replaces anything.

    \b
    zoo export runs/resnet-1 --format tflite --quantize int8
    zoo export runs/resnet-1 --format saved_model
    """
    import zoo

    report = zoo.export(run, format=format_, quantize=quantize, out=out,
                        calibration=calibration, calibration_size=calibration_size)
    if as_json:
        echo_json(report)
        return
    if "accuracy" not in report:  # a task's own artifacts (GAN, recommenders): show its fields
        echo_table([[key, ", ".join(f"{k}={v}" for k, v in value.items())
                     if isinstance(value, dict) else value] for key, value in report.items()])
        return
    accuracy = f"{report['accuracy']:.4f}"
    if quantize != "none":
        accuracy += f" (Keras {report['keras_accuracy']:.4f})"
    rows = [["artifact", report["artifact"]],
            ["size", f"{report['size_bytes'] / 1e6:.3f} MB"],
            ["top-1 agreement", f"{report['agreement']:.2%} of {report['heldout_images']} "
                                f"{report['heldout_split']} images"],
            ["max output diff", f"{report['max_abs_diff']:.2e}"],
            ["accuracy", accuracy],
            ["latency", f"{report['latency_ms']:.3f} ms median, one image"]]
    if "ops" in report:
        rows.append(["ops (builtin)", ", ".join(report["ops"])])
    echo_table(rows)
    for warning in report["warnings"]:
        click.secho(f"Warning: {warning}", fg="yellow", err=True)


COMMANDS = [export_command]
