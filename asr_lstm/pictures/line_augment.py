"""One line image and draws of its training distortions (``augment=lines``), one under the other."""

from __future__ import annotations

from pathlib import Path

import torch

from asr_lstm.data.line_augment import LineAugment
from asr_lstm.pictures.canvas import figure, save_png


def draw_line_augment(frames: torch.Tensor, augment: LineAugment, out: Path, draws: int = 8) -> Path:
    """Draws the line ``frames`` ``(T, H)`` (ink 1 = black; ``augment`` built for ``features.cmvn=none``)
    on top and ``draws`` distortions of it below, each drawn with ``augment`` in training mode; the
    draws follow torch's global generator."""
    augment = augment.train()
    lines = [frames, *(augment(frames[None], torch.tensor([len(frames)]))[0] for _ in range(draws))]
    width = min(12.0, 1.0 + len(frames) / 60)
    fig = figure(width, 0.35 + 0.42 * len(lines))
    for k, (ax, line) in enumerate(zip(fig.subplots(len(lines), 1), lines)):
        ax.imshow(line.T.numpy(), cmap="gray_r", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel("line" if k == 0 else f"draw {k}", rotation=0, ha="right", va="center", fontsize=8)
    return save_png(fig, out)
