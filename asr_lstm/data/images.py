"""Text-line images as frame sequences: the BLSTM reads a line left to right, one pixel column a frame.

A line image (IAM's grey-level PNGs, or any format Pillow reads) is converted to grey, inverted so
that ink is 1 and paper 0, and scaled to a fixed height keeping its aspect ratio (area averaging, so
thin strokes survive the down-scaling). Column ``t`` of the result is frame ``t``:

    x_t = (1 - I[:, t] / 255)  for the height-normalised image I,   x_t in [0, 1]^height

as in the pixel-column inputs of offline LSTM-CTC recognisers (Graves & Schmidhuber 2009 read
multi-dimensional inputs; Voigtlaender et al. 2016 and PyLaia feed height-normalised columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from asr_lstm.errors import InputFileError

if TYPE_CHECKING:
    from asr_lstm.data.features import FeatureConfig

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".gif", ".webp"})


def load_line_image(path: str | Path) -> torch.Tensor:
    """Ink map of a line image: ``(H, W)`` float32 in [0, 1], 1 = black ink.

    Transparent pixels (RGBA, LA) count as paper. Raises :class:`InputFileError` naming the file when it
    is missing, not an image, truncated, or empty.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                paper = Image.new("RGBA", image.size, "white")
                image = Image.alpha_composite(paper, image.convert("RGBA"))
            grey = np.asarray(image.convert("L"), dtype=np.float32)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputFileError(f"{path}: cannot read image ({err})") from None
    if grey.size == 0:
        raise InputFileError(f"{path}: empty image ({grey.shape[1]} x {grey.shape[0]} pixels)")
    return torch.from_numpy(1.0 - grey / 255.0)


def normalise_height(ink: torch.Tensor, height: int) -> torch.Tensor:
    """Scales an ``(H, W)`` ink map to ``(height, W')``, ``W' = max(1, round(W * height / H))``."""
    rows, cols = ink.shape
    width = max(1, round(cols * height / rows))
    # area averaging when shrinking keeps every stroke's ink; bilinear when enlarging small images
    mode = "area" if rows >= height and cols >= width else "bilinear"
    extra = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(ink[None, None], size=(height, width), mode=mode, **extra)[0, 0]


def image_features(ink: torch.Tensor, height: int) -> torch.Tensor:
    """Column frames of an ink map: ``(W', height)``, frame t = column t of the height-normalised image."""
    return normalise_height(ink, height).T.contiguous()


def read_frames(path: Path, cfg: FeatureConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W', image_height)`` column frames of a line image and the ``(W' + 1,)`` pixel columns of the
    original image where each frame starts and the last one ends."""
    ink = load_line_image(path)
    frames = image_features(ink, cfg.image_height)
    return frames, torch.arange(len(frames) + 1, dtype=torch.float64) * (ink.shape[0] / cfg.image_height)
