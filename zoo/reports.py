"""``zoo report RUN``: one self-contained HTML file describing a run (``RUN/report.html``).

The file needs nothing else: CSS is inline, every image is a ``data:`` URI, there is no
script and no network reference, so it can be mailed, attached to an issue or opened offline.

The core writes what every run has (settings, training summary, curves, held-out metrics, the
export report); the run's task adds its own parts through :meth:`zoo.tasks.Task.report_sections`
(:func:`zoo.report` asks the run's task for them and calls :func:`write`),
returning :class:`Section` s built from the blocks below (:class:`Table`, :class:`Figure`,
:class:`Text`, :class:`Examples`). A plugin's task composes those blocks and never writes HTML.

Importing this module never imports TensorFlow; a task's sections may, when they run.
"""

from __future__ import annotations

import base64
import html
import io as _io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo import io, plots
from zoo.errors import ZooError
from zoo.runs import EXPORT_REPORT, Run, export_rows

__all__ = ["Section", "Table", "Figure", "Text", "Examples", "Example"]


@dataclass
class Table:
    """A table: ``headers`` and ``rows`` (cells are shown with ``str``; floats to 4 places)."""

    headers: list[str]
    rows: list[list[Any]]


@dataclass
class Figure:
    """An image: a PNG/JPEG file path, its bytes, or an H x W (x C) uint8 array."""

    image: Any
    caption: str = ""


@dataclass
class Text:
    """A paragraph of plain text."""

    text: str


@dataclass
class Example:
    """One example in an :class:`Examples` block: what it is (``id``: a path, a text, a row),
    optionally an image and a text, its true and predicted label with their probabilities."""

    id: str
    true: str = ""
    predicted: str = ""
    true_probability: float | None = None
    predicted_probability: float | None = None
    image: Any = None
    text: str = ""


@dataclass
class Examples:
    """A gallery of examples (image runs) or a list of rows (text runs)."""

    items: list[Example]
    caption: str = ""


@dataclass
class Section:
    """A titled part of the report: a list of blocks shown in order."""

    title: str
    blocks: list = field(default_factory=list)


# -- what every run gets ------------------------------------------------------------------------

def check_reportable(run: Run) -> None:
    """Raise ZooError unless ``run`` is a finished run whose JSON files read."""
    for path in (run.config_path, run.metrics_path):
        if not path.is_file():
            raise ZooError(f"run {run.path} has no {path.name} yet: it is still training or "
                           f"was interrupted; finish it with --resume, then run 'zoo report'")
        try:
            io.read_json(path)
        except ValueError as exc:
            raise ZooError(f"{path} is not valid JSON ({exc}); the run cannot be reported") \
                from None


def write(run: Run, task_sections: list[Section]) -> Path:
    """Write ``RUN/report.html`` (atomically): the training summary, ``task_sections`` (the
    run's task's :meth:`~zoo.tasks.Task.report_sections`), the export report and the settings.
    Returns its path."""
    check_reportable(run)
    config = run.config
    settings, summary = _common_sections(run, config)
    sections = [summary, *task_sections, _export_section(run), settings]
    title = f"{run.path.name}: {config.get('model') or config.get('task')}"
    page = render(title, [s for s in sections if s is not None and s.blocks],
                  subtitle=_subtitle(run, config))
    return io.write_text(run.report_path, page)


def _subtitle(run, config: dict) -> str:
    parts = [f"task {config.get('task')}"]
    if config.get("backbone"):
        parts.append(f"backbone {config['backbone']}")
    data = (config.get("options") or {}).get("data")
    if data:
        parts.append(f"data {data}")
    if config.get("created"):
        parts.append(f"created {config['created']}")
    parts.append("report written " +
                 datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return " · ".join(parts)


def _common_sections(run, config: dict) -> list[Section]:
    options = config.get("options") or {}
    settings = Section("Settings", [Table(["option", "value"],
                                          [[k, _cell(v)] for k, v in options.items()])])
    training = run.metrics.get("training") or {}
    summary = Section("Training", [])
    if training:
        rows = [[k, _cell(v)] for k, v in training.items()]
        summary.blocks.append(Table(["figure", "value"], rows))
    if not run.curves_path.is_file():
        plots.plot_curves(run.history.rows(), run.curves_path)
    if run.curves_path.is_file():
        summary.blocks.append(Figure(run.curves_path,
                                     "loss and metrics per epoch, train and validation"))
    if run.logs_dir.is_dir():
        summary.blocks.append(Text(f"TensorBoard: tensorboard --logdir {run.logs_dir}"))
    return [settings, summary]


def _export_section(run) -> Section:
    """One row per artifact (zoo runs' rows, plus each entry's agreement and latency)."""
    folder = run.exports_dir
    path = folder / EXPORT_REPORT
    section = Section("Exports")
    if not path.is_file():
        return section
    try:
        reports = io.read_json(path)
    except ValueError:
        section.blocks.append(Text(f"{path} is not valid JSON"))
        return section
    rows = []
    for row in export_rows(folder):
        entry = reports[row["artifact"]]
        agreement = entry.get("agreement", entry.get("max_abs_diff", ""))
        rows.append([row["artifact"], row["format"], row["quantize"],
                     io.human_size(row["size_bytes"]),
                     {True: "yes", False: "NO"}.get(row["verified"], "?"),
                     _cell(agreement), _cell(entry.get("latency_ms", ""))])
    section.blocks.append(Table(["artifact", "format", "quantization", "size", "verified",
                                 "agreement / error", "latency ms"], rows))
    return section


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


# -- rendering ----------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1100px;padding:0 16px;color:#1b1f23}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;border-bottom:1px solid #ddd;
padding-bottom:4px;margin-top:28px}.sub{color:#586069;font-size:12px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #e1e4e8;
padding:3px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img.figure{max-width:100%;height:auto;display:block;margin:8px 0}
.caption{color:#586069;font-size:12px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}.example{margin:0;width:150px;font-size:12px;
border:1px solid #e1e4e8;border-radius:4px;padding:6px}.example img{width:96px;height:96px;
image-rendering:pixelated;display:block;margin:0 auto 4px;object-fit:contain}
.wrong{color:#b31d28}.right{color:#22863a}.path{color:#586069;word-break:break-all}
"""


#: The page's Content-Security-Policy: no script, no fetch; images only as data: URIs.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render(title: str, sections: list[Section], subtitle: str = "") -> str:
    """The whole HTML page for ``sections``."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{_e(title)}</title>",
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             # self-contained by construction: the browser may load nothing but inline data
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             f"<style>{CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>", f'<div class="sub">{_e(subtitle)}</div>']
    for index, section in enumerate(sections):
        anchor = "section-" + "".join(c if c.isalnum() else "-" for c in section.title.lower())
        parts.append(f'<section id="{_e(anchor)}"><h2>{_e(section.title)}</h2>')
        parts += [_block(block) for block in section.blocks]
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _block(block) -> str:
    if isinstance(block, Text):
        return f"<p>{_e(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_e(h)}</th>" for h in block.headers)
        body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Figure):
        caption = f'<div class="caption">{_e(block.caption)}</div>' if block.caption else ""
        return (f'<figure style="margin:0"><img class="figure" alt="{_e(block.caption)}" '
                f'src="{data_uri(block.image)}">{caption}</figure>')
    if isinstance(block, Examples):
        caption = f'<p class="caption">{_e(block.caption)}</p>' if block.caption else ""
        if any(item.image is not None for item in block.items):
            cards = "".join(_card(item) for item in block.items)
            return f'{caption}<div class="gallery examples">{cards}</div>'
        rows = "".join(
            f'<tr class="example" data-id="{_e(item.id)}"><td>{_e(item.text or item.id)}</td>'
            f"<td>{_e(item.true)}</td>{_td(item.true_probability)}"
            f'<td class="{"right" if item.true == item.predicted else "wrong"}">'
            f"{_e(item.predicted)}</td>{_td(item.predicted_probability)}</tr>"
            for item in block.items)
        return (f'{caption}<table class="examples"><thead><tr><th>example</th><th>true</th>'
                f"<th>p(true)</th><th>predicted</th><th>p(predicted)</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")
    raise TypeError(f"not a report block: {block!r}")


def _card(item: Example) -> str:
    image = (f'<img alt="{_e(item.id)}" src="{data_uri(item.image, thumbnail=96)}">'
             if item.image is not None else "")
    verdict = "right" if item.true == item.predicted else "wrong"
    probability = "" if item.true_probability is None else f" ({item.true_probability:.2f})"
    predicted = "" if item.predicted_probability is None else \
        f" ({item.predicted_probability:.2f})"
    return (f'<figure class="example" data-id="{_e(item.id)}">{image}'
            f"<div>true <b>{_e(item.true)}</b>{probability}</div>"
            f'<div class="{verdict}">predicted <b>{_e(item.predicted)}</b>{predicted}</div>'
            f'<div class="path">{_e(Path(item.id).name if item.image is not None else item.id)}'
            f"</div>{f'<div>{_e(item.text)}</div>' if item.text else ''}</figure>")


def _td(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num">{_e(_cell(value))}</td>'
    return f"<td>{_e(_cell(value))}</td>"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def data_uri(image, thumbnail: int | None = None) -> str:
    """``image`` (a file path, PNG/JPEG bytes or a uint8 array) as a ``data:`` URI; with
    ``thumbnail`` it is re-encoded as a PNG no larger than that many pixels a side."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        image = Path(image).read_bytes()
    if isinstance(image, (bytes, bytearray)) and thumbnail is None:
        mime = "image/png" if image[:8] == b"\x89PNG\r\n\x1a\n" else \
            "image/jpeg" if image[:2] == b"\xff\xd8" else None
        if mime:
            return f"data:{mime};base64,{base64.b64encode(bytes(image)).decode('ascii')}"
    if isinstance(image, (bytes, bytearray)):
        picture = Image.open(_io.BytesIO(bytes(image)))
        picture.load()
    else:
        import numpy as np

        pixels = np.asarray(image)
        if pixels.dtype != np.uint8:
            pixels = np.clip(pixels, 0, 255).astype(np.uint8)
        if pixels.ndim == 3 and pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        picture = Image.fromarray(pixels)
    if picture.mode not in ("RGB", "L", "RGBA"):
        picture = picture.convert("RGB")
    if thumbnail:
        picture.thumbnail((thumbnail, thumbnail))
    buffer = _io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
