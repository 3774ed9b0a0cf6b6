"""``zoo finetune``, ``zoo pretrain``, ``zoo train``, ``zoo evaluate`` and ``zoo predict``:
parse, call zoo, print.

``finetune``'s and ``pretrain``'s options are generated from their task's option table, so the
CLI and ``zoo.finetune(**options)`` / ``zoo.pretrain(**options)`` accept exactly the same names. ``train NAME`` passes every
``--key value`` on to the task of model NAME, which rejects what it does not know.
"""

from __future__ import annotations


import click

import zoo
from zoo_cli.completion import component_names
from zoo_cli.output import echo_json, echo_table


def _err(line: str) -> None:
    click.echo(line, err=True)


def task_options(options: dict):
    """Click options for a task's option table; unset ones stay None so the task's default wins."""

    def decorate(command):
        for name, option in reversed(list(options.items())):
            flag = "--" + name.replace("_", "-")
            if option.type is bool:
                command = click.option(flag, name, is_flag=True, default=None,
                                       help=option.help)(command)
                continue
            default = "" if option.default is None else f" [default: {option.default}]"
            choice = click.Choice(option.choices) if option.choices else None
            command = click.option(flag, name, type=choice, default=None,
                                   metavar=name.split("_")[-1].upper() if not choice else None,
                                   help=option.help + default)(command)
        return command

    return decorate


@click.command("finetune")
@click.argument("backbone", shell_complete=component_names("backbone"))
@task_options(zoo.task_options("image_classification", "image_multilabel", "image_regression"))
def finetune_command(backbone, **options):
    """Fine-tune BACKBONE on a folder of images, one sub-folder per class; or, with --head
    multilabel or regression, on a CSV of image paths and their labels or numbers.

    \b
    zoo finetune resnet --data photos/
    zoo finetune mobilenet_v2 --data digits/ --weights none --image-size 32 --epochs 8
    zoo finetune resnet --data tags.csv --head multilabel       (image,tags: a.jpg,cat;dog)
    zoo finetune resnet --data ages.csv --head regression --target-columns age
    """
    _train_backbone(zoo.finetune, backbone, options)


@click.command("pretrain")
@click.argument("backbone", shell_complete=component_names("backbone"))
@task_options(zoo.task_options("image_pretraining"))
def pretrain_command(backbone, **options):
    """Pretrain BACKBONE on a folder of images without labels (self-supervised: SimCLR).

    Class sub-folders, if any, are not trained on; they score a k-NN accuracy per epoch.
    Fine-tune the result on a few labels with --weights RUN.

    \b
    zoo pretrain resnet20 --data photos/ --image-size 32 --out runs/photos-ssl
    zoo finetune resnet20 --data labelled/ --image-size 32 --weights runs/photos-ssl
    """
    _train_backbone(zoo.pretrain, backbone, options)


def _train_backbone(train, backbone: str, options: dict) -> None:
    """``zoo.finetune`` / ``zoo.pretrain`` with the options given, then where the run went."""
    given = {k: v for k, v in options.items() if v is not None}
    run = train(backbone, given.pop("data", None), log=click.echo, **given)
    click.echo(f"Run written to {run.path}")
    _echo_metrics(run.metrics)
    _echo_report(run)


@click.command("train", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("model", required=False, shell_complete=component_names("model"))
@click.pass_context
def train_command(ctx, model):
    """Train registered model MODEL with its task; options go to the task.

    \b
    zoo train lstm_classifier --data reviews.csv --epochs 3
    zoo train lstm_classifier --help        the options of that model's task
    zoo list models                         what can be trained
    """
    if model in ("-h", "--help"):  # `zoo train --help`: the option parser saw a model name
        model, ctx.args = None, [model, *ctx.args]
    wants_help = bool({"-h", "--help"} & set(ctx.args))
    if model is None or wants_help:
        click.echo(ctx.get_help())
        if model is not None:
            _echo_task_options(model)
        ctx.exit(0 if wants_help else 2)
    run = zoo.train(model, log=click.echo, **_key_values(ctx.args))
    click.echo(f"Run written to {run.path}")
    _echo_metrics(run.metrics)
    _echo_report(run)


def _echo_task_options(model: str) -> None:
    """MODEL's summary and the options of its task, as --help would list them."""
    spec = zoo.spec("model", model)
    click.echo(f"\n{spec.name} ({spec.plugin}): {spec.summary}" if spec.summary else
               f"\n{spec.name} ({spec.plugin})")
    click.echo(f"\nOptions of its task, {spec.task}:")
    rows = []
    for name, option in zoo.train_options(model).items():
        value = "" if option.type is bool else f" {name.split('_')[-1].upper()}"
        choices = f" ({'|'.join(map(str, option.choices))})" if option.choices else ""
        default = "" if option.default in (None, False) else f" [default: {option.default}]"
        rows.append([f"--{name.replace('_', '-')}{value}", option.help + choices + default])
    echo_table(rows, indent=2)


@click.command("evaluate")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--data", type=click.Path(), default=None,
              help="Folder to evaluate on (default: the run's held-out split).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as a JSON object.")
def evaluate_command(run, data, as_json):
    """Evaluate the model of RUN: accuracy, top-k, per-class precision and recall."""
    metrics = zoo.evaluate(run, data, log=_err if as_json else click.echo)
    if as_json:
        echo_json(metrics)
    else:
        _echo_metrics(metrics)


@click.command("predict")
@click.argument("run", type=click.Path(file_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many classes to show per input.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per input.")
def predict_command(run, inputs, top_k, as_json):
    """Predict with the model of RUN: "input  class  probability" per input.

    INPUTS are what the run's task reads: image files or folders, texts, a CSV file, values.
    """
    results = zoo.predict(run, list(inputs), top_k=top_k, log=_err if as_json else click.echo)
    if as_json:
        echo_json(results)
        return
    for row in results:
        if "scores" in row and "labels" in row:  # multi-label: the labels over the threshold
            labels = [f"{name}  {row['scores'][name]:.2f}" for name in row["labels"]]
            click.echo("  ".join([str(row["path"])] + (labels or ["(no label)"])))
            continue
        if "top" not in row:  # not a class ranking (a forecaster's step and value): its fields
            click.echo("  ".join(f"{key} {value}" for key, value in row.items()))
            continue
        # what was classified: a path, a text, a row, ...; then the ranked classes
        subject = [str(v) for k, v in row.items() if k not in ("class", "probability", "top")]
        click.echo("  ".join(subject + [f"{name}  {p:.2f}" for name, p in row["top"]]))


def _key_values(args: list[str]) -> dict[str, str | bool]:
    """``--key value`` / ``--key=value`` / a bare ``--flag`` (true) into a dict."""
    options: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise zoo.ZooError(f"unexpected argument {arg!r}; options look like --name value")
        key, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value, i = args[i + 1], i + 1
            else:
                value = True
        options[key.replace("-", "_")] = value
        i += 1
    return options


def _echo_report(run) -> None:
    """The last line after training: where report.html is (written by the training)."""
    report = run.path / "report.html"
    if report.is_file():
        click.echo(f"Report: {report}")
    else:
        click.echo(f"Report: not written; try 'zoo report {run.path}'")


def _echo_metrics(metrics: dict) -> None:
    """The figures the run's task is judged on, and a classifier's per-class table."""
    figures = zoo.headline_figures(metrics)
    if figures:
        scored = ", ".join(str(part) for part in (metrics.get("data"), f"{metrics['count']} "
                                                  f"examples" if "count" in metrics else None)
                           if part)
        click.echo(f"Held-out{f' ({scored})' if scored else ''}: " +
                   ", ".join(f"{name} {_figure(value)}" for name, value in figures.items()))
    per_class = metrics.get("per_class") or {}
    if per_class:
        width = max(len(name) for name in per_class)
        click.echo(f"  {'class'.ljust(width)}  precision  recall  support")
        for name, row in per_class.items():
            click.echo(f"  {name.ljust(width)}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
                       f"{row['support']:7d}")
    if metrics.get("confusion_png"):
        click.echo(f"Confusion matrix: {metrics['confusion_png']}")


def _figure(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


COMMANDS = [finetune_command, pretrain_command, train_command, evaluate_command, predict_command]
