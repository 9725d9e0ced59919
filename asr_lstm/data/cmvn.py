"""Cepstral (feature) mean and variance normalisation, ``(x - mean) / std`` per dimension.

Which statistics each mode uses, for training, ``asr-lstm evaluate`` and ``asr-lstm decode`` alike:

- ``global``: the training set's, computed once when its features are cached and carried by an
  exported model;
- ``speaker``: each speaker's (writer's), from that speaker's utterances among those normalised
  together: a split of a corpus, or the inputs of one ``decode`` call (a manifest that names
  speakers, as Kaldi's ``apply-cmvn --utt2spk``). An input without a speaker is a speaker of its own,
  normalised by its own statistics;
- ``none``: the features as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

CMVN_MODES = ("global", "speaker", "none")


class RunningStats:
    """Per-dimension sums of frames, added utterance by utterance (float64), for mean and deviation
    without holding the frames."""

    def __init__(self) -> None:
        self.count, self.sum, self.sum_sq = 0, 0.0, 0.0

    def add(self, frames: torch.Tensor) -> None:
        """Adds ``(T, D)`` frames."""
        frames = frames.double()
        self.count += frames.shape[0]
        self.sum = self.sum + frames.sum(0)
        self.sum_sq = self.sum_sq + frames.pow(2).sum(0)

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.sum / self.count
        std = (self.sum_sq / self.count - mean.pow(2)).clamp_min(1e-10).sqrt()
        return mean.float(), std.float()


def mean_std(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation of ``(T, D)`` frames (float64 accumulation)."""
    stats = RunningStats()
    stats.add(frames)
    return stats.mean_std()


class Normalizer:
    """Applies CMVN with global or per-speaker statistics (see the module docstring)."""

    def __init__(self, mode: str, global_stats: tuple[torch.Tensor, torch.Tensor] | None):
        self.mode = mode
        self.global_stats = global_stats
        self.speaker_stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def fit_speakers(self, feats: Mapping[str, torch.Tensor], speakers: dict[str, str | None]) -> None:
        """Per-speaker statistics from each speaker's utterances in ``feats`` (id -> speaker; an
        utterance whose speaker is ``None`` is its own speaker, named by its id), read one at a time."""
        by_speaker: dict[str, RunningStats] = {}
        for utt in feats:
            by_speaker.setdefault(self.speaker_of(utt, speakers[utt]), RunningStats()).add(feats[utt])
        self.speaker_stats.update({spk: stats.mean_std() for spk, stats in by_speaker.items()})

    @staticmethod
    def speaker_of(utt: str, speaker: str | None) -> str:
        return speaker if speaker is not None else f"utterance:{utt}"

    def __call__(self, x: torch.Tensor, speaker: str | None = None) -> torch.Tensor:
        if self.mode == "none":
            return x
        mean, std = self.speaker_stats[speaker] if self.mode == "speaker" else self.global_stats
        return (x - mean) / std


def normalise_all(
    feats: dict[str, torch.Tensor],
    speakers: dict[str, str | None],
    mode: str,
    global_stats: tuple[torch.Tensor, torch.Tensor] | None,
) -> dict[str, torch.Tensor]:
    """``{id: (T, D) normalised features}`` of utterances normalised together under ``mode``."""
    normalizer = Normalizer(mode, global_stats)
    if mode == "speaker":
        normalizer.fit_speakers(feats, speakers)
    return {utt: normalizer(x, normalizer.speaker_of(utt, speakers.get(utt))) for utt, x in feats.items()}
