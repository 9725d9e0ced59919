"""Online handwriting: pen strokes (IAM-OnDB ``lineStrokes`` XML) as frame sequences.

A line is a list of strokes, each a pen-down trajectory of ``(x, y, time)`` points. The features are
invariant to where and how large the line was written, and to how fast:

1. size: coordinates are divided by the line's height h, the 5th to 95th percentile range of y
   (robust to a stray descender or a dot far above);
2. speed: every stroke is resampled at equal arc-length steps of ``step`` (in units of h), so the
   frame rate follows the ink, not the tablet's sampling clock;
3. frame t of the resampled points p_t = (x_t, y_t):

       f_t = (x_t - x_{t-1},  y_t - y_{t-1},  y_t - median(y),  u_t)

   with u_t = 1 where the pen was lifted before p_t (the first point of every stroke; its offsets
   are the jump from the previous stroke's end) and 0 elsewhere; the first frame has zero offsets.

The time of each resampled point is interpolated along its stroke, for alignment positions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from asr_lstm.errors import InputFileError

if TYPE_CHECKING:
    from asr_lstm.data.features import FeatureConfig

STROKE_SUFFIXES = frozenset({".xml"})
NUM_FEATURES = 4  # dx, dy, y, pen-up


def read_stroke_xml(path: str | Path) -> list[np.ndarray]:
    """The strokes of an IAM-OnDB ``lineStrokes`` file: ``(n, 3)`` float64 arrays of ``x, y, time``.

    Layout: ``<WhiteboardCaptureSession><StrokeSet><Stroke ...><Point x= y= time=/>...``. Raises
    :class:`InputFileError` naming the file for a missing or malformed file, a point without numeric
    ``x``/``y``/``time``, or a file without any point.
    """
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such stroke file") from None
    except (ET.ParseError, OSError) as err:
        raise InputFileError(f"{path}: not a stroke XML file ({err})") from None
    stroke_set = root.find("StrokeSet") if root.tag != "StrokeSet" else root
    if stroke_set is None:
        raise InputFileError(f"{path}: no <StrokeSet> (expected IAM-OnDB lineStrokes XML)")
    strokes = []
    for k, stroke in enumerate(stroke_set.iter("Stroke"), 1):
        try:
            points = [
                (float(p.attrib["x"]), float(p.attrib["y"]), float(p.attrib["time"])) for p in stroke.iter("Point")
            ]
        except (KeyError, ValueError) as err:
            raise InputFileError(f"{path}: stroke {k} has a point without a numeric x, y and time ({err})") from None
        if points:
            strokes.append(np.array(points, dtype=np.float64))
    if not strokes:
        raise InputFileError(f"{path}: no pen points in any stroke")
    return strokes


def resample(stroke: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` of arc length along an ``(n, 3)`` stroke (its first and last point kept),
    time interpolated; a stroke shorter than ``step`` keeps its first and last point (a dot keeps one)."""
    segment = np.linalg.norm(np.diff(stroke[:, :2], axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(segment)])
    if arc[-1] == 0.0:
        return stroke[:1]
    positions = np.append(np.arange(0.0, arc[-1], step), arc[-1])
    if positions[-1] - positions[-2] < step / 2 and len(positions) > 2:  # no sliver step at the end
        positions = np.delete(positions, -2)
    return np.stack([np.interp(positions, arc, stroke[:, c]) for c in range(3)], axis=1)


def stroke_features(strokes: list[np.ndarray], step: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames of a written line (see the module docstring).

    Args:
        strokes: ``(n_k, 3)`` arrays of ``x, y, time`` (any unit, y pointing down or up alike).
        step: resampling distance in units of the line's height.

    Returns:
        ``(T, 4)`` float32 features and ``(T,)`` float64 times of the frames (seconds from the first point).
    """
    points = np.concatenate(strokes)
    low, high = np.percentile(points[:, 1], [5, 95])
    height = max(high - low, np.ptp(points[:, 0]) / 100, 1e-9)  # a flat line (a dash) is scaled by its length
    scaled = [np.column_stack([s[:, :2] / height, s[:, 2]]) for s in strokes]
    resampled = [resample(s, step) for s in scaled]
    xy = np.concatenate([r[:, :2] for r in resampled])
    times = np.concatenate([r[:, 2] for r in resampled])
    pen_up = np.zeros(len(xy))
    pen_up[np.cumsum([0] + [len(r) for r in resampled[:-1]])[1:]] = 1.0
    deltas = np.diff(xy, axis=0, prepend=xy[:1])
    feats = np.column_stack([deltas, xy[:, 1] - np.median(xy[:, 1]), pen_up])
    return torch.from_numpy(feats.astype(np.float32)), torch.from_numpy(times - times[0])


def read_frames(path: Path, cfg: FeatureConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(T, 4)`` frames of a stroke file and the ``(T + 1,)`` times (s) of writing where they start
    (the last frame's end is its own time)."""
    frames, times = stroke_features(read_stroke_xml(path), cfg.stroke_step)
    return frames, torch.cat([times, times[-1:]])
