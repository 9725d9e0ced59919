"""What every picture test checks: a PNG of the expected size that is not blank."""

from pathlib import Path

import numpy as np
from PIL import Image

from asr_lstm.pictures.canvas import DPI


def assert_picture(path: Path, inches: tuple[float, float]) -> None:
    """``path`` is a valid PNG of ``inches`` x ``DPI`` pixels with something drawn on it (pixel variance)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (round(inches[0] * DPI), round(inches[1] * DPI))
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.var() > 100, f"{path} is (nearly) blank"
