"""SpecAugment: where the masks may fall, how wide they may be, and that evaluation is untouched."""

import pytest
import torch

from asr_lstm.data.augment import SpecAugment
from asr_lstm.data.features import FeatureConfig

FBANK = FeatureConfig()  # energy + 40 mel channels, with deltas and delta-deltas: 123 dims


def masked(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y == 0) & (x != 0)


def test_frequency_masks_hit_the_same_mel_bands_in_every_delta_block_and_never_the_energy():
    torch.manual_seed(0)
    augment = SpecAugment(FBANK, freq_masks=2, freq_width=8, time_masks=0).train()
    x = torch.randn(8, 50, FBANK.dim) + 10.0
    m = masked(x, augment(x, torch.full((8,), 50))).reshape(8, 50, 3, 41)
    assert m.any()
    assert torch.equal(m[:, :, 0], m[:, :, 1]) and torch.equal(m[:, :, 0], m[:, :, 2])
    assert not m[..., 0].any()  # log energy
    channels = m[:, 0, 0, 1:]  # (B, 40): a frequency mask covers every frame
    assert torch.equal(m[:, :, 0, 1:], channels[:, None].expand(8, 50, 40))
    assert (channels.sum(dim=1) <= 2 * 8).all()


def test_time_masks_stay_inside_each_utterance_and_respect_the_ratio():
    torch.manual_seed(1)
    augment = SpecAugment(FBANK, freq_masks=0, time_masks=1, time_width=40, time_ratio=0.2).train()
    lengths = torch.tensor([100, 60, 20, 7])
    x = torch.randn(4, 100, FBANK.dim) + 10.0
    x[1:, 60:] = 0.0
    frames = []
    for _ in range(50):
        m = masked(x, augment(x, lengths))
        whole = m.all(dim=2)
        assert torch.equal(whole, m.any(dim=2))  # a time mask covers every coefficient of its frames
        frames.append(whole.sum(dim=1))
        for b, tau in enumerate(lengths.tolist()):
            assert not whole[b, tau:].any()
    frames = torch.stack(frames)
    assert (frames <= torch.tensor([20, 12, 4, 1])).all()  # floor(p * tau), below T = 40
    assert (frames[:, 0] > 0).any() and (frames[:, 2] > 0).any()


def test_each_utterance_gets_its_own_masks():
    torch.manual_seed(2)
    augment = SpecAugment(FBANK).train()
    x = torch.randn(1, 200, FBANK.dim).expand(6, 200, FBANK.dim) + 10.0
    m = masked(x, augment(x, torch.full((6,), 200)))
    assert len({tuple(row.flatten().tolist()) for row in m}) > 1


def test_line_image_rows_are_bands():
    torch.manual_seed(3)
    image = FeatureConfig(kind="image", image_height=40, delta_order=0)
    augment = SpecAugment(image, freq_masks=1, freq_width=10, time_masks=0).train()
    x = torch.rand(2, 30, 40) + 1.0
    rows = masked(x, augment(x, torch.tensor([30, 30])))
    assert torch.equal(rows, rows[:, :1].expand(2, 30, 40)) and rows.any()


def test_evaluation_mode_and_input_are_untouched():
    augment = SpecAugment(FBANK)
    x = torch.randn(2, 30, FBANK.dim)
    before = x.clone()
    assert augment.train()(x, torch.tensor([30, 30])) is not x and torch.equal(x, before)
    assert augment.eval()(x, torch.tensor([30, 30])) is x


@pytest.mark.parametrize("kind", ["strokes", "mfcc"])
def test_frequency_masks_of_features_without_bands_are_refused(kind):
    with pytest.raises(ValueError, match=f"{kind} features have no frequency axis.*augment.freq_masks=0"):
        SpecAugment(FeatureConfig(kind=kind), freq_masks=1)
    SpecAugment(FeatureConfig(kind=kind), freq_masks=0)
