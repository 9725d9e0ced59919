"""Text-line images cut from a page image by the line's polygon, deskewed along its baseline.

The line is what lies inside its polygon: pixels outside it (a neighbouring line's ascenders) become
paper. Where a baseline is given, the cut is rotated by its angle, the least-squares slope of its
points,

    theta = atan( sum (x_i - x)(y_i - y) / sum (x_i - x)^2 ),

so that the writing runs horizontally, as the pixel-column features of :mod:`asr_lstm.data.images`
expect; the result is trimmed to the rotated polygon.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

Point = tuple[float, float]
PAPER = 255


def polygon_problem(polygon: list[Point], page_size: tuple[int, int]) -> str | None:
    """Why a polygon cannot be cut from a page of ``page_size = (width, height)``, or ``None``."""
    if len(set(polygon)) < 3:
        return f"degenerate polygon ({len(set(polygon))} distinct points)"
    doubled_area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]))
    if abs(doubled_area) < 2.0:
        return "degenerate polygon (no area)"
    left, top, right, bottom = _box(polygon, page_size)
    if right - left < 1 or bottom - top < 1:
        return f"polygon outside the page image ({page_size[0]} x {page_size[1]} pixels)"
    return None


def baseline_angle(baseline: list[Point]) -> float:
    """The baseline's angle in degrees, positive when it descends to the right (image y grows downwards)."""
    if len(baseline) < 2:
        return 0.0
    mean_x = sum(x for x, _ in baseline) / len(baseline)
    mean_y = sum(y for _, y in baseline) / len(baseline)
    sxx = sum((x - mean_x) ** 2 for x, _ in baseline)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in baseline)
    return math.degrees(math.atan2(sxy, sxx)) if sxx > 0 else 0.0


def cut_line(page: Image.Image, polygon: list[Point], baseline: list[Point] | None) -> Image.Image:
    """The grey (``L``) image of the line inside ``polygon`` of ``page``, levelled along ``baseline``.

    ``polygon`` must pass :func:`polygon_problem`; parts outside the page are clipped.
    """
    left, top, right, bottom = _box(polygon, page.size)
    crop = page.crop((left, top, right, bottom)).convert("L")
    mask = Image.new("L", crop.size, 0)
    ImageDraw.Draw(mask).polygon([(x - left, y - top) for x, y in polygon], fill=255, outline=255)
    line = Image.composite(crop, Image.new("L", crop.size, PAPER), mask)
    angle = baseline_angle(baseline) if baseline else 0.0
    if abs(angle) > 0.1:  # PIL rotates counter-clockwise on screen, which levels a descending baseline
        line = line.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=PAPER)
        mask = mask.rotate(angle, resample=Image.Resampling.NEAREST, expand=True, fillcolor=0)
        box = mask.getbbox()
        if box is not None:
            line = line.crop(box)
    return line


def _box(polygon: list[Point], page_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The polygon's bounding box in whole pixels, clipped to the page: ``(left, top, right, bottom)``."""
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    width, height = page_size
    return (
        max(0, math.floor(min(xs))),
        max(0, math.floor(min(ys))),
        min(width, math.ceil(max(xs)) + 1),
        min(height, math.ceil(max(ys)) + 1),
    )
