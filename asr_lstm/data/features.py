"""Input features, cached once per split: torchaudio's Kaldi-compatible front end for audio, pixel
columns for text-line images (:mod:`asr_lstm.data.images`), pen trajectories for online handwriting
(:mod:`asr_lstm.data.strokes`).

Default (Graves, Mohamed & Hinton 2013): 40 log-mel filterbank channels plus log energy, with first
and second temporal derivatives, 41 * 3 = 123 dimensions at 100 frames/s. MFCC (13 cepstra, c0 replaced
by log energy, with deltas: 39 dims) is the option. ``kind: image`` reads the manifest's ``image``
instead of its ``audio``: one frame per column of the line scaled to ``image_height`` pixels;
``kind: strokes`` reads its ``strokes`` (IAM-OnDB XML): one frame per ``stroke_step`` of pen travel. CMVN statistics come from the training set
(global) or from each speaker's own utterances (per speaker, as Kaldi's ``apply-cmvn --utt2spk``).

Cache layout, under ``<work_dir>/<kind>-<hash>/``: ``<split>.pt`` = ``{"ids": [str], "lengths": (N,),
"feats": (sum T, D)}`` (weights-only loadable), and ``cmvn.pt`` with the training-set statistics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf
import torch
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as AF

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.done import is_done, mark_done
from asr_lstm.data.images import image_features, load_line_image
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.strokes import NUM_FEATURES as STROKE_FEATURES
from asr_lstm.data.strokes import read_stroke_xml, stroke_features

log = logging.getLogger(__name__)

KINDS = ("fbank", "mfcc", "image", "strokes")
INPUT_KEYS = {"image": "image", "strokes": "strokes"}  # the manifest field of each kind; audio otherwise
CMVN_MODES = ("global", "speaker", "none")
INT16_SCALE = 32768.0  # Kaldi's front end works on int16-valued samples (energy floor, log offsets)


@dataclass(frozen=True)
class FeatureConfig:
    """How features are computed and normalised.

    Attributes:
        kind: ``fbank`` (log-mel filterbank), ``mfcc``, ``image`` (pixel columns of a line image) or
            ``strokes`` (pen trajectories of online handwriting).
        num_mel_bins: mel channels.
        num_ceps: cepstra kept (MFCC only).
        use_energy: append (fbank) or substitute for c0 (MFCC) the log frame energy.
        delta_order: 0 none, 1 deltas, 2 deltas and delta-deltas.
        delta_window: frames of the regression window of ``compute_deltas``.
        sample_rate: audio is resampled to this rate first.
        frame_length_ms, frame_shift_ms: analysis window and hop.
        cmvn: ``global`` (training-set statistics), ``speaker`` (or writer) or ``none``.
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
        if self.kind not in KINDS:
            raise ValueError(f"features.kind must be one of {KINDS}, got {self.kind!r}")
        if self.cmvn not in CMVN_MODES:
            raise ValueError(f"features.cmvn must be one of {CMVN_MODES}, got {self.cmvn!r}")

    @property
    def input_key(self) -> str:
        """The manifest field holding the input path: ``audio``, ``image`` or ``strokes``."""
        return INPUT_KEYS.get(self.kind, "audio")

    @property
    def base_dim(self) -> int:
        if self.kind == "image":
            return self.image_height
        if self.kind == "strokes":
            return STROKE_FEATURES
        if self.kind == "fbank":
            return self.num_mel_bins + int(self.use_energy)
        return self.num_ceps

    @property
    def dim(self) -> int:
        """Feature dimension D, e.g. (40 + 1) * 3 = 123 for the default, 40 for 40-pixel line images."""
        return self.base_dim * (1 + self.delta_order)

    def cache_name(self) -> str:
        """Directory name of the cache: kind and a hash of what changes the raw features."""
        raw = {k: v for k, v in asdict(self).items() if k != "cmvn"}
        digest = hashlib.sha1(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.kind}-{digest}"


def compute_features(waveform: torch.Tensor, sample_rate: int, cfg: FeatureConfig) -> torch.Tensor:
    """Features of one mono waveform.

    Args:
        waveform: ``(N,)`` samples in [-1, 1].
        sample_rate: Hz of ``waveform``.

    Returns:
        ``(T, cfg.dim)`` float32 features, T = 1 + (N' - 400) // 160 at 16 kHz (Kaldi ``snip_edges``).
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
    if cfg.kind == "fbank":
        feats = kaldi.fbank(wav, **common)
    else:
        feats = kaldi.mfcc(wav, num_ceps=cfg.num_ceps, **common)
    return with_deltas(feats, cfg)


def with_deltas(feats: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """``(T, d)`` -> ``(T, d * (1 + delta_order))``: the features and their regression deltas over time."""
    parts = [feats.T]
    for _ in range(cfg.delta_order):
        parts.append(AF.compute_deltas(parts[-1], win_length=cfg.delta_window))
    return torch.cat(parts, dim=0).T.contiguous()


def load_audio(path: str) -> tuple[torch.Tensor, int]:
    """Mono float waveform ``(N,)`` and its rate; multi-channel audio is averaged."""
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise CorpusError(f"{path}: cannot read audio ({err})") from None
    if data.shape[0] == 0:
        raise CorpusError(f"{path}: empty audio (0 samples)")
    return torch.from_numpy(data.mean(axis=1)), rate


def line_features(ink: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """``(W', cfg.dim)`` column features of an ``(H, W)`` ink map (:func:`asr_lstm.data.images.load_line_image`)."""
    return with_deltas(image_features(ink, cfg.image_height), cfg)


def file_features(path: str | Path, cfg: FeatureConfig) -> torch.Tensor:
    """Raw ``(T, cfg.dim)`` features of one audio file, line image or stroke file (by ``cfg.kind``); errors name the file."""
    if cfg.kind == "image":
        return line_features(load_line_image(path), cfg)
    if cfg.kind == "strokes":
        return with_deltas(stroke_features(read_stroke_xml(path), cfg.stroke_step)[0], cfg)
    waveform, rate = load_audio(str(path))
    return compute_features(waveform, rate, cfg)


def extract_split(rows: list[dict], cfg: FeatureConfig, out_path: Path) -> None:
    """Computes features for every manifest row and saves them as one ``.pt`` file, atomically."""
    ids, feats = [], []
    for row in rows:
        feats.append(file_features(row[cfg.input_key], cfg))
        ids.append(row["id"])
    tmp = out_path.with_suffix(".tmp")
    torch.save({"ids": ids, "lengths": torch.tensor([f.shape[0] for f in feats]), "feats": torch.cat(feats)}, tmp)
    os.replace(tmp, out_path)


def load_split(path: str | Path) -> dict[str, torch.Tensor]:
    """``{utterance id: (T, D) features}`` from a cache file written by :func:`extract_split`."""
    blob = torch.load(path, weights_only=True)
    chunks = torch.split(blob["feats"], blob["lengths"].tolist())
    return dict(zip(blob["ids"], chunks))


def mean_std(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation of ``(T, D)`` frames (float64 accumulation)."""
    frames = frames.double()
    mean = frames.mean(0)
    std = (frames.pow(2).mean(0) - mean.pow(2)).clamp_min(1e-10).sqrt()
    return mean.float(), std.float()


class Normalizer:
    """Applies CMVN: ``(x - mean) / std`` with global or per-speaker statistics."""

    def __init__(self, mode: str, global_stats: tuple[torch.Tensor, torch.Tensor] | None):
        self.mode = mode
        self.global_stats = global_stats
        self.speaker_stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def fit_speakers(self, feats: dict[str, torch.Tensor], speakers: dict[str, str]) -> None:
        """Per-speaker statistics from each speaker's utterances in ``feats`` (id -> speaker)."""
        by_speaker: dict[str, list[torch.Tensor]] = {}
        for utt, x in feats.items():
            by_speaker.setdefault(speakers[utt], []).append(x)
        for spk, xs in by_speaker.items():
            self.speaker_stats[spk] = mean_std(torch.cat(xs))

    def __call__(self, x: torch.Tensor, speaker: str | None = None) -> torch.Tensor:
        if self.mode == "none":
            return x
        mean, std = self.speaker_stats[speaker] if self.mode == "speaker" else self.global_stats
        return (x - mean) / std


def prepare_features(manifest_dir: str | Path, splits: tuple[str, ...], cfg: FeatureConfig) -> Path:
    """Extracts and caches features for ``splits`` and the training-set CMVN statistics.

    Returns:
        The cache directory ``<manifest_dir>/<cfg.cache_name()>``.
    """
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / cfg.cache_name()
    cache.mkdir(parents=True, exist_ok=True)
    for split in splits:
        marker = cache / f".{split}.done"
        manifest = manifest_dir / f"{split}.jsonl"
        params = {"config": asdict(cfg), "manifest_mtime": manifest.stat().st_mtime_ns}
        if is_done(marker, params):
            log.info("%s: %s features cached, skipping", cache, split)
            continue
        rows = read_manifest(manifest)
        log.info("%s: computing %s features for %d utterances", cache, split, len(rows))
        extract_split(rows, cfg, cache / f"{split}.pt")
        mark_done(marker, params)
    stats_path = cache / "cmvn.pt"
    if not stats_path.exists() or (cache / ".train.done").stat().st_mtime > stats_path.stat().st_mtime:
        mean, std = mean_std(torch.cat(list(load_split(cache / "train.pt").values())))
        torch.save({"mean": mean, "std": std}, stats_path)
    return cache
