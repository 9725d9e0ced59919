"""Variational (per-sequence) dropout of the recurrent connections (Gal & Ghahramani 2016, "A
theoretically grounded application of dropout in recurrent neural networks"): one Bernoulli mask per
sequence and unit, the same at every time step, on the state that the recurrent weights multiply (and,
under the Li-GRU's ``candidate_dropout``, on its candidate); and zoneout's masks."""

from __future__ import annotations

import torch


def check_rate(name: str, p: float) -> float:
    """``p`` as the dropout rate of option ``name``; raises unless 0 <= p < 1."""
    if not 0 <= p < 1:
        raise ValueError(f"{name} must be in [0, 1), got {p}")
    return p


def variational_mask(p: float, batch: int, size: int, like: torch.Tensor, training: bool) -> torch.Tensor | None:
    """The mask ``(batch, size)`` of rate ``p``: 0 or 1 / (1 - p), so that the expected recurrent input
    is unchanged; ``None`` (no dropout) in evaluation or for ``p = 0``. Drawn from torch's generator."""
    if not training or p == 0:
        return None
    return torch.empty(batch, size, dtype=like.dtype, device=like.device).bernoulli_(1 - p).div_(1 - p)


def check_zoneout(name: str, z: float) -> float:
    """``z`` as a zoneout rate; raises unless 0 <= z < 1."""
    if not 0 <= z < 1:
        raise ValueError(f"{name} must be in [0, 1), got {z}")
    return z


def zoneout_mask(
    z: float, steps: int, batch: int, size: int, like: torch.Tensor, training: bool
) -> torch.Tensor | None:
    """Zoneout (Krueger et al. 2017, "Zoneout: regularizing RNNs by randomly preserving hidden
    activations"): ``d (T, B, size)``, the weight of the previous value in s_t = d_t o s_{t-1} +
    (1 - d_t) o s~_t. In training d_t is 1 with probability z, afresh for every step, sequence and
    unit (torch's generator); in evaluation it is its expectation z everywhere; ``None`` for z = 0."""
    if z == 0:
        return None
    if not training:
        return like.new_full((1, 1, 1), z).expand(steps, batch, size)
    return torch.empty(steps, batch, size, dtype=like.dtype, device=like.device).bernoulli_(z)
