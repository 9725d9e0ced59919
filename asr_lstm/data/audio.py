"""Audio input: torchaudio's Kaldi-compatible filterbank and MFCC front end.

Default (Graves, Mohamed & Hinton 2013): 40 log-mel filterbank channels plus log energy (with deltas
added by :func:`asr_lstm.data.features.with_deltas`: 41 * 3 = 123 dimensions at 100 frames/s). MFCC
(13 cepstra, c0 replaced by log energy) is the option. Audio is read by soundfile in any format it
knows (WAV, FLAC, NIST SPHERE, ...), channels averaged, and resampled to the configured rate.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import torch
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as AF

from asr_lstm.errors import InputFileError

if TYPE_CHECKING:
    from asr_lstm.data.features import FeatureConfig


class LowSampleRateWarning(UserWarning):
    """Audio sampled below the rate a model was trained on: resampling cannot restore the missing band."""


AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".sph", ".nist", ".ogg", ".aiff", ".aif", ".au", ".mp3"})
INT16_SCALE = 32768.0  # Kaldi's front end works on int16-valued samples (energy floor, log offsets)


def load_audio(path: str | Path) -> tuple[torch.Tensor, int]:
    """Mono float waveform ``(N,)`` and its rate; multi-channel audio is averaged."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise InputFileError(f"{path}: cannot read audio ({err})") from None
    if data.shape[0] == 0:
        raise InputFileError(f"{path}: empty audio (0 samples)")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).any(axis=1).sum())
        raise InputFileError(f"{path}: {bad} samples are NaN or infinite")
    return torch.from_numpy(data.mean(axis=1)), rate


def audio_frames(waveform: torch.Tensor, sample_rate: int, cfg: FeatureConfig) -> torch.Tensor:
    """Filterbank or MFCC frames of one mono waveform, before deltas.

    Args:
        waveform: ``(N,)`` samples in [-1, 1].
        sample_rate: Hz of ``waveform``.

    Returns:
        ``(T, base_dim)`` float32 frames, T = 1 + (N' - 400) // 160 at 16 kHz (Kaldi ``snip_edges``).
    """
    if sample_rate != cfg.sample_rate:
        waveform = AF.resample(waveform, sample_rate, cfg.sample_rate)
    wav = waveform.unsqueeze(0) * INT16_SCALE
    common = dict(
        sample_frequency=cfg.sample_rate,
        frame_length=cfg.frame_length_ms,
        frame_shift=cfg.frame_shift_ms,
        num_mel_bins=cfg.num_mel_bins,
        use_energy=cfg.use_energy,
        dither=0.0,
    )
    if cfg.kind == "mfcc":
        return kaldi.mfcc(wav, num_ceps=cfg.num_ceps, **common)
    return kaldi.fbank(wav, **common)


def read_frames(path: Path, cfg: FeatureConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(T, base_dim)`` frames of an audio file and the ``(T + 1,)`` times (s) where they start, the last one's end.

    Audio sampled below ``cfg.sample_rate`` lacks the model's upper band: :class:`LowSampleRateWarning`.
    """
    waveform, rate = load_audio(path)
    if rate < cfg.sample_rate:
        warnings.warn(LowSampleRateWarning(f"{path}: {rate} Hz audio, below the model's {cfg.sample_rate} Hz: "
                                           f"upsampled, its band above {rate // 2} Hz is empty"), stacklevel=2)  # fmt: skip
    if len(waveform) / rate * 1000 < cfg.frame_length_ms:
        raise InputFileError(f"{path}: {len(waveform) / rate * 1000:.1f} ms of audio, shorter than one "
                             f"{cfg.frame_length_ms:g} ms analysis window")  # fmt: skip
    frames = audio_frames(waveform, rate, cfg)
    return frames, torch.arange(len(frames) + 1) * (cfg.frame_shift_ms / 1000)
