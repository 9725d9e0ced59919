"""Line-image distortions: the affine map's equation, the elastic field's size, erosion and dilation,
the CMVN round trip, padding and eval mode untouched, the identity at zero strength, a seed's draws."""

import math

import pytest
import torch

from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.line_augment import LineAugment, affine_source
from asr_lstm.pictures.line_augment import draw_line_augment
from tests.pictures import assert_picture

HEIGHT = 16
IMAGE = FeatureConfig(kind="image", image_height=HEIGHT, delta_order=0, cmvn="global")
STATS = (torch.linspace(0.05, 0.3, HEIGHT), torch.linspace(0.1, 0.4, HEIGHT))
NONE = {"scale": 0.0, "shear": 0.0, "rotate": 0.0, "translate": 0.0, "elastic": 0.0, "morphology": 0.0,
        "contrast": 0.0, "noise": 0.0}  # fmt: skip


def lines(lengths=(30, 21), seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """A normalised batch ``(B, T, H)`` of random ink with zero padding, and its lengths."""
    generator = torch.Generator().manual_seed(seed)
    ink = (torch.rand(len(lengths), max(lengths), HEIGHT, generator=generator) > 0.7).float()
    x = (ink - STATS[0]) / STATS[1]
    for b, n in enumerate(lengths):
        x[b, n:] = 0.0
    return x, torch.tensor(lengths)


def test_the_affine_map_reads_where_its_equation_says():
    centre, shift = torch.tensor([[14.5, 7.5]]), torch.tensor([[1.5, -0.5]])
    scale, shear, rotation = torch.tensor([0.93]), torch.tensor([math.radians(12)]), torch.tensor([math.radians(-2)])
    source = affine_source(HEIGHT, 30, centre, scale, shear, rotation, shift)[0]  # (H, T, 2)
    r = torch.tensor([[math.cos(rotation), -math.sin(rotation)], [math.sin(rotation), math.cos(rotation)]])
    a = r @ torch.tensor([[1.0, math.tan(shear)], [0.0, 1.0]]) @ torch.diag(torch.cat([scale, scale]))
    for y, x in [(0, 0), (3, 17), (15, 29)]:
        assert torch.allclose(
            a @ (source[y, x] - centre[0]) + centre[0] + shift[0], torch.tensor([x, y]).float(), atol=1e-4
        )


def test_zero_strength_and_eval_mode_return_the_batch_itself():
    x, lens = lines()
    assert LineAugment(IMAGE, STATS, **NONE).train()(x, lens) is x
    assert LineAugment(IMAGE, STATS).eval()(x, lens) is x


def test_a_near_identity_map_gives_the_line_back_through_the_cmvn_and_leaves_padding_alone():
    x, lens = lines()
    out = LineAugment(IMAGE, STATS, **{**NONE, "translate": 1e-5}).train()(x, lens)
    assert torch.allclose(out, x, atol=1e-3)
    assert torch.equal(out[1, 21:], x[1, 21:])


def test_erosion_thins_and_dilation_thickens_every_line():
    x, lens = lines()
    torch.manual_seed(1)
    out = LineAugment(IMAGE, STATS, **{**NONE, "morphology": 1.0}).train()(x, lens)
    ink, changed = x * STATS[1] + STATS[0], out * STATS[1] + STATS[0]
    for b, n in enumerate(lens.tolist()):
        before, after = ink[b, :n], changed[b, :n]
        assert (after >= before - 1e-6).all() or (after <= before + 1e-6).all()
        assert not torch.allclose(after, before)


def test_the_elastic_field_has_the_asked_rms_inside_each_line():
    augment = LineAugment(IMAGE, STATS, **{**NONE, "elastic": 1.5})
    field = augment.elastic_field(torch.tensor([30, 21]), HEIGHT, 30, torch.device("cpu"))
    assert field.shape == (2, HEIGHT, 30, 2)
    assert field[0].pow(2).mean().sqrt().item() == pytest.approx(1.5, rel=1e-4)
    assert field[1, :, :21].pow(2).mean().sqrt().item() == pytest.approx(1.5, rel=1e-4)


def test_the_same_seed_draws_the_same_distortions():
    x, lens = lines()
    augment = LineAugment(IMAGE, STATS).train()
    torch.manual_seed(5)
    first = augment(x, lens)
    torch.manual_seed(5)
    assert torch.equal(augment(x, lens), first)
    assert not torch.allclose(augment(x, lens), first)


@pytest.mark.parametrize(
    "features, options, message",
    [
        (FeatureConfig(kind="fbank"), {}, "augment=lines distorts line images; features.kind=fbank"),
        (FeatureConfig(kind="image", delta_order=0, cmvn="speaker"), {}, "features.cmvn=speaker"),
        (IMAGE, {"noise": -0.1}, "strengths must be >= 0"),
        (IMAGE, {"scale": 1.0}, "scale, contrast below 1"),
    ],
)
def test_what_cannot_be_distorted_is_refused(features, options, message):
    with pytest.raises(ValueError, match=message):
        LineAugment(features, STATS, **options)


def test_the_picture_of_eight_draws_is_drawn(tmp_path):
    frames = (lines((120,))[0][0] * STATS[1] + STATS[0]).clamp(0, 1)
    augment = LineAugment(FeatureConfig(kind="image", image_height=HEIGHT, delta_order=0, cmvn="none"), None)
    path = draw_line_augment(frames, augment, tmp_path / "augment.png")
    assert_picture(path, (3.0, 0.35 + 0.42 * 9))
