"""Greedy (best-path) CTC decoding."""

from __future__ import annotations

import torch


def greedy_decode(log_probs: torch.Tensor, lens: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path per utterance: arg-max per frame, repeats merged, blanks removed.

    Args:
        log_probs: ``(B, T, V)``.
        lens: ``(B,)`` valid frames per utterance.

    Returns:
        B lists of label ids.
    """
    best = log_probs.argmax(dim=-1).cpu()
    out = []
    for path, n in zip(best, lens.tolist()):
        merged = torch.unique_consecutive(path[:n])
        out.append(merged[merged != blank].tolist())
    return out
