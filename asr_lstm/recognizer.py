"""A trained model ready to decode audio, line images or pen strokes: features, normalisation, network and vocabulary together.

Built either from a training run (``asr_lstm.cli.export``) or from an exported file
(``asr_lstm.load``); it needs neither Hydra nor Lightning.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torchaudio.functional as AF
from torch.nn.utils.rnn import pad_sequence

from asr_lstm import cells
from asr_lstm.data.features import (
    FeatureConfig,
    Normalizer,
    compute_features,
    line_features,
    load_audio,
    mean_std,
    with_deltas,
)
from asr_lstm.data.images import load_line_image
from asr_lstm.data.strokes import read_stroke_xml, stroke_features
from asr_lstm.decoding import greedy_decode
from asr_lstm.metrics import words
from asr_lstm.models import CTCModel


@dataclass
class Segment:
    """One aligned token: start and duration in seconds (audio, pen strokes) or pixel columns (line images)."""

    token: str
    start: float
    duration: float


class Recognizer:
    """Audio, line images or pen strokes -> label sequences (and alignments) with one model.

    Args:
        net: the CTC acoustic model (eval mode is set here).
        model_options: the ``CTCModel`` constructor arguments except ``cell``.
        cell_options: ``{"name": ..., **options}`` for :func:`asr_lstm.cells.build`.
        tokens: vocabulary, blank first.
        features: the feature pipeline.
        cmvn_mean, cmvn_std: ``(D,)`` training-set statistics. With ``features.cmvn == "speaker"`` the
            speaker of a new file is unknown, so each utterance is normalised by its own statistics.
        scoring_folding: the folding the corpus scores with ("39" for TIMIT) or ``None``.
        word_separator: the token between words of a character model (IAM's ``|``), or ``None``.
    """

    def __init__(
        self,
        net: CTCModel,
        model_options: dict,
        cell_options: dict,
        tokens: list[str],
        features: FeatureConfig,
        cmvn_mean: torch.Tensor,
        cmvn_std: torch.Tensor,
        scoring_folding: str | None = None,
        word_separator: str | None = None,
    ):
        self.net = net.eval()
        self.model_options = model_options
        self.cell_options = cell_options
        self.tokens = tokens
        self.features = features
        self.cmvn_mean = cmvn_mean
        self.cmvn_std = cmvn_std
        self.scoring_folding = scoring_folding
        self.word_separator = word_separator

    @staticmethod
    def build_net(model_options: dict, cell_options: dict) -> CTCModel:
        options = dict(cell_options)
        name = options.pop("name")
        return CTCModel(cell=functools.partial(cells.build, name, **options), **model_options)

    @classmethod
    def from_package(cls, package: dict) -> Recognizer:
        net = cls.build_net(package["model"], package["cell"])
        net.load_state_dict(package["state_dict"])
        cmvn = package["cmvn"]
        return cls(
            net,
            package["model"],
            package["cell"],
            package["tokens"],
            FeatureConfig(**package["features"]),
            cmvn["mean"],
            cmvn["std"],
            package["scoring_folding"],
            package.get("word_separator"),
        )

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> Recognizer:
        self.net.to(device)
        return self

    @property
    def frame_shift_s(self) -> float:
        """Seconds between two output frames (feature hop x subsampling) of an audio model."""
        return self.features.frame_shift_ms / 1000 * self.net.frontend.stride

    def text(self, tokens: list[str]) -> str:
        """A hypothesis as text: words for a character model with a word separator, else the tokens."""
        return " ".join(words(tokens, self.word_separator) if self.word_separator is not None else tokens)

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        if self.features.cmvn == "speaker":  # the speaker is unknown: the utterance's own statistics
            return Normalizer("global", mean_std(feats))(feats)
        return Normalizer(self.features.cmvn, (self.cmvn_mean, self.cmvn_std))(feats)

    def featurise(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Normalised features ``(T, D)`` of a mono waveform ``(N,)`` at any sample rate."""
        return self.normalise(compute_features(waveform, sample_rate, self.features))

    def featurise_file(self, path: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features ``(T, D)`` of the model's kind of input file (audio, line image or stroke
        XML) and the ``(T + 1,)`` positions where each input frame starts and the last one ends, in the
        input's own unit: seconds of audio, pixel columns of the original image, seconds of writing.
        Unreadable input raises :class:`~asr_lstm.data.corpora.base.CorpusError`.
        """
        cfg = self.features
        if cfg.kind == "image":
            ink = load_line_image(path)
            feats = line_features(ink, cfg)
            return self.normalise(feats), torch.arange(len(feats) + 1) * (ink.shape[0] / cfg.image_height)
        if cfg.kind == "strokes":
            raw, times = stroke_features(read_stroke_xml(path), cfg.stroke_step)
            return self.normalise(with_deltas(raw, cfg)), torch.cat([times, times[-1:]])
        waveform, rate = load_audio(path)
        feats = self.featurise(waveform, rate)
        return feats, torch.arange(len(feats) + 1) * (cfg.frame_shift_ms / 1000)

    def pad(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T_b, D)`` features as one zero-padded batch ``(B, T, D)`` and lengths ``(B,)`` on the model's device."""
        x = pad_sequence(feats, batch_first=True).to(self.device)
        return x, torch.tensor([f.shape[0] for f in feats], device=self.device)

    @torch.no_grad()
    def log_probs(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched log-probabilities ``(B, T', V)`` and output lengths ``(B,)`` for ``(T_b, D)`` features."""
        return self.net(*self.pad(feats))

    def decode(self, feats: list[torch.Tensor]) -> list[list[str]]:
        """Greedy label sequences of a batch of feature matrices."""
        log_probs, lens = self.log_probs(feats)
        return [[self.tokens[i] for i in ids] for ids in greedy_decode(log_probs, lens)]

    def align(self, log_probs: torch.Tensor, ids: list[int], positions: torch.Tensor | None = None) -> list[Segment]:
        """CTC forced alignment (``torchaudio.functional.forced_align``) of label ids to ``(T', V)`` log-probs.

        Each label gets the span of frames the best path spends on it, placed by the input frames'
        ``positions`` (``(T + 1,)``, from :meth:`featurise_file`); without them, output frames are
        ``frame_shift_s`` apart (an audio model).
        """
        if not ids:
            return []
        path, _ = AF.forced_align(log_probs.unsqueeze(0).float().cpu(), torch.tensor([ids]), blank=0)
        segments, previous = [], 0
        for frame, label in enumerate(path[0].tolist()):
            if label != 0 and label != previous:  # CTC separates a repeated label by a blank
                segments.append([self.tokens[label], frame, frame + 1])
            elif label != 0:
                segments[-1][2] = frame + 1
            previous = label
        stride = self.net.frontend.stride

        def at(frame: int) -> float:  # output frame -> position of its first input frame
            if positions is None:
                return frame * self.frame_shift_s
            return float(positions[min(frame * stride, len(positions) - 1)])

        return [Segment(token, at(start), at(end) - at(start)) for token, start, end in segments]
