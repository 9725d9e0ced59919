"""What reads the features before the recurrent stack: frame stacking and subsampling, or 2-D convolution blocks."""

from __future__ import annotations

import math

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


ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU}


class ConvBlock(nn.Module):
    """Conv2d ('same' padding) -> batch norm -> activation -> max-pool -> dropout, over ``(B, C, F, T)``.

    ``pool = (p_f, p_t)``: non-overlapping max-pooling by ``p_f`` over the feature axis (height,
    frequency) and ``p_t`` over time, rounding down (1 keeps the axis).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel: int,
        pool: tuple[int, int],
        batch_norm: bool,
        activation: str,
        dropout: float,
    ):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"model.conv.kernel must be odd ('same' padding), got {kernel}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"model.conv.activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.conv = nn.Conv2d(in_channels, channels, kernel, padding=kernel // 2, bias=not batch_norm)
        self.norm = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()
        self.activation = ACTIVATIONS[activation]()
        self.pool = tuple(pool)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.norm(self.conv(x)))
        if self.pool != (1, 1):
            x = F.max_pool2d(x, self.pool)
        return self.dropout(x)


class ConvFrontEnd(nn.Module):
    """2-D convolution blocks over (feature x time) in front of the recurrent stack (Puigcerver 2017
    for line images, the convolutional part of a CRDNN for filterbanks).

    A frame of D features is read as ``in_channels`` planes of ``D / in_channels`` values (a line
    image's column of pixels: one plane; filterbanks with deltas: three), so the input ``(B, T, D)``
    becomes ``(B, in_channels, D / in_channels, T)``. After the blocks, each time step's channels x
    remaining features are flattened into one frame: ``(B, T', C_last * F')``, T' = T // prod(p_t).

    Padding does not leak into an utterance: after every block the frames past each utterance's
    (pooled) length are set to zero, so with batch norm in eval mode an utterance's output is the
    same in any batch.

    Args:
        input_size: D.
        channels: output channels of each block.
        pools: ``[p_f, p_t]`` of each block.
        kernel: square kernel size of every block (odd).
        in_channels: planes a frame is split into.
        batch_norm, activation, dropout: every block's (``dropout``: one rate, or one per block).
    """

    def __init__(
        self,
        input_size: int,
        channels: list[int] | tuple[int, ...] = (16, 32, 48, 64, 80),
        pools: list[list[int]] | tuple = ((2, 2), (2, 2), (2, 2), (1, 1), (1, 1)),
        kernel: int = 3,
        in_channels: int = 1,
        batch_norm: bool = True,
        activation: str = "leaky_relu",
        dropout: float | list[float] | tuple[float, ...] = 0.0,
    ):
        super().__init__()
        if len(pools) != len(channels):
            raise ValueError(f"model.conv: {len(channels)} blocks of channels but {len(pools)} pools")
        if input_size % in_channels:
            raise ValueError(f"model.conv.in_channels={in_channels} does not divide the feature dimension {input_size}")
        rates = [float(dropout)] * len(channels) if isinstance(dropout, (int, float)) else [float(r) for r in dropout]
        if len(rates) != len(channels):
            raise ValueError(f"model.conv: {len(channels)} blocks but {len(rates)} dropout rates")
        self.in_channels, self.height = in_channels, input_size // in_channels
        self.time_pools = [int(p_t) for _, p_t in pools]
        height = self.height
        for p_f, _ in pools:
            height //= p_f
        if height < 1:
            raise ValueError(f"model.conv: the pools reduce the {self.height} features of a plane to none")
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            ConvBlock(c_in, c_out, kernel, (int(p_f), int(p_t)), batch_norm, activation, rate)
            for c_in, c_out, (p_f, p_t), rate in zip(widths, channels, pools, rates)
        )
        self.output_size = channels[-1] * height

    @property
    def stride(self) -> int:
        """Input frames per output frame."""
        return math.prod(self.time_pools)

    def output_length(self, length: int) -> int:
        for p_t in self.time_pools:
            length //= p_t
        return length

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: ``x (B, T, D)``, ``lens (B,)``. Returns ``(B, T', output_size)`` and ``lens' (B,)``."""
        batch, frames, _ = x.shape
        x = x.reshape(batch, frames, self.in_channels, self.height).permute(0, 2, 3, 1)  # (B, C, F, T)
        x = x * _frame_mask(lens, frames, x)
        for block, p_t in zip(self.blocks, self.time_pools):
            x = block(x)
            lens = torch.div(lens, p_t, rounding_mode="floor")
            x = x * _frame_mask(lens, x.shape[-1], x)
        batch, channels, height, frames = x.shape
        return x.permute(0, 3, 1, 2).reshape(batch, frames, channels * height), lens


def _frame_mask(lens: torch.Tensor, frames: int, like: torch.Tensor) -> torch.Tensor:
    """``(B, 1, 1, T)``: 1 for the frames of each utterance, 0 for its padding."""
    valid = torch.arange(frames, device=lens.device).unsqueeze(0) < lens.unsqueeze(1)
    return valid[:, None, None, :].to(like.dtype)
