"""The directions of a bidirectional layer run as one batch of the time loop.

On CUDA a step of the fused kernels costs launches, not arithmetic (:mod:`asr_lstm.cells.fused`), and
the two directions of a layer are independent: they run in the same launches. Their inputs lie side by
side along the batch, direction d's B sequences in rows [d B, (d + 1) B) of every buffer of the loop,
and their weights are stacked, U ``(G, 4H, H)`` for G directions, each program of a launch taking its
direction's. Where torch does a product with such a stack (the gradient reaching the initial state,
the weight gradients after the loop) these helpers do it direction by direction; with one direction's
weights, ``(4H, H)``, they are the plain products.
"""

from __future__ import annotations

import torch


def count(weight: torch.Tensor | None) -> int:
    """G, the directions whose weights ``weight`` stacks, ``(G, ., .)``; 1 for one direction's ``(., .)``
    (or none: ``None``)."""
    return 1 if weight is None or weight.dim() == 2 else weight.shape[0]


def times(rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``rows (G B, K)`` times its direction's ``(K, N)`` of ``weight (G, K, N)``, or of one ``(K, N)``:
    ``(G B, N)``."""
    if weight.dim() == 2:
        return rows @ weight
    return torch.bmm(rows.reshape(weight.shape[0], -1, rows.shape[1]), weight).reshape(rows.shape[0], -1)


def by_direction(steps: torch.Tensor, directions: int) -> torch.Tensor:
    """``(T, G B, N)`` as ``(G, T B, N)``: each direction's rows of every step together."""
    return steps.unflatten(1, (directions, -1)).transpose(0, 1).reshape(directions, -1, steps.shape[-1])


def summed_products(left: torch.Tensor, right: torch.Tensor, directions: int) -> torch.Tensor:
    """sum_t left_t^T right_t over all steps for ``left (T, G B, N)`` and ``right (T, G B, K)``: a weight's
    gradient, ``(N, K)``, or ``(G, N, K)`` direction by direction."""
    if directions == 1:
        return left.reshape(-1, left.shape[-1]).t() @ right.reshape(-1, right.shape[-1])
    return by_direction(left, directions).transpose(1, 2) @ by_direction(right, directions)


def summed(steps: torch.Tensor, directions: int) -> torch.Tensor:
    """The sum over steps and sequences of ``steps (T, G B, N)``: ``(N,)``, or ``(G, N)`` direction by
    direction."""
    if directions == 1:
        return steps.sum((0, 1))
    return steps.unflatten(1, (directions, -1)).sum((0, 2))
