"""PNG plots for a run: learning curves from history.csv and a confusion matrix (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

from zoo import io
from zoo.runs import History

__all__ = ["plot_curves", "plot_confusion"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict] | str | Path, out: str | Path) -> Path | None:
    """Loss and every metric per epoch, train against validation, from a run's history
    (``run.history.rows()``, or the path of a history.csv); stage changes are marked.

    Returns None (and writes nothing) when there is no history yet.
    """
    rows = History(history).rows() if isinstance(history, (str, Path)) else history
    if not rows:
        return None
    # each metric once: "loss" plots loss and val_loss; a held-out-only one plots alone
    metrics = [k for k in rows[0] if k not in ("epoch", "stage", "lr") and
               not (k.startswith("val_") and k[len("val_"):] in rows[0])]
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    epochs = [int(r["epoch"]) for r in rows]
    changes = [epochs[i] for i in range(1, len(rows)) if rows[i]["stage"] != rows[i - 1]["stage"]]
    for ax, metric in zip(axes[0], metrics):
        keys = ((metric, "train"), (f"val_{metric}", "val")) if not metric.startswith("val_") \
            else ((metric, "val"),)
        for key, label in keys:
            values = [(e, float(r[key])) for e, r in zip(epochs, rows) if r.get(key)]
            if values:
                ax.plot(*zip(*values), marker="o", markersize=3, label=label)
        for epoch in changes:
            ax.axvline(epoch - 0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return _save(fig, out)


def plot_confusion(matrix, classes: list[str], out: str | Path, title: str = "") -> Path:
    """A confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    import numpy as np

    matrix = np.asarray(matrix)
    plt = _pyplot()
    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=90 if len(classes) > 10 else 0)
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if len(classes) <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > threshold else "black")
    fig.tight_layout()
    return _save(fig, out)


def _save(fig, out) -> Path:
    plt = _pyplot()
    with io.atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(out)
