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


def label_starts(best: list[int], previous: int = 0, blank: int = 0) -> list[tuple[int, int]]:
    """``(frame, label)`` for each label of the best path ``best`` (one label a frame), at the frame
    where its run begins: the labels :func:`greedy_decode` keeps, and when each was decided. ``previous``
    is the label of the frame before ``best[0]`` (a stream's last frame so far)."""
    before = [previous, *best[:-1]]
    return [(k, label) for k, (label, prior) in enumerate(zip(best, before)) if label not in (blank, prior)]
