"""Speech augmentation in the waveform: speed perturbation and additive noise (``augment=speech``).

Speed (Ko et al. 2015, "Audio augmentation for speech recognition"; Kaldi's
``perturb_data_dir_speed.sh``, ESPnet's ``speed_perturb_factors``): the training set is used once per
factor f of ``speeds``, each copy's waveforms resampled by ``torchaudio.functional.speed`` (duration
divided by f, pitch and formants multiplied by f). The copy at f = 1 is the original. The other copies
are cached per factor next to the original's features, as splits ``train.sp<f>`` of the feature
store, with utterance ids (and speakers) prefixed ``sp<f>-`` as Kaldi does. They are computed once
at preparation. The original's cache stays valid and the CMVN statistics stay those of the
original training set. An epoch covers every copy, so it is ``len(speeds)`` times as long.

Noise is added on the fly, as ESPnet's preprocessor does. Each time a training utterance is drawn, with
probability ``noise_prob``, its audio is read again, speed-perturbed for its copy, and mixed with
noise at an SNR ~ U[``snr_db``] dB (``torchaudio.functional.add_noise``: the noise n is scaled so that
10 log10(||x||^2 / ||n||^2) = SNR). Its features are then computed afresh, so every epoch gets new
noise. The noise is a random excerpt of one of the user's noise files (``noise_files``: a folder of
audio files or a text file listing them; an excerpt is looped when the file is shorter), or else
generated coloured noise with a power spectrum proportional to 1 / f^beta, beta = 0 (white), 1 (pink)
or 2 (brown), one colour drawn per utterance. Every draw comes from torch's global generator, so the
run's seed fixes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch
import torchaudio.functional as AF

from asr_lstm.data.audio import AUDIO_SUFFIXES, audio_frames, load_audio
from asr_lstm.data.features import FeatureConfig, with_deltas
from asr_lstm.errors import ConfigError, InputFileError

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # beta of a 1 / f^beta power spectrum


def copy_name(speed: float) -> str:
    """The name of the training-set copy at ``speed``: ``sp0.9``, ``sp1.1`` (Kaldi's prefix)."""
    return f"sp{speed:g}"


def speed_copy(row: dict, speed: float) -> dict:
    """A manifest row of the copy at ``speed``: id and speaker prefixed ``sp<f>-``, ``speed`` added."""
    prefix = copy_name(speed) + "-"
    copy = {**row, "id": prefix + row["id"], "speed": speed}
    for key in ("speaker", "writer"):
        if key in row:
            copy[key] = prefix + row[key]
    return copy


@dataclass
class SpeechPerturbation:
    """What ``augment=speech`` does to the training audio (see the module docstring).

    Attributes:
        speeds: the factors of the training-set copies (1.0: the original).
        noise_prob: the probability that a drawn training utterance gets noise (0: never).
        snr_db: ``(low, high)``: the SNR range, dB.
        noise_files: a folder of noise audio files, or a text file listing one path a line; ``None``:
            generated noise of ``colours``.
        colours: the colours of generated noise (``white``, ``pink``, ``brown``).
    """

    speeds: tuple[float, ...] = (0.9, 1.0, 1.1)
    noise_prob: float = 0.0
    snr_db: tuple[float, float] = (5.0, 20.0)
    noise_files: str | None = None
    colours: tuple[str, ...] = ("white", "pink", "brown")

    def __post_init__(self) -> None:
        self.speeds, self.snr_db, self.colours = tuple(self.speeds), tuple(self.snr_db), tuple(self.colours)
        problems = []
        if not self.speeds or min(self.speeds) <= 0 or len(set(self.speeds)) != len(self.speeds):
            problems.append(f"data.perturb.speeds must be distinct positive factors, got {list(self.speeds)}")
        if not 0.0 <= self.noise_prob <= 1.0:
            problems.append(f"data.perturb.noise_prob must be a probability, got {self.noise_prob}")
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            problems.append(f"data.perturb.snr_db must be [low, high] with low <= high, got {list(self.snr_db)}")
        unknown = [c for c in self.colours if c not in COLOURS]
        if unknown or (not self.colours and self.noise_files is None):
            problems.append(f"data.perturb.colours must be some of {tuple(COLOURS)}, got {list(self.colours)}")
        if problems:
            raise ConfigError("augment=speech: " + "; ".join(problems))

    @property
    def copies(self) -> tuple[float, ...]:
        """The factors whose copies are cached (all but 1.0)."""
        return tuple(s for s in self.speeds if s != 1.0)


class NoiseSource:
    """Noise excerpts: random stretches of the user's noise files, or generated coloured noise.

    Args:
        perturbation: says which (``noise_files``, ``colours``).
        sample_rate: the rate of the excerpts (the features' ``sample_rate``).

    Raises:
        ConfigError: naming every noise file that cannot be read (or an empty folder or list).
    """

    def __init__(self, perturbation: SpeechPerturbation, sample_rate: int):
        self.sample_rate = sample_rate
        self.betas = [COLOURS[c] for c in perturbation.colours]
        self.files: list[tuple[Path, int, int]] = []  # (path, frames, rate)
        if perturbation.noise_files is not None:
            self.files = read_noise_files(Path(perturbation.noise_files))

    def excerpt(self, samples: int) -> torch.Tensor:
        """``(samples,)`` noise at ``sample_rate``."""
        if not self.files:
            beta = self.betas[int(torch.randint(len(self.betas), ()))]
            return coloured_noise(samples, beta)
        path, frames, rate = self.files[int(torch.randint(len(self.files), ()))]
        need = math.ceil(samples * rate / self.sample_rate)
        start = int(torch.randint(max(1, frames - need + 1), ()))
        data, _ = sf.read(str(path), start=start, stop=min(frames, start + need), dtype="float32", always_2d=True)
        noise = torch.from_numpy(data.mean(axis=1))
        if rate != self.sample_rate:
            noise = AF.resample(noise, rate, self.sample_rate)
        return noise.repeat(math.ceil(samples / len(noise)))[:samples]


def read_noise_files(source: Path) -> list[tuple[Path, int, int]]:
    """``(path, frames, rate)`` of each noise file in the folder ``source`` (its audio files) or listed
    in the text file ``source``; a ``ConfigError`` names every one that cannot be read."""
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    elif source.is_file():
        lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
        paths = [(source.parent / line) for line in lines if line]
    else:
        raise ConfigError(f"data.perturb.noise_files={source}: no such folder or file list")
    if not paths:
        raise ConfigError(f"data.perturb.noise_files={source}: no audio files in it")
    files, bad = [], []
    for path in paths:
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError) as err:
            bad.append(f"{path}: cannot read audio ({err})")
            continue
        if info.frames == 0:
            bad.append(f"{path}: empty audio (0 samples)")
        else:
            files.append((path, info.frames, info.samplerate))
    if bad:
        raise ConfigError(f"{len(bad)} of {len(paths)} noise files in {source} cannot be used:\n  " + "\n  ".join(bad))
    return files


def coloured_noise(samples: int, beta: float) -> torch.Tensor:
    """``(samples,)`` Gaussian noise whose power spectrum falls as 1 / f^beta (no DC), unit RMS."""
    spectrum = torch.randn(samples // 2 + 1, dtype=torch.complex64)
    freqs = torch.arange(samples // 2 + 1, dtype=torch.float32)
    spectrum = spectrum * torch.where(freqs > 0, freqs.clamp_min(1.0) ** (-beta / 2), 0.0)
    noise = torch.fft.irfft(spectrum, n=samples)
    return noise / noise.pow(2).mean().sqrt().clamp_min(1e-12)


def mix_noise(waveform: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """``(N,)`` speech plus ``(N,)`` noise scaled to ``snr_db``; speech unchanged where the noise is silent."""
    if not noise.pow(2).sum() > 0:
        return waveform
    return AF.add_noise(waveform.unsqueeze(0), noise.unsqueeze(0), torch.tensor([snr_db])).squeeze(0)


def perturbed_features(
    row: dict, cfg: FeatureConfig, noise: NoiseSource | None = None, snr_db: tuple[float, float] = (0.0, 0.0)
) -> torch.Tensor:
    """Raw ``(T, cfg.dim)`` features of a row's audio at the row's ``speed`` (1 when absent), with
    noise at an SNR ~ U[``snr_db``] when ``noise`` is given; errors name the file."""
    waveform, rate = load_audio(row[cfg.input_key], row.get("segment"))
    if rate != cfg.sample_rate:
        waveform = AF.resample(waveform, rate, cfg.sample_rate)
    speed = row.get("speed", 1.0)
    if speed != 1.0:
        waveform = AF.speed(waveform, cfg.sample_rate, speed)[0]
    if len(waveform) / cfg.sample_rate * 1000 < cfg.frame_length_ms:
        raise InputFileError(f"{row[cfg.input_key]}: shorter than one analysis window at speed {speed:g}")
    if noise is not None:
        snr = float(torch.empty(()).uniform_(*snr_db))
        waveform = mix_noise(waveform, noise.excerpt(len(waveform)), snr)
    feats = with_deltas(audio_frames(waveform, cfg.sample_rate, cfg), cfg)
    if not torch.isfinite(feats).all():
        raise InputFileError(f"{row[cfg.input_key]}: its features hold NaN or infinite values")
    return feats
