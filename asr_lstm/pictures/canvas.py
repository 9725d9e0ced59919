"""A matplotlib figure on the Agg canvas and its atomic PNG write."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from asr_lstm.atomic import atomic_path

DPI = 100


def figure(width: float, height: float) -> Figure:
    """A ``width`` x ``height`` inch figure (``DPI`` pixels an inch) with constrained layout."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Writes ``fig`` as a PNG at ``path`` (the whole file, or nothing); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path
