"""Audio input: torchaudio's Kaldi-compatible filterbank and MFCC front end.

Default (Graves, Mohamed & Hinton 2013): 40 log-mel filterbank channels plus log energy (with deltas
added by :func:`asr_lstm.data.features.with_deltas`: 41 * 3 = 123 dimensions at 100 frames/s). MFCC
(13 cepstra, c0 replaced by log energy) is the option. Audio is read by soundfile in any format it
knows (WAV, FLAC, NIST SPHERE, ...), channels averaged, and resampled to the configured rate.

A source may also be what a Kaldi ``wav.scp`` holds: a command ending in ``|`` whose standard output
is the audio (run by the shell: only corpora prepared with ``allow_pipes`` put one in a manifest), and
a row may name a time segment ``(start, end)`` of its source in seconds (Kaldi's ``segments``).
"""

from __future__ import annotations

import io
import subprocess
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


def is_command(source: str | Path) -> bool:
    """Whether ``source`` is a Kaldi ``wav.scp`` command (``sph2pipe -f wav a.sph |``) rather than a path."""
    return isinstance(source, str) and source.rstrip().endswith("|")


def run_command(command: str) -> io.BytesIO:
    """The standard output of a ``wav.scp`` command (without its ``|``), run by the shell."""
    done = subprocess.run(command.rstrip()[:-1], shell=True, capture_output=True, check=False)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise InputFileError(
            f"{command}: the command exited with status {done.returncode}" + (f" ({err[-1]})" if err else "")
        )
    return io.BytesIO(done.stdout)


def load_audio(path: str | Path, segment: tuple[float, float] | None = None) -> tuple[torch.Tensor, int]:
    """Mono float waveform ``(N,)`` and its rate; multi-channel audio is averaged.

    Args:
        path: an audio file, or a command ending in ``|`` that writes one to its standard output.
        segment: ``(start, end)`` seconds of it to read (only those samples are decoded from a file);
            an end past the audio's is the audio's end.
    """
    if not is_command(path) and not Path(path).exists():
        raise InputFileError(f"{path}: no such audio file")
    try:
        if is_command(path):
            data, rate = sf.read(run_command(str(path)), dtype="float32", always_2d=True)
            if segment is not None:
                data = data[round(segment[0] * rate) : round(segment[1] * rate)]
        elif segment is not None:
            rate = sf.info(str(path)).samplerate
            start, stop = round(segment[0] * rate), round(segment[1] * rate)
            data, rate = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
        else:
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


def read_frames(
    path: str | Path, cfg: FeatureConfig, segment: tuple[float, float] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(T, base_dim)`` frames of an audio file (or command, or a ``segment`` of either: :func:`load_audio`)
    and the ``(T + 1,)`` times (s, from the segment's start) where they start, the last one's end.

    Audio sampled below ``cfg.sample_rate`` lacks the model's upper band: :class:`LowSampleRateWarning`.
    """
    waveform, rate = load_audio(path, segment)
    if rate < cfg.sample_rate:
        warnings.warn(LowSampleRateWarning(f"{path}: {rate} Hz audio, below the model's {cfg.sample_rate} Hz: "
                                           f"upsampled, its band above {rate // 2} Hz is empty"), stacklevel=2)  # fmt: skip
    if len(waveform) / rate * 1000 < cfg.frame_length_ms:
        raise InputFileError(f"{path}: {len(waveform) / rate * 1000:.1f} ms of audio, shorter than one "
                             f"{cfg.frame_length_ms:g} ms analysis window")  # fmt: skip
    frames = audio_frames(waveform, rate, cfg)
    return frames, torch.arange(len(frames) + 1, dtype=torch.float64) * (cfg.frame_shift_ms / 1000)
