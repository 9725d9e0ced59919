"""The cell-sweep figure: error rate per cell over seeds (a box and the seeds as dots, as Greff et
al. 2015, figure 3), cells in order of their median dev error rate, with each cell's parameters and
training time per epoch in a table beside it."""

from __future__ import annotations

import statistics
from pathlib import Path

from asr_lstm.pictures.canvas import figure, save_png
from asr_lstm.sweeps import SweepRun


def draw_sweep(runs: list[SweepRun], out: Path, split: str = "dev") -> Path:
    """Draws the figure of ``runs`` (``split``: ``dev`` or ``test`` error rates) at ``out``."""
    by_cell: dict[str, list[SweepRun]] = {}
    for run in runs:
        by_cell.setdefault(run.cell, []).append(run)
    rate = (lambda r: r.dev) if split == "dev" else (lambda r: r.test)
    cells = sorted(by_cell, key=lambda c: statistics.median(rate(r) for r in by_cell[c]))
    fig = figure(12, 0.9 + 0.38 * len(cells))
    plot_ax, table_ax = fig.subplots(1, 2, width_ratios=(1.6, 1))
    rows = [[rate(r) for r in by_cell[c]] for c in cells]
    positions = range(len(cells), 0, -1)  # the best cell on top
    plot_ax.boxplot(rows, positions=positions, orientation="horizontal", widths=0.6, showfliers=False,
                    medianprops={"color": "C1"})  # fmt: skip
    for y, values in zip(positions, rows):
        offsets = [(k - (len(values) - 1) / 2) * 0.08 for k in range(len(values))]
        plot_ax.scatter(values, [y + o for o in offsets], s=14, color="C0", zorder=3)
    plot_ax.set_yticks(list(positions), cells)
    plot_ax.set_xlabel(f"{split} {runs[0].metric.upper()} (%), one dot a seed")
    plot_ax.grid(axis="x", alpha=0.3)
    table_ax.axis("off")
    cell_text = [
        [c, f"{by_cell[c][0].parameters:,}", f"{statistics.mean(r.seconds_per_epoch for r in by_cell[c]):.1f}",
         str(len(by_cell[c])), f"{statistics.median(rate(r) for r in by_cell[c]):.1f}"]
        for c in cells
    ]  # fmt: skip
    table = table_ax.table(cellText=cell_text, colLabels=["cell", "parameters", "s/epoch", "seeds", "median"],
                           loc="upper center", cellLoc="right")  # fmt: skip
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.25)
    return save_png(fig, out)
