"""The CTC acoustic model: frontend -> stacked bidirectional RNN -> linear -> log-softmax."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from asr_lstm.models.birnn import StackedBiRNN
from asr_lstm.models.frontend import FrameStacking


class CTCModel(nn.Module):
    """Maps feature sequences to per-frame log-probabilities over the vocabulary (blank = 0).

    Args:
        input_size: feature dimension D.
        num_classes: vocabulary size V including the blank.
        cell: factory of one recurrent layer and direction (see :mod:`asr_lstm.cells`).
        hidden_size: H per direction.
        num_layers: bidirectional layers.
        dropout: between recurrent layers.
        stack, stride: frame stacking and subsampling of the frontend.
        init_range: a, to draw every parameter from U[-a, a] (Graves et al. 2013: a = 0.1); ``None``
            keeps each layer's own initialisation (PyTorch's, and the cells' forget-gate bias).
    """

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        cell: Callable[..., nn.Module],
        hidden_size: int = 256,
        num_layers: int = 3,
        dropout: float = 0.0,
        stack: int = 1,
        stride: int = 1,
        init_range: float | None = None,
    ):
        super().__init__()
        self.frontend = FrameStacking(stack, stride)
        self.encoder = StackedBiRNN(cell, input_size * stack, hidden_size, num_layers, dropout)
        self.output = nn.Linear(2 * self.encoder.output_size, num_classes)
        if init_range is not None:
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)

    def output_length(self, num_frames: int) -> int:
        """Output frames for ``num_frames`` input frames."""
        return self.frontend.output_length(num_frames)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: ``x (B, T, D)``, ``lens (B,)``. Returns log-probs ``(B, T', V)`` and ``lens' (B,)``."""
        x, lens = self.frontend(x, lens)
        h = self.encoder(x.transpose(0, 1), lens).transpose(0, 1)
        return self.output(h).float().log_softmax(dim=-1), lens  # float32 under autocast too (CTC needs it)
