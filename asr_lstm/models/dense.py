"""Dense blocks between the recurrent stack and the output layer (the "DNN" of a CRDNN)."""

from __future__ import annotations

import torch
from torch import nn

from asr_lstm.models.frontend import ACTIVATIONS


class DenseBlocks(nn.Module):
    """``layers`` blocks of linear -> batch norm -> activation -> dropout applied to every frame,
    ``(B, T, D) -> (B, T, size)``, as SpeechBrain's CRDNN does after its recurrent layers.

    In training mode the batch statistics are taken over the utterances' own frames only (padding
    would bias them, and make an utterance's output depend on its batch); in eval mode batch norm is
    a fixed per-feature affine map and every frame goes through it as it is (one graph for ONNX).

    Args:
        input_size: D.
        layers: number of blocks.
        size: features of each block's output.
        batch_norm, activation, dropout: each block's.
    """

    def __init__(
        self,
        input_size: int,
        layers: int = 2,
        size: int = 512,
        batch_norm: bool = True,
        activation: str = "leaky_relu",
        dropout: float = 0.15,
    ):
        super().__init__()
        if layers < 1 or size < 1:
            raise ValueError(f"model.dnn: layers and size must be >= 1, got {layers}, {size}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"model.dnn.activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        blocks: list[nn.Module] = []
        for k in range(layers):
            blocks += [nn.Linear(input_size if k == 0 else size, size, bias=not batch_norm)]
            blocks += [nn.BatchNorm1d(size)] if batch_norm else []
            blocks += [ACTIVATIONS[activation](), nn.Dropout(dropout)]
        self.blocks = nn.Sequential(*blocks)
        self.output_size = size

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """``x (B, T, D)``, ``lens (B,)`` -> ``(B, T, size)``; frames past each length are zero in training."""
        if not self.training:
            batch, frames, dim = x.shape
            return self.blocks(x.reshape(batch * frames, dim)).reshape(batch, frames, -1)
        valid = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lens.to(x.device).unsqueeze(1)  # (B, T)
        out = x.new_zeros(*x.shape[:2], self.output_size)
        out[valid] = self.blocks(x[valid])
        return out
