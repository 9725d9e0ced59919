"""Recognition while the input arrives: a forward-only model (``model.bidirectional=false``) or a
latency-controlled bidirectional one (``model.chunk_frames``) fed one chunk of audio samples, or of
feature frames, at a time, printing each label as soon as the frames that decide it are in.

Every stage keeps what the next chunk needs and nothing more: the samples of an analysis window not
yet complete, the frames a delta still needs on either side, the frames a stacked frame still lacks,
and each layer's recurrent state ``(h_t, c_t)``; a latency-controlled model also the stacked frames of
its next window (N_c frames and their N_r frames of right context,
:mod:`asr_lstm.models.latency_control`) until the window is complete. So the labels of a stream are
those of :meth:`asr_lstm.recognizer.Recognizer.recognise` (greedy) on the whole input, whatever the
chunks: the same features, the same network outputs up to float rounding. The latency is the model's
own: the delta window's lookahead (2 frames an order by default), the frames a stacked frame spans,
a latency-controlled model's window (N_r to N_c + N_r output frames), and the chunk.

Models that read the whole input cannot stream: a backward direction without latency control, a
convolutional front end (its kernels and pools look ahead), per-speaker CMVN (its statistics span the
speaker's utterances).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from asr_lstm.data.features import FeatureConfig, with_deltas
from asr_lstm.decoding.greedy import label_starts
from asr_lstm.models.frontend import FrameStacking
from asr_lstm.models.latency_control import Windows
from asr_lstm.recognizer import Recognizer

if TYPE_CHECKING:
    from asr_lstm.decoding.beam import BeamSearch


class StreamingError(ValueError):
    """A model that cannot recognise a stream, or input it cannot take: the message says why."""


def samples_before_output(recognizer: Recognizer, samples: int) -> list[int]:
    """When a stream of ``samples`` audio samples gives each of its output frames: for output frame k,
    the samples read before :class:`StreamingNetwork` returns it.

    Stacked frame m reads feature frames up to m ``stride`` + ``stack`` - 1, which come once the
    deltas' lookahead after them is in, each at the end of its analysis window. Output frame k needs
    stacked frame k (forward-only) or the last of its window (latency control: chunk k // N_c and the
    N_r frames after it). Frames whose window reaches the input's end, or whose frames are the zeros
    padding the last stacked frame, come at :meth:`StreamingNetwork.finish`: after all ``samples``
    (as does every frame of a bidirectional model without latency control).
    """
    features, net = recognizer.features, recognizer.net
    window = round(features.sample_rate * features.frame_length_ms / 1000)
    shift = round(features.sample_rate * features.frame_shift_ms / 1000)
    lookahead = features.delta_order * ((features.delta_window - 1) // 2)
    outputs = net.output_length(1 + (samples - window) // shift if samples >= window else 0)
    encoder = net.encoder
    needed = []
    for k in range(outputs):
        if encoder.chunk is not None:
            last = (k // encoder.chunk + 1) * encoder.chunk + encoder.right_context - 1
        else:
            last = k if encoder.directions == 1 else outputs
        if last >= outputs:
            needed.append(samples)
            continue
        frame = last * net.frontend.stride + net.frontend.stack - 1 + lookahead
        needed.append(min(samples, frame * shift + window))
    return needed


class StreamingDeltas:
    """Raw frames in, frames with their deltas out (:func:`asr_lstm.data.features.with_deltas`), each as
    soon as the ``lookahead`` frames after it have arrived; :meth:`finish` gives the last ones, whose
    deltas repeat the final frame as the whole-input features do.

    The buffer holds the frames not yet given out and the ``lookahead`` frames before them: a delta
    of order k at frame t reads frames t - k N ... t + k N (N = (``delta_window`` - 1) / 2), and a
    frame given out from the buffer's middle reads only frames inside it.
    """

    def __init__(self, features: FeatureConfig) -> None:
        self.features = features
        self.lookahead = features.delta_order * ((features.delta_window - 1) // 2)
        self.buffer: torch.Tensor | None = None  # (frames, base_dim)
        self.start = 0  # index in the whole input of the buffer's first frame
        self.given = 0  # frames given out so far

    def accept(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, base_dim)`` raw frames -> ``(M, dim)`` frames with deltas, M >= 0."""
        self.buffer = frames if self.buffer is None else torch.cat([self.buffer, frames])
        return self._give(self.start + len(self.buffer) - self.lookahead)

    def finish(self) -> torch.Tensor:
        """The frames still held, their deltas as at the end of the input."""
        return self._give(self.start + (0 if self.buffer is None else len(self.buffer)))

    def _give(self, until: int) -> torch.Tensor:
        if self.buffer is None or until <= self.given:
            return torch.zeros(0, self.features.dim)
        out = with_deltas(self.buffer, self.features)[self.given - self.start : until - self.start]
        self.given = until
        keep_from = max(self.start, until - self.lookahead)
        self.buffer, self.start = self.buffer[keep_from - self.start :], keep_from
        return out


class StreamingWindows:
    """Audio samples in, filterbank or MFCC frames out (the input kind's ``from_samples``,
    :func:`asr_lstm.data.audio.audio_frames`): a frame as soon as its whole analysis window has arrived
    (Kaldi's ``snip_edges``, so a frame never reads past its window), the samples of unfinished windows
    kept for the next chunk."""

    def __init__(self, features: FeatureConfig) -> None:
        self.features = features
        self.from_samples = features.input.from_samples
        self.window = round(features.sample_rate * features.frame_length_ms / 1000)
        self.shift = round(features.sample_rate * features.frame_shift_ms / 1000)
        self.samples = torch.zeros(0)

    def accept(self, samples: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``(N,)`` mono samples in [-1, 1] at the model's rate -> ``(M, base_dim)`` frames, M >= 0."""
        if sample_rate != self.features.sample_rate:
            raise StreamingError(
                f"{sample_rate} Hz audio: a stream must come at the model's {self.features.sample_rate} Hz "
                "(resampling chunk by chunk would not give the whole input's samples)"
            )
        if samples.dim() != 1:
            raise StreamingError(f"a stream takes mono samples (N,), got shape {tuple(samples.shape)}")
        self.samples = torch.cat([self.samples, samples.float()])
        if len(self.samples) < self.window:
            return torch.zeros(0, self.features.base_dim)
        frames = self.from_samples(self.samples, self.features.sample_rate, self.features)
        self.samples = self.samples[len(frames) * self.shift :]
        return frames


class StreamingFrames:
    """Frame stacking (:class:`asr_lstm.models.frontend.FrameStacking`) over a stream: stacked frame k,
    input frames ``k stride ... k stride + stack - 1``, as soon as they are in; :meth:`finish` zero-fills
    the last ones, as the whole input is padded."""

    def __init__(self, stacking: FrameStacking) -> None:
        self.stack, self.stride = stacking.stack, stacking.stride
        self.buffer = torch.zeros(0, 0)  # the frames from index ``start`` on that have arrived
        self.start = 0  # the first frame a stacked frame still to make reads (frames before it are dropped)
        self.received = 0  # frames that have arrived
        self.made = 0  # stacked frames made

    def accept(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` frames -> ``(M, stack D)`` stacked frames, M >= 0."""
        kept = frames[max(0, self.start - self.received) :]
        self.buffer = kept if self.buffer.numel() == 0 else torch.cat([self.buffer, kept])
        self.received += len(frames)
        return self._make(max(0, (self.received - self.stack) // self.stride + 1), frames.shape[1])

    def finish(self) -> torch.Tensor:
        """The stacked frames still to make, zeros past the input's end (``accept`` must have come first)."""
        return self._make(FrameStacking(self.stack, self.stride).output_length(self.received), self.buffer.shape[1])

    def _make(self, count: int, dim: int) -> torch.Tensor:
        if count <= self.made:
            return torch.zeros(0, self.stack * dim)
        starts = torch.arange(self.made, count) * self.stride - self.start
        index = (starts.unsqueeze(1) + torch.arange(self.stack)).reshape(-1)
        padded = torch.cat([self.buffer.reshape(-1, dim), torch.zeros(self.stack, dim)])
        out = padded[index.clamp(max=len(padded) - 1)].reshape(count - self.made, self.stack * dim)
        self.made = count
        next_start = count * self.stride
        self.buffer, self.start = self.buffer[next_start - self.start :], next_start
        return out


class StreamingNetwork:
    """A streaming model's log-probabilities over one input fed in chunks: each chunk of audio
    samples (:meth:`accept_waveform`, an audio model) or raw feature frames of any input kind
    (:meth:`accept_frames`: before CMVN, without deltas) gives those of
    the output frames it completes, :meth:`finish` those of the rest. Any search that takes frames as
    they come can read them; :class:`StreamingRecognizer` decides labels greedily.

    Args:
        recognizer: a model with ``model.bidirectional=false`` or ``model.chunk_frames``, frame
            stacking (not convolutions) and global or no CMVN.

    Raises:
        StreamingError: naming every reason the model cannot stream.
    """

    def __init__(self, recognizer: Recognizer) -> None:
        net = recognizer.net
        problems = []
        if net.encoder.directions != 1 and net.encoder.chunk is None:
            problems.append(
                "its layers are bidirectional over the whole input (train it with model.bidirectional=false, "
                "or latency-controlled with model.chunk_frames)"
            )
        if not isinstance(net.frontend, FrameStacking):
            problems.append("its convolutional front end looks ahead (stream a model with frame stacking)")
        if recognizer.features.cmvn == "speaker":
            problems.append("its CMVN is per speaker, whose statistics span all of a speaker's input")
        if problems:
            raise StreamingError("this model cannot recognise a stream: " + "; ".join(problems))
        self.recognizer = recognizer
        self.windows = StreamingWindows(recognizer.features) if recognizer.features.input.from_samples else None
        self.deltas = StreamingDeltas(recognizer.features)
        self.stacking = StreamingFrames(net.frontend)
        self.states: list[tuple | None] = [None] * len(net.encoder.forward_layers)
        self.pending = torch.zeros(0, 0)  # latency control: the stacked frames of windows not yet run
        self.finished = False

    def accept_waveform(self, samples: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``(M, V)`` log-probabilities of the output frames that ``samples`` ``(N,)`` (mono, in [-1, 1],
        at the model's sample rate) complete."""
        if self.windows is None:
            raise StreamingError(
                f"accept_waveform takes audio; this model reads {self.recognizer.features.kind}: "
                "give its frames to accept_frames"
            )
        return self.accept_frames(self.windows.accept(samples, sample_rate))

    def accept_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``(M, V)`` log-probabilities of the output frames that raw frames ``(N, base_dim)`` of the
        model's input kind (no deltas, no CMVN) complete."""
        self._refuse_after_finish()
        base_dim = self.recognizer.features.base_dim
        if frames.dim() != 2 or frames.shape[1] != base_dim:
            raise StreamingError(f"frames must be (N, {base_dim}) for this model, got shape {tuple(frames.shape)}")
        return self._run(self.stacking.accept(self._normalise(self.deltas.accept(frames.float()))))

    def finish(self) -> torch.Tensor:
        """``(M, V)`` log-probabilities of the input's last output frames; the stream takes nothing after it."""
        self._refuse_after_finish()
        self.finished = True
        if self.deltas.buffer is None:  # no frame came: no output frame
            return torch.zeros(0, len(self.recognizer.tokens))
        last = self.stacking.accept(self._normalise(self.deltas.finish()))
        return self._run(torch.cat([last, self.stacking.finish()]), final=True)

    def _refuse_after_finish(self) -> None:
        if self.finished:
            raise StreamingError("the stream is finished: start a new one for the next input")

    def _normalise(self, feats: torch.Tensor) -> torch.Tensor:
        if self.recognizer.features.cmvn == "none":
            return feats
        return (feats - self.recognizer.cmvn_mean) / self.recognizer.cmvn_std

    @torch.no_grad()
    def _run(self, stacked: torch.Tensor, final: bool = False) -> torch.Tensor:
        """Stacked frames ``(M, stack D)`` through the layers from their states (``final``: the input's
        last), the dense blocks and the output layer: ``(M', V)`` log-probabilities on the CPU of the
        output frames they complete."""
        net = self.recognizer.net
        x = stacked.to(self.recognizer.device).unsqueeze(1)  # (M, 1, stack D)
        x = self._windows(x, final) if net.encoder.chunk is not None else self._forward_only(x)
        if len(x) == 0:
            return torch.zeros(0, net.output.out_features)
        h = x.transpose(0, 1)  # (1, M', features)
        if net.dense is not None:
            h = net.dense(h, torch.tensor([h.shape[1]]))
        return net.output(h).float().log_softmax(dim=-1)[0].cpu()

    def _forward_only(self, x: torch.Tensor) -> torch.Tensor:
        """``(M, 1, stack D)`` -> the last layer's outputs ``(M, 1, features)``."""
        for k, layer in enumerate(self.recognizer.net.encoder.forward_layers):
            if len(x):
                x, self.states[k] = layer(x, self.states[k])
        return x

    def _windows(self, x: torch.Tensor, final: bool) -> torch.Tensor:
        """``(M, 1, stack D)`` -> the last layer's outputs ``(M', 1, features)`` at the chunks whose
        window is complete (``final``: every chunk left, their right contexts cut at the input's end)."""
        encoder = self.recognizer.net.encoder
        chunk, right = encoder.chunk, encoder.right_context
        pending = x if self.pending.numel() == 0 else torch.cat([self.pending, x])
        outputs = []
        while len(pending) >= chunk + right or (final and len(pending)):
            size = min(chunk, len(pending))
            context = pending[size : size + right]
            windows = Windows(pending[:size], context, torch.tensor([size + len(context)]))
            out, self.states = encoder.run_windows(windows, size, self.states)
            outputs.append(out)
            pending = pending[size:]
        self.pending = pending
        return torch.cat(outputs) if outputs else x.new_zeros(0, 1, encoder.features)


class StreamingRecognizer:
    """CTC recognition of one input fed in chunks, with a model that can stream: a search over
    :class:`StreamingNetwork`'s output frames as they come.

    :meth:`accept_waveform`, :meth:`accept_frames` and :meth:`finish` take what
    :class:`StreamingNetwork`'s do and return the labels their chunk decided. The greedy search (the
    default) decides a label with the frame that starts it (as :func:`asr_lstm.decoding.greedy_decode`:
    the best label of each frame, repeats merged, blanks dropped); :attr:`starts` holds the output
    frame where each began (``frame_shift_s`` apart for audio) and :attr:`path` the best label of every
    frame. A beam search (``search``, with an LM or a lexicon) decides nothing before the input ends:
    its hypotheses grow with every chunk, and :meth:`finish` returns the best, the one
    :meth:`~asr_lstm.decoding.beam.BeamSearch.search` finds over the whole input (with a lexicon,
    its words in :attr:`words`). :attr:`tokens` holds every label decided.

    Args:
        recognizer: see :class:`StreamingNetwork`.
        search: a :class:`~asr_lstm.decoding.beam.BeamSearch` over the model's tokens, used by this
            stream alone; ``None``: greedy.

    Raises:
        StreamingError: naming every reason the model cannot stream.
    """

    def __init__(self, recognizer: Recognizer, search: BeamSearch | None = None) -> None:
        self.recognizer = recognizer
        self.network = StreamingNetwork(recognizer)
        self.search = search
        self.path: list[int] = []  # greedy: the best label of every output frame so far (blanks and repeats in)
        self.starts: list[int] = []  # greedy: the output frame where each label of ``ids`` began
        self.ids: list[int] = []
        self.words: list[str] | None = None  # a lexicon search's words, once finished
        if search is not None:
            search.begin()

    @property
    def tokens(self) -> list[str]:
        """Every label decided so far."""
        return [self.recognizer.tokens[i] for i in self.ids]

    def accept_waveform(self, samples: torch.Tensor, sample_rate: int) -> list[str]:
        """The labels decided by ``samples`` ``(N,)`` (mono, in [-1, 1], at the model's sample rate)."""
        return self._decide(self.network.accept_waveform(samples, sample_rate))

    def accept_frames(self, frames: torch.Tensor) -> list[str]:
        """The labels decided by raw frames ``(N, base_dim)`` of the model's input kind."""
        return self._decide(self.network.accept_frames(frames))

    def finish(self) -> list[str]:
        """The labels decided by the input's last frames (a beam search's: all of them); the stream
        takes nothing after it."""
        log_probs = self.network.finish()
        if self.search is None:
            return self._decide(log_probs)
        self.search.step(log_probs)
        best = self.search.end()
        self.ids = best.ids
        self.words = best.words if self.search.gives_words else None
        return self.tokens

    def _decide(self, log_probs: torch.Tensor) -> list[str]:
        if self.search is not None:
            self.search.step(log_probs)
            return []
        best = log_probs.argmax(dim=-1).tolist()
        new = label_starts(best, self.path[-1] if self.path else 0)
        self.starts += [len(self.path) + frame for frame, _ in new]
        self.ids += [label for _, label in new]
        self.path += best
        return [self.recognizer.tokens[label] for _, label in new]
