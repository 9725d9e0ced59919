"""Confidences: the mean posterior of the aligned tokens, at a temperature that the calibration on
dev chooses to lower the cross-entropy with the hypotheses' accuracies."""

import math

import pytest
import torch

from asr_lstm.confidence import AlignedFrames, calibrate, cross_entropy, forced_path, pearson

# 5 frames over (blank, a, b): the best path for [a, b] is a, blank, b, b, blank
PROBS = torch.tensor([[0.05, 0.9, 0.05], [0.8, 0.1, 0.1], [0.2, 0.1, 0.7], [0.3, 0.1, 0.6], [0.9, 0.05, 0.05]])


def test_the_confidence_is_the_mean_posterior_of_the_aligned_tokens():
    log_probs = PROBS.log()
    path = forced_path(log_probs, [1, 2])
    assert path.tolist() == [1, 0, 2, 2, 0]
    aligned = AlignedFrames.of(log_probs, path)
    assert aligned.confidence() == pytest.approx((0.9 + 0.7 + 0.6) / 3)
    empty = AlignedFrames.of(log_probs, forced_path(log_probs, []))
    assert empty.confidence() == pytest.approx(PROBS[:, 0].mean().item())  # nothing recognised: blank throughout


def test_a_temperature_flattens_or_sharpens_the_posteriors():
    aligned = AlignedFrames.of(PROBS.log(), forced_path(PROBS.log(), [1, 2]))
    tempered = torch.softmax(PROBS.log() / 2.0, dim=1)
    assert aligned.confidence(2.0) == pytest.approx((tempered[0, 1] + tempered[2, 2] + tempered[3, 2]).item() / 3)
    assert aligned.confidence(0.25) > aligned.confidence(1.0) > aligned.confidence(2.0) > 1 / 3
    assert all(0 <= aligned.confidence(t) <= 1 for t in (0.01, 1.0, 100.0))


def test_calibration_cools_an_overconfident_model_and_warms_an_underconfident_one():
    sure = torch.tensor([[0.005, 0.99, 0.005]] * 4).log()
    overconfident = [AlignedFrames.of(sure, forced_path(sure, [1]))] * 4
    cooled = calibrate(overconfident, [1.0, 0.0, 1.0, 0.0])  # sure of itself, right half of the time
    assert cooled.temperature > 1 and cooled.loss < cooled.loss_at_1
    unsure = torch.tensor([[0.3, 0.6, 0.1]] * 4).log()
    warmed = calibrate([AlignedFrames.of(unsure, forced_path(unsure, [1]))] * 3, [1.0, 1.0, 1.0])
    assert warmed.temperature < 1 and warmed.loss < warmed.loss_at_1


def test_cross_entropy_and_correlation_by_their_formulas():
    assert cross_entropy([0.8, 0.3], [1.0, 0.0]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert cross_entropy([1.0], [1.0]) == pytest.approx(0.0, abs=1e-5)  # clipped, finite
    assert pearson([0.1, 0.5, 0.9], [0.0, 0.5, 1.0]) == pytest.approx(1.0)
    assert pearson([0.5, 0.5], [0.0, 1.0]) is None and pearson([0.5], [1.0]) is None
