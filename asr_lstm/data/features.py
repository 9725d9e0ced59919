"""Input features: what a frame is for each input kind (:mod:`asr_lstm.data.inputs`), with temporal
deltas on top.

``features.kind`` picks the kind: ``fbank`` and ``mfcc`` read audio (:mod:`asr_lstm.data.audio`),
``image`` the pixel columns of a text-line image (:mod:`asr_lstm.data.images`), ``strokes`` pen
trajectories of online handwriting (:mod:`asr_lstm.data.strokes`). The features of a split are cached
by :mod:`asr_lstm.data.feature_store`; normalisation is :mod:`asr_lstm.data.cmvn`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torchaudio.functional as AF

from asr_lstm.data.audio import audio_frames
from asr_lstm.data.cmvn import CMVN_MODES
from asr_lstm.data.inputs import InputKind, input_kind
from asr_lstm.errors import InputFileError


@dataclass(frozen=True)
class FeatureConfig:
    """How features are computed and normalised.

    Attributes:
        kind: an input kind of :mod:`asr_lstm.data.inputs`: ``fbank`` (log-mel filterbank), ``mfcc``,
            ``image`` (pixel columns of a line image) or ``strokes`` (pen trajectories).
        num_mel_bins: mel channels.
        num_ceps: cepstra kept (MFCC only).
        use_energy: append (fbank) or substitute for c0 (MFCC) the log frame energy.
        delta_order: 0 none, 1 deltas, 2 deltas and delta-deltas.
        delta_window: frames of the regression window of ``compute_deltas``.
        sample_rate: audio is resampled to this rate first.
        frame_length_ms, frame_shift_ms: analysis window and hop.
        cmvn: ``global`` (training-set statistics), ``speaker`` (or writer) or ``none``
            (see :mod:`asr_lstm.data.cmvn`).
        image_height: pixels a line image is scaled to (image only).
        stroke_step: pen travel between two frames, in line heights (strokes only).
    """

    kind: str = "fbank"
    num_mel_bins: int = 40
    num_ceps: int = 13
    use_energy: bool = True
    delta_order: int = 2
    delta_window: int = 5
    sample_rate: int = 16000
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    cmvn: str = "global"
    image_height: int = 40
    stroke_step: float = 0.1

    def __post_init__(self) -> None:
        input_kind(self.kind)
        if self.cmvn not in CMVN_MODES:
            raise ValueError(f"features.cmvn must be one of {CMVN_MODES}, got {self.cmvn!r}")

    @property
    def input(self) -> InputKind:
        """The entry of this kind in the input table."""
        return input_kind(self.kind)

    @property
    def input_key(self) -> str:
        """The manifest field holding the input path: ``audio``, ``image`` or ``strokes``."""
        return self.input.manifest_key

    @property
    def base_dim(self) -> int:
        return self.input.base_dim(self)

    @property
    def dim(self) -> int:
        """Feature dimension D, e.g. (40 + 1) * 3 = 123 for the default, 40 for 40-pixel line images."""
        return self.base_dim * (1 + self.delta_order)

    def cache_name(self) -> str:
        """Directory name of the cache: kind and a hash of what changes the raw features."""
        raw = {k: v for k, v in asdict(self).items() if k != "cmvn"}
        digest = hashlib.sha1(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.kind}-{digest}"


def with_deltas(feats: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """``(T, d)`` -> ``(T, d * (1 + delta_order))``: the features and their regression deltas over time."""
    parts = [feats.T]
    for _ in range(cfg.delta_order):
        parts.append(AF.compute_deltas(parts[-1], win_length=cfg.delta_window))
    return torch.cat(parts, dim=0).T.contiguous()


def compute_features(waveform: torch.Tensor, sample_rate: int, cfg: FeatureConfig) -> torch.Tensor:
    """``(T, cfg.dim)`` float32 features of one mono waveform ``(N,)`` in [-1, 1] at ``sample_rate`` Hz."""
    return with_deltas(audio_frames(waveform, sample_rate, cfg), cfg)


def file_frames(
    path: str | Path, cfg: FeatureConfig, segment: tuple[float, float] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw ``(T, cfg.dim)`` features of one input file of ``cfg.kind`` (or of its ``segment``, for a
    kind that reads Kaldi sources) and the ``(T + 1,)`` positions where each frame starts and the last
    one ends, in the kind's unit; errors name the file."""
    kind = cfg.input
    if kind.sources:
        frames, positions = kind.read(path, cfg, segment)
    elif segment is not None:
        raise InputFileError(f"{path}: a time segment applies to audio, not to {kind.name} input")
    else:
        frames, positions = kind.read(Path(path), cfg)
    return with_deltas(frames, cfg), positions


def file_features(path: str | Path, cfg: FeatureConfig, segment: tuple[float, float] | None = None) -> torch.Tensor:
    """Raw ``(T, cfg.dim)`` features of one input file of ``cfg.kind`` (or of its ``segment``)."""
    return file_frames(path, cfg, segment)[0]
