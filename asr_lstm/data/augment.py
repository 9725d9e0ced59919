"""SpecAugment (Park et al. 2019, "SpecAugment: a simple data augmentation method for automatic speech
recognition"), without time warping, on a padded batch of normalised features during training.

Each utterance of the batch gets its own masks (torchaudio's ``mask_along_axis``):

- m_F frequency masks: f ~ U[0, F] consecutive channels [f_0, f_0 + f), f_0 ~ U[0, nu - f), set to
  ``mask_value``. nu is the number of mel channels (fbank) or pixel rows (line images); a band masked
  in the static features is masked in their deltas and delta-deltas too, and the log-energy
  coefficient of fbank features is never frequency-masked.
- m_T time masks: t ~ U[0, min(T, floor(p * tau))] consecutive frames [t_0, t_0 + t), t_0 ~ U[0, tau - t),
  of all coefficients, inside the utterance's own tau frames (padding is left as it is).

After CMVN the features have zero mean, so the default ``mask_value`` 0 masks with the mean, as the
paper does.
"""

from __future__ import annotations

import torch
import torchaudio.functional as AF
from torch import nn

from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.inputs import INPUT_KINDS


class SpecAugment(nn.Module):
    """Frequency and time masking of a batch ``(B, T, D)`` in training mode; the identity in eval mode.

    Args:
        features: the feature configuration, which says where the bands lie in a frame.
        freq_masks: m_F, frequency masks per utterance (0 for none; only fbank and image features have bands).
        freq_width: F, the widest frequency mask, in channels.
        time_masks: m_T, time masks per utterance.
        time_width: T, the longest time mask, in frames.
        time_ratio: p, the largest share of an utterance's frames one time mask may cover.
        mask_value: the value written into masked coefficients.
    """

    def __init__(
        self,
        features: FeatureConfig,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: int = 40,
        time_ratio: float = 0.2,
        mask_value: float = 0.0,
    ):
        super().__init__()
        bands = features.input.bands(features)
        if freq_masks and bands is None:
            banded = [name for name, kind in INPUT_KINDS.items() if kind.bands(features) is not None]
            raise ValueError(
                f"augment.freq_masks={freq_masks} but {features.kind} features have no frequency axis "
                f"(only {', '.join(banded)} do); set augment.freq_masks=0 to mask time only"
            )
        if min(freq_masks, freq_width, time_masks, time_width) < 0 or not 0.0 < time_ratio <= 1.0:
            raise ValueError("augment: mask counts and widths must be >= 0 and time_ratio in (0, 1]")
        self.blocks = 1 + features.delta_order
        self.base_dim = features.base_dim
        self.first_band, self.end_band = bands or (0, 0)  # the coefficients of a block on the frequency axis
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width, self.time_ratio = time_masks, time_width, time_ratio
        self.mask_value = mask_value

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, T, D)`` with ``lengths`` ``(B,)`` -> masked copy ``(B, T, D)`` (``x`` itself in eval mode)."""
        if not self.training:
            return x
        out = x.clone()
        for b, tau in enumerate(lengths.tolist()):
            out[b, :tau] = self.mask_utterance(x[b, :tau])
        return out

    def mask_utterance(self, frames: torch.Tensor) -> torch.Tensor:
        """``(tau, D)`` -> ``(tau, D)`` with this utterance's frequency and time masks."""
        tau = frames.shape[0]
        spec = frames.reshape(tau, self.blocks, self.base_dim).permute(1, 2, 0)  # (blocks, channels, tau)
        first, end = self.first_band, self.end_band
        bands = spec[:, first:end]
        for _ in range(self.freq_masks):
            bands = AF.mask_along_axis(bands, self.freq_width, self.mask_value, axis=1)
        spec = torch.cat([spec[:, :first], bands, spec[:, end:]], dim=1)
        for _ in range(self.time_masks):
            spec = AF.mask_along_axis(spec, self.time_width, self.mask_value, axis=2, p=self.time_ratio)
        return spec.permute(2, 0, 1).reshape(tau, -1)
