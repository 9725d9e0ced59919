"""Line images as pixel-column frames: ink values, height normalisation, feature config, bad files."""

import numpy as np
import pytest
import torch
from PIL import Image

from asr_lstm.data.features import FeatureConfig, file_features
from asr_lstm.data.images import image_features, load_line_image, normalise_height
from asr_lstm.errors import InputFileError


def save(pixels: np.ndarray, path, mode: str = "L") -> str:
    Image.fromarray(pixels, mode=mode).save(path)
    return str(path)


def test_ink_is_the_inverted_grey_level(tmp_path):
    pixels = np.array([[255, 0], [51, 204]], dtype=np.uint8)
    ink = load_line_image(save(pixels, tmp_path / "a.png"))
    assert ink.dtype == torch.float32
    assert torch.allclose(ink, torch.tensor([[0.0, 1.0], [0.8, 0.2]]))


def test_colour_and_transparency_become_grey_ink_on_paper(tmp_path):
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)  # opaque black: ink
    rgba[0, 1] = (0, 0, 0, 0)  # transparent: paper, whatever its colour
    rgba[0, 2] = (255, 255, 255, 255)
    ink = load_line_image(save(rgba, tmp_path / "a.png", "RGBA"))
    assert torch.allclose(ink, torch.tensor([[1.0, 0.0, 0.0]]))
    rgb = np.full((1, 1, 3), (255, 0, 0), dtype=np.uint8)  # pure red: ITU-R 601 luma 76
    assert load_line_image(save(rgb, tmp_path / "b.png", "RGB")).item() == pytest.approx(1 - 76 / 255)


def test_height_normalisation_keeps_the_aspect_ratio_and_averages_areas():
    ink = torch.zeros(4, 6)
    ink[:2, :2] = 1.0  # a 2x2 block of ink in the top-left corner
    small = normalise_height(ink, 2)
    assert small.shape == (2, 3)
    assert small[0, 0].item() == pytest.approx(1.0) and small.sum().item() == pytest.approx(
        1.0
    )  # area averaging keeps the ink mass / 4
    assert normalise_height(torch.ones(10, 3), 40).shape == (40, 12)  # small images are enlarged
    assert normalise_height(torch.ones(100, 1), 40).shape == (40, 1)  # never zero columns
    frames = image_features(ink, 2)
    assert frames.shape == (3, 2) and torch.equal(frames, small.T)


def test_image_feature_config_reads_the_image_field(tmp_path):
    cfg = FeatureConfig(kind="image", image_height=8, delta_order=0)
    assert cfg.dim == 8 and cfg.input_key == "image" and FeatureConfig().input_key == "audio"
    assert FeatureConfig(kind="image", image_height=8, delta_order=1).dim == 16
    assert (
        cfg.cache_name().startswith("image-")
        and cfg.cache_name() != FeatureConfig(kind="image", image_height=16).cache_name()
    )
    pixels = np.full((16, 40), 255, dtype=np.uint8)
    pixels[:, 10] = 0
    feats = file_features(save(pixels, tmp_path / "line.png"), cfg)
    assert feats.shape == (20, 8)
    assert (
        feats[5].tolist() == [0.5] * 8 and feats[4].sum() == 0
    )  # column 10 of 40 falls in frame 5 of 20, half its width


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no such image"),
        (b"not an image", "cannot read image"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "cannot read image"),
    ],
)
def test_bad_images_are_reported_by_name(tmp_path, content, problem):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError, match=f"{path}: {problem}"):
        load_line_image(path)
