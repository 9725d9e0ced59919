"""The confidence of a recognised utterance or line, and its temperature calibrated on dev.

The confidence of a hypothesis is the mean, over the output frames its CTC forced alignment gives to
its tokens, of the posterior of the token aligned to the frame (of blank over every frame, for an
empty hypothesis): a number in [0, 1] defined for every search (greedy, beam with an LM, lexicon).
For a greedy hypothesis those frames are the ones where the token is the most probable label, so it
is the mean per-frame maximum posterior over the aligned tokens. The posteriors are taken at a
temperature tau, p_tau(k | t) = softmax(log p(. | t) / tau)_k, chosen on dev (as PyLaia calibrates its
confidences) to minimise the cross-entropy between the confidence c and the accuracy
a = 1 - min(1, errors / reference length) of each hypothesis:

    L(tau) = - mean_u [ a_u log c_u(tau) + (1 - a_u) log(1 - c_u(tau)) ]

which, for a line that is either right (a = 1) or wrong (a = 0), is the negative log-likelihood of
"line correct". A calibrated confidence tracks 1 - error rate.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch
import torchaudio.functional as AF

# tau from 1/4 to 8 on a geometric grid (1 included): a search, as the objective is cheap and not convex in tau
TEMPERATURES = tuple(2.0 ** (k / 8) for k in range(-16, 25))
EPSILON = 1e-6  # confidences are clipped to [eps, 1 - eps] inside the logarithms


@dataclass
class AlignedFrames:
    """The output frames a hypothesis's forced alignment gives to its tokens.

    Attributes:
        log_probs: ``(n, V)`` log-posteriors of those frames; ``labels``: ``(n,)`` the label aligned to each.
    """

    log_probs: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def of(cls, log_probs: torch.Tensor, path: torch.Tensor | None) -> AlignedFrames:
        """From ``(T', V)`` log-posteriors and the hypothesis's forced path ``(T',)`` (the label of
        every frame, blank = 0; :func:`forced_path`), ``None`` for an empty hypothesis."""
        if path is None:
            return cls(log_probs, torch.zeros(len(log_probs), dtype=torch.long))
        frames = path != 0
        return cls(log_probs[frames.to(log_probs.device)], path[frames])

    def confidence(self, temperature: float = 1.0) -> float:
        """c(tau): the mean posterior at temperature ``temperature`` of the aligned labels."""
        tempered = torch.log_softmax(self.log_probs.double().cpu() / temperature, dim=-1)
        return float(tempered.gather(1, self.labels.unsqueeze(1)).exp().mean())


def forced_path(log_probs: torch.Tensor, ids: list[int]) -> torch.Tensor | None:
    """The CTC forced alignment (``torchaudio.functional.forced_align``) of label ids to ``(T', V)``
    log-posteriors: the label of every output frame ``(T',)``, on the CPU; ``None`` for no labels."""
    if not ids:
        return None
    path, _ = AF.forced_align(log_probs.unsqueeze(0).float().cpu(), torch.tensor([ids]), blank=0)
    return path[0]


def cross_entropy(confidences: list[float], accuracies: list[float]) -> float:
    """L: the mean binary cross-entropy of confidences against accuracies in [0, 1]."""
    total = 0.0
    for c, a in zip(confidences, accuracies):
        c = min(max(c, EPSILON), 1 - EPSILON)
        total -= a * math.log(c) + (1 - a) * math.log(1 - c)
    return total / max(len(confidences), 1)


@dataclass
class Calibration:
    """The temperature chosen on a split and the cross-entropy there before (tau = 1) and after."""

    temperature: float
    loss_at_1: float
    loss: float


def calibrate(aligned: list[AlignedFrames], accuracies: list[float]) -> Calibration:
    """The tau of ``TEMPERATURES`` with the lowest cross-entropy L (the first such)."""
    losses = [cross_entropy([a.confidence(t) for a in aligned], accuracies) for t in TEMPERATURES]
    best = losses.index(min(losses))
    return Calibration(TEMPERATURES[best], losses[TEMPERATURES.index(1.0)], losses[best])


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's correlation coefficient; ``None`` where one side is constant or there are < 2 points."""
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return None
