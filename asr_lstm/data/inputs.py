"""The kinds of model input, in one table: what every other module asks about audio, line images and
pen strokes (and any kind added later).

An entry says where a manifest row keeps the input's path, which files a directory given to
``asr-lstm decode`` holds, how a file becomes frames and where each frame lies in the input, the size
of a frame, which coefficients lie on a frequency (or pixel-row) axis for SpecAugment, and the unit
of alignment times. ``features.kind`` names the entry. A new kind is one :func:`register` call and
its reader; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from asr_lstm.data import audio, images, strokes

if TYPE_CHECKING:
    from asr_lstm.data.features import FeatureConfig

Reader = Callable[[Path, "FeatureConfig"], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class InputKind:
    """One kind of input.

    Attributes:
        name: the ``features.kind`` that selects it.
        manifest_key: the manifest field holding the input file.
        suffixes: lower-case file suffixes of such inputs.
        read: ``read(path, cfg) -> (frames (T, base_dim), positions (T + 1,))``: the frames before
            deltas, and where each frame starts and the last one ends, in ``unit``. Unreadable input
            raises :class:`~asr_lstm.errors.InputFileError` naming the file.
        base_dim: ``base_dim(cfg)``: coefficients of a frame before deltas.
        bands: ``bands(cfg) -> (first, end)``: the coefficients of a frame (before deltas) that lie on
            a frequency or pixel-row axis, which SpecAugment may mask; ``None``: the kind has none.
        unit: the unit of positions and alignment times: ``s`` (seconds) or ``px`` (pixel columns).
        frame_shift_s: ``frame_shift_s(cfg)``: seconds between frames where that is a constant, else ``None``.
        nouns: what reports call an item and who made it.
        report_hours: reports give a split's hours (from the rows' ``duration``), as speech corpora are measured.
        sources: ``read`` takes what a Kaldi ``wav.scp`` holds (a path as ``str``, or a command ending
            in ``|``) and a third argument, the row's ``segment`` ``(start, end)`` in seconds or ``None``.
        from_samples: ``from_samples(waveform (N,), sample_rate, cfg) -> (T, base_dim)``: the frames of
            sampled audio (each frame from one analysis window, so a stream of samples gives them as
            their windows fill: :mod:`asr_lstm.streaming`); ``None`` for a kind not read from samples.
    """

    name: str
    manifest_key: str
    suffixes: frozenset[str]
    read: Reader
    base_dim: Callable[[FeatureConfig], int]
    bands: Callable[[FeatureConfig], tuple[int, int] | None]
    unit: str
    frame_shift_s: Callable[[FeatureConfig], float | None]
    nouns: tuple[str, str] = ("utterances", "speakers")
    report_hours: bool = False
    sources: bool = False
    from_samples: Callable[[torch.Tensor, int, FeatureConfig], torch.Tensor] | None = None


INPUT_KINDS: dict[str, InputKind] = {}


def register(kind: InputKind) -> InputKind:
    """Adds (or replaces) the entry ``kind.name`` of the table."""
    INPUT_KINDS[kind.name] = kind
    return kind


def input_kind(name: str) -> InputKind:
    """The entry named ``name``; a ``ValueError`` lists the known ones."""
    try:
        return INPUT_KINDS[name]
    except KeyError:
        raise ValueError(f"features.kind must be one of {tuple(INPUT_KINDS)}, got {name!r}") from None


def manifest_keys() -> tuple[str, ...]:
    """Every manifest field that may hold an input file, in table order."""
    return tuple(dict.fromkeys(kind.manifest_key for kind in INPUT_KINDS.values()))


def kind_of_row(row: dict) -> InputKind | None:
    """The first kind whose manifest field the row has, or ``None``."""
    return next((kind for kind in INPUT_KINDS.values() if kind.manifest_key in row), None)


def _fbank_bands(cfg: FeatureConfig) -> tuple[int, int]:
    return int(cfg.use_energy), cfg.num_mel_bins + int(cfg.use_energy)  # Kaldi puts log energy first


def _audio_shift(cfg: FeatureConfig) -> float:
    return cfg.frame_shift_ms / 1000


def _no_bands(cfg: FeatureConfig) -> None:
    return None


def _untimed(cfg: FeatureConfig) -> None:
    return None


_AUDIO = dict(manifest_key="audio", suffixes=audio.AUDIO_SUFFIXES, read=audio.read_frames, unit="s",
              frame_shift_s=_audio_shift, report_hours=True, sources=True, from_samples=audio.audio_frames)  # fmt: skip
_LINES = dict(unit="px", frame_shift_s=_untimed, nouns=("lines", "writers"))
register(InputKind("fbank", base_dim=lambda c: c.num_mel_bins + int(c.use_energy), bands=_fbank_bands, **_AUDIO))
register(InputKind("mfcc", base_dim=lambda c: c.num_ceps, bands=_no_bands, **_AUDIO))
register(InputKind("image", "image", images.IMAGE_SUFFIXES, images.read_frames, base_dim=lambda c: c.image_height,
                   bands=lambda c: (0, c.image_height), **_LINES))  # fmt: skip
register(InputKind("strokes", "strokes", strokes.STROKE_SUFFIXES, strokes.read_frames, base_dim=lambda c: strokes.NUM_FEATURES,
                   bands=_no_bands, unit="s", frame_shift_s=_untimed, nouns=("lines", "writers")))  # fmt: skip
