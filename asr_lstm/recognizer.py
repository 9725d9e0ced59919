"""A trained model ready to decode audio, line images or pen strokes: features, normalisation, network
and vocabulary together, and the one path from features to hypotheses.

Built from an exported file (``asr_lstm.load``) or from a training run (:meth:`Recognizer.from_run`);
``asr-lstm evaluate``, ``asr-lstm decode`` and the recipes' export check all decode through
:meth:`Recognizer.recognise`. Decoding needs neither Hydra nor Lightning.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torchaudio.functional as AF
from torch.nn.utils.rnn import pad_sequence

from asr_lstm import cells
from asr_lstm.confidence import AlignedFrames, forced_path
from asr_lstm.data.cmvn import normalise_all
from asr_lstm.data.features import FeatureConfig, compute_features, file_frames
from asr_lstm.data.units import Units, units_from_state
from asr_lstm.decoding import greedy_decode
from asr_lstm.errors import InputFileError
from asr_lstm.models import CTCModel

if TYPE_CHECKING:
    from asr_lstm.decoding.beam import BeamSearch
    from asr_lstm.streaming import StreamingRecognizer

Search = Callable[[torch.Tensor, torch.Tensor], list[list[int]]]


@dataclass
class Segment:
    """One aligned token: start and duration in the input kind's unit (seconds, or pixel columns of a
    line image), and its posterior."""

    token: str
    start: float
    duration: float
    confidence: float  # the token's mean posterior over its aligned frames


@dataclass
class Utterance:
    """One input to recognise.

    Attributes:
        id: its name in the output.
        feats: ``(T, D)`` raw (not yet normalised) features.
        positions: ``(T + 1,)`` where each input frame starts and the last one ends (for alignments), or ``None``.
        speaker: its speaker or writer (per-speaker CMVN), or ``None``.
    """

    id: str
    feats: torch.Tensor
    positions: torch.Tensor | None = None
    speaker: str | None = None


@dataclass
class Transcript:
    """The hypothesis of one utterance: label ids and tokens, the words of a lexicon search, aligned
    segments and its confidence."""

    id: str
    ids: list[int]
    tokens: list[str]
    words: list[str] | None = None
    segments: list[Segment] = field(default_factory=list)
    confidence: float | None = None  # in [0, 1]: see asr_lstm.confidence


@dataclass
class Recognizer:
    """Audio, line images or pen strokes -> label sequences (and alignments) with one model.

    Attributes:
        net: the CTC acoustic model (eval mode is set here).
        model_options: the ``CTCModel`` constructor arguments except ``cell``.
        cell_options: ``{"name": ..., **options}`` for :func:`asr_lstm.cells.build`.
        tokens: vocabulary, blank first.
        features: the feature pipeline.
        cmvn_mean, cmvn_std: ``(D,)`` training-set statistics (see :mod:`asr_lstm.data.cmvn` for
            which statistics each CMVN mode uses).
        scoring_folding: the folding the corpus scores with ("39" for TIMIT) or ``None``.
        units: how the labels spell words (:mod:`asr_lstm.data.units`), or ``None`` (TIMIT's phones).
        confidence_temperature: tau of the confidences (:mod:`asr_lstm.confidence`), calibrated on dev.
        normalization: the Unicode form of the training transcriptions (``data.normalization``,
            :mod:`asr_lstm.data.unicode_forms`; ``None``: as the corpus held them), which the decoded
            text is in and references are brought to.
    """

    net: CTCModel
    model_options: dict
    cell_options: dict
    tokens: list[str]
    features: FeatureConfig
    cmvn_mean: torch.Tensor
    cmvn_std: torch.Tensor
    scoring_folding: str | None = None
    units: Units | None = None
    confidence_temperature: float = 1.0
    normalization: str | None = "NFC"

    def __post_init__(self) -> None:
        self.net.eval()

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
            net, package["model"], package["cell"], package["tokens"], FeatureConfig(**package["features"]),
            cmvn["mean"], cmvn["std"], package["scoring_folding"],
            units_from_state(package["units"]) if package["units"] is not None else None, package["confidence_temperature"],
            package["normalization"],
        )  # fmt: skip

    @classmethod
    def from_run(cls, run: str | Path, checkpoint: str = "best") -> Recognizer:
        """The recognizer of a training run directory's ``best`` or ``last`` checkpoint, or of a
        ``.ckpt`` path (of the run two folders above it, unless ``run`` is that run)."""
        from asr_lstm.runs import TrainingRun  # reads Hydra's config.yaml: only for runs, not model files

        return TrainingRun.of(run).recognizer(checkpoint)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> Recognizer:
        self.net.to(device)
        return self

    @property
    def frame_shift_s(self) -> float | None:
        """Seconds between two output frames (feature hop x subsampling) where that is a constant (audio)."""
        shift = self.features.input.frame_shift_s(self.features)
        return None if shift is None else shift * self.net.frontend.stride

    @property
    def separator(self) -> str | None:
        """The label between words, where the units have one (a lexicon search's separator)."""
        return self.units.separator if self.units is not None else None

    def text(self, tokens: list[str], words: list[str] | None = None) -> str:
        """A hypothesis as text, in reading order: the ``words`` of a lexicon search, else the words
        of its tokens where the labels have units, else the tokens."""
        if self.units is None:
            return " ".join(words if words is not None else tokens)
        return " ".join(self.units.reading_order(words) if words is not None else self.units.words(tokens))

    def displayed_text(self, tokens: list[str], words: list[str] | None = None) -> str:
        """A hypothesis as text in the order of its labels, left to right as the input shows it: the
        display order of a model of right-to-left lines (``data.bidi``), for pictures, whose text is
        drawn in string order; :meth:`text` for every other model."""
        if self.units is None:
            return self.text(tokens, words)
        return " ".join(words if words is not None else self.units.displayed_words(tokens))

    def normalise(self, utterances: list[Utterance]) -> list[torch.Tensor]:
        """The utterances' features normalised together, as :mod:`asr_lstm.data.cmvn` says for the model's mode."""
        normalised = normalise_all(
            {u.id: u.feats for u in utterances},
            {u.id: u.speaker for u in utterances},
            self.features.cmvn,
            (self.cmvn_mean, self.cmvn_std),
        )
        return [normalised[u.id] for u in utterances]

    def featurise(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Normalised features ``(T, D)`` of a mono waveform ``(N,)`` at any sample rate (an audio model)."""
        return self.normalise([Utterance("input", compute_features(waveform, sample_rate, self.features))])[0]

    def read(
        self,
        path: str | Path,
        utt: str | None = None,
        speaker: str | None = None,
        segment: tuple[float, float] | None = None,
    ) -> Utterance:
        """The model's kind of input file (audio, line image, stroke XML, ...), or the ``segment``
        ``(start, end)`` seconds of an audio file, as an :class:`Utterance` with raw features and
        positions in the input's own unit. Unreadable input raises
        :class:`~asr_lstm.errors.InputFileError` naming the file."""
        feats, positions = file_frames(path, self.features, segment)
        if reason := self.too_short(len(feats)):
            raise InputFileError(f"{path}: {reason}")
        return Utterance(utt if utt is not None else Path(path).stem, feats, positions, speaker)

    def too_short(self, num_frames: int) -> str | None:
        """Why ``num_frames`` input frames give the network no output frame (a convolutional front end
        pools ``stride`` of them into one), or ``None`` where they give at least one."""
        if self.net.output_length(num_frames) >= 1:
            return None
        stride = self.net.frontend.stride
        return f"{num_frames} frames, fewer than the {stride} input frames the model's front end pools into one output frame"

    def featurise_file(self, path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features ``(T, D)`` of one input file on its own and the ``(T + 1,)`` positions where
        each input frame starts and the last one ends (seconds of audio or writing, pixel columns)."""
        utterance = self.read(path)
        return self.normalise([utterance])[0], utterance.positions

    def pad(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T_b, D)`` features as one zero-padded batch ``(B, T, D)`` and lengths ``(B,)`` on the model's device."""
        x = pad_sequence(feats, batch_first=True).to(self.device)
        return x, torch.tensor([f.shape[0] for f in feats], device=self.device)

    @torch.no_grad()
    def log_probs(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched log-probabilities ``(B, T', V)`` and output lengths ``(B,)`` for normalised ``(T_b, D)`` features."""
        return self.net(*self.pad(feats))

    def decode(self, feats: list[torch.Tensor]) -> list[list[str]]:
        """Greedy label sequences of a batch of normalised feature matrices."""
        log_probs, lens = self.log_probs(feats)
        return [[self.tokens[i] for i in ids] for ids in greedy_decode(log_probs, lens)]

    def posteriors(self, utterances: list[Utterance], batch_size: int = 16) -> list[torch.Tensor]:
        """``(T'_b, V)`` log-probabilities (on the CPU) of each utterance, in input order.

        The utterances are normalised together, then run through the network in batches of
        ``batch_size`` utterances of similar length (longest first): the same inputs always make the
        same batches, whatever order they came in. Raises ``ValueError`` naming every utterance too
        short to give an output frame.
        """
        short = [f"{u.id}: {reason}" for u in utterances if (reason := self.too_short(len(u.feats)))]
        if short:
            raise ValueError(f"{len(short)} inputs too short for the model:\n  " + "\n  ".join(short))
        feats = self.normalise(utterances)
        order = sorted(range(len(feats)), key=lambda k: -feats[k].shape[0])
        out: list[torch.Tensor | None] = [None] * len(feats)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            log_probs, lens = self.log_probs([feats[k] for k in chunk])
            for k, lp, n in zip(chunk, log_probs.cpu(), lens.tolist()):
                out[k] = lp[:n]
        return out

    def transcribe(
        self, utterances: list[Utterance], posteriors: list[torch.Tensor], search: Search = greedy_decode,
        align: bool = False,
    ) -> list[Transcript]:  # fmt: skip
        """Runs ``search`` (greedy, or a :class:`~asr_lstm.decoding.beam.BeamSearch`) over posteriors from
        :meth:`posteriors`; every hypothesis gets its confidence, and with ``align`` its aligned tokens
        (both from one forced alignment)."""
        transcripts = []
        for start in range(0, len(posteriors), 64):
            batch = posteriors[start : start + 64]
            log_probs = pad_sequence(batch, batch_first=True)
            lens = torch.tensor([len(p) for p in batch])
            if getattr(search, "gives_words", False):  # a lexicon search: the words, and their spelling
                results = [(h.ids, h.words) for h in search.search(log_probs, lens)]
            else:
                results = [(ids, None) for ids in search(log_probs, lens)]
            for utt, lp, (ids, hyp_words) in zip(utterances[start : start + 64], batch, results):
                path = forced_path(lp, ids)
                segments = self.segments(lp, path, utt.positions) if align else []
                confidence = AlignedFrames.of(lp, path).confidence(self.confidence_temperature)
                tokens = [self.tokens[i] for i in ids]
                transcripts.append(Transcript(utt.id, ids, tokens, hyp_words, segments, confidence))
        return transcripts

    def recognise(
        self, utterances: list[Utterance], search: Search = greedy_decode, batch_size: int = 16, align: bool = False
    ) -> list[Transcript]:
        """The one path from features to hypotheses: :meth:`posteriors`, then :meth:`transcribe`."""
        return self.transcribe(utterances, self.posteriors(utterances, batch_size), search, align)

    def stream(self, search: BeamSearch | None = None) -> StreamingRecognizer:
        """A :class:`~asr_lstm.streaming.StreamingRecognizer` for one input fed in chunks (a forward-only
        or latency-controlled model), greedy or with a beam ``search`` of its own."""
        from asr_lstm.streaming import StreamingRecognizer  # which imports this module

        return StreamingRecognizer(self, search)

    def segments(
        self, log_probs: torch.Tensor, path: torch.Tensor | None, positions: torch.Tensor | None = None
    ) -> list[Segment]:
        """The aligned tokens of a hypothesis from its forced ``path`` (:func:`~asr_lstm.confidence.forced_path`)
        over ``(T', V)`` log-probs: each label gets the span of frames the path spends on it
        (``torchaudio.functional.merge_tokens``; its score is the span's mean posterior), placed by the
        input frames' ``positions`` (``(T + 1,)``, from :meth:`read`); without them, output frames are
        ``frame_shift_s`` apart (an audio model)."""
        if path is None:
            return []
        scores = log_probs.float().cpu().gather(1, path.unsqueeze(1)).squeeze(1).exp()
        spans = AF.merge_tokens(path, scores, blank=0)
        at = self.frame_positions(len(log_probs), positions).tolist()
        at = [round(position, 6) for position in at]  # microseconds (or pixel columns): no float noise
        return [Segment(self.tokens[s.token], at[s.start], round(at[s.end] - at[s.start], 6), s.score) for s in spans]

    def frame_positions(self, num_frames: int, positions: torch.Tensor | None = None) -> torch.Tensor:
        """``(T' + 1,)``: where each of ``num_frames`` output frames starts (the position of its first
        input frame) and the last one ends, from the input frames' ``positions`` (``(T + 1,)``) or,
        without them, ``frame_shift_s`` apart (an audio model)."""
        frames = torch.arange(num_frames + 1)
        if positions is None:
            return frames.double() * self.frame_shift_s
        return positions[(frames * self.net.frontend.stride).clamp(max=len(positions) - 1)].double()
