"""A decoded input with its CTC posteriors and aligned tokens (``asr-lstm decode --plot DIR``).

Top: what the network read, in the input's own coordinates: the line image (pixel columns), the pen
trajectory of a stroke file, or the feature frames of audio (a filterbank or cepstrum over seconds).
Bottom: the posterior of blank and of every token of the hypothesis per output frame, on the same
horizontal axis as the alignment (seconds or pixel columns), with each aligned token's span shaded
and labelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from asr_lstm.data.strokes import read_stroke_xml
from asr_lstm.pictures.canvas import figure, save_png
from asr_lstm.recognizer import Segment

UNIT_NAMES = {"s": "seconds", "px": "pixel columns"}


def draw_input(ax, kind: str, path: Path, feats: torch.Tensor, span: tuple[float, float], unit: str) -> None:
    """The input on ``ax``: the image of a line, the trajectory of strokes, else ``feats (T, D)``."""
    if kind == "image":
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"))
        ax.imshow(grey, cmap="gray", aspect="auto", extent=(0, grey.shape[1], grey.shape[0], 0))
        ax.set_ylabel("pixel rows")
    elif kind == "strokes":
        for stroke in read_stroke_xml(path):
            ax.plot(stroke[:, 0], -stroke[:, 1], "k-", linewidth=1)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("pen x")
        ax.set_yticks([])
    else:
        ax.imshow(feats.T.numpy(), origin="lower", aspect="auto", cmap="magma", extent=(*span, 0, feats.shape[1]))
        ax.set_ylabel("feature coefficient")
        ax.set_xlabel(UNIT_NAMES.get(unit, unit))


def draw_alignment(
    out: Path,
    title: str,
    kind: str,
    path: Path,
    feats: torch.Tensor,
    log_probs: torch.Tensor,
    frame_positions: torch.Tensor,
    tokens: list[str],
    hypothesis: list[int],
    segments: list[Segment],
    unit: str,
) -> Path:
    """Draws one input's picture at ``out``.

    Args:
        kind: the input kind's name (``image``, ``strokes``, or an audio feature kind).
        feats: ``(T, D)`` raw features; ``log_probs``: ``(T', V)``; ``frame_positions``: ``(T' + 1,)``
            where each output frame starts and the last one ends, in ``unit``.
        tokens: the vocabulary; ``hypothesis``: the recognised label ids; ``segments``: their alignment.
    """
    fig = figure(12, 6)
    input_ax, post_ax = fig.subplots(2, 1, height_ratios=(1.2, 1))
    left, right = float(frame_positions[0]), float(frame_positions[-1])
    draw_input(input_ax, kind, path, feats, (left, right), unit)
    input_ax.set_title(title, loc="left", fontsize="medium")
    starts = frame_positions[:-1].numpy()
    posteriors = log_probs.float().exp().numpy()
    post_ax.step(starts, posteriors[:, 0], where="post", color="grey", linestyle="--", linewidth=0.8, label="blank")
    colours = {}
    for token in dict.fromkeys(hypothesis):
        (line,) = post_ax.step(starts, posteriors[:, token], where="post", linewidth=1)
        colours[token] = line.get_color()
    for k, segment in enumerate(segments):
        post_ax.axvspan(segment.start, segment.start + segment.duration, color="C0", alpha=0.08 + 0.07 * (k % 2))
        post_ax.text(segment.start + segment.duration / 2, 1.04, segment.token, ha="center", va="bottom",
                     fontsize=8, color=colours.get(tokens.index(segment.token), "black"))  # fmt: skip
    post_ax.set_xlim(left, right)
    if kind != "strokes":
        input_ax.set_xlim(left, right)
    post_ax.set_ylim(0, 1.15)
    post_ax.set_ylabel("posterior")
    post_ax.set_xlabel(UNIT_NAMES.get(unit, unit))
    post_ax.legend(loc="lower right", fontsize="small")
    return save_png(fig, out)
