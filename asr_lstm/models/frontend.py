"""Frame stacking and subsampling before the recurrent stack."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FrameStacking(nn.Module):
    """Concatenates ``stack`` consecutive frames and keeps every ``stride``-th result.

    Output frame t concatenates input frames ``t*stride .. t*stride + stack - 1`` (zeros past the end),
    so T' = ceil(T / stride). ``stack = stride = 1`` is the identity. Halving the frame rate roughly
    halves recurrent time while 50 frames/s still leaves room for CTC on phones.
    """

    def __init__(self, stack: int = 1, stride: int = 1):
        super().__init__()
        if stack < 1 or stride < 1:
            raise ValueError(f"stack and stride must be >= 1, got {stack}, {stride}")
        self.stack = stack
        self.stride = stride

    def output_length(self, length: int) -> int:
        return (
            length + self.stride - 1
        ) // self.stride  # ceil without negative floor division, which ONNX would truncate

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: ``x (B, T, D)``, ``lens (B,)``. Returns ``(B, T', stack*D)`` and ``lens' (B,)``."""
        if self.stack == 1 and self.stride == 1:
            return x, lens
        batch, frames, dim = x.shape
        out_frames = self.output_length(frames)
        # Gather by index rather than ``unfold`` after a length-dependent pad: the same arithmetic
        # for any T, which keeps T symbolic under torch.export (ONNX).
        starts = torch.arange(out_frames, device=x.device).unsqueeze(1) * self.stride  # (T', 1)
        index = starts + torch.arange(self.stack, device=x.device)  # (T', stack)
        x = F.pad(x, (0, 0, 0, self.stack))  # every index < T + stack
        stacked = x[:, index.reshape(-1)].reshape(batch, out_frames, self.stack * dim)
        return stacked, torch.div(lens + self.stride - 1, self.stride, rounding_mode="floor")
