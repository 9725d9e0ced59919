"""Variational (per-sequence) dropout of the recurrent connections (Gal & Ghahramani 2016, "A
theoretically grounded application of dropout in recurrent neural networks"): one Bernoulli mask per
sequence and unit, the same at every time step, on the state that the recurrent weights multiply."""

from __future__ import annotations

import torch


def check_rate(p: float) -> float:
    """``p`` as a dropout rate; raises unless 0 <= p < 1."""
    if not 0 <= p < 1:
        raise ValueError(f"recurrent_dropout must be in [0, 1), got {p}")
    return p


def variational_mask(p: float, batch: int, size: int, like: torch.Tensor, training: bool) -> torch.Tensor | None:
    """The mask ``(batch, size)`` of rate ``p``: 0 or 1 / (1 - p), so that the expected recurrent input
    is unchanged; ``None`` (no dropout) in evaluation or for ``p = 0``. Drawn from torch's generator."""
    if not training or p == 0:
        return None
    return torch.empty(batch, size, dtype=like.dtype, device=like.device).bernoulli_(1 - p).div_(1 - p)
