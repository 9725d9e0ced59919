"""Padded time-major batches: each sequence within its own length."""

from __future__ import annotations

import torch


def reverse_padded(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Reverses each sequence of a padded time-major batch within its own length.

    Args:
        x: ``(T, B, D)``; sequence b occupies ``x[:lens[b], b]``.
        lens: ``(B,)``.

    Returns:
        ``(T, B, D)`` with ``x[lens[b]-1-t, b]`` at ``[t, b]`` for t < lens[b]; padding stays in place.
    """
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # (T, 1)
    lens = lens.to(x.device).unsqueeze(0)  # (1, B)
    index = torch.where(steps < lens, lens - 1 - steps, steps)  # (T, B)
    return x.gather(0, index.unsqueeze(2).expand_as(x))
