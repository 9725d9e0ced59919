"""Streaming recognition: every stage fed in chunks gives what it gives on the whole input (features
with deltas, analysis windows, stacked frames), and a forward-only model's labels over a stream are
those of ``Recognizer.recognise`` on the whole input, for any chunking; models and input that cannot
stream are refused with the reason."""

import dataclasses
import math

import pytest
import torch

from asr_lstm.data.audio import audio_frames
from asr_lstm.data.features import FeatureConfig, compute_features, with_deltas
from asr_lstm.decoding import greedy_decode
from asr_lstm.decoding.beam import BeamSearch
from asr_lstm.lm import ngram_arpa
from asr_lstm.models.frontend import FrameStacking
from asr_lstm.recognizer import Utterance
from asr_lstm.streaming import (
    StreamingDeltas,
    StreamingError,
    StreamingFrames,
    StreamingNetwork,
    StreamingWindows,
    samples_before_output,
)
from tests.conftest import DEVICES
from tests.random_models import FEATURES, random_recognizer

CHUNKINGS = {"one at a time": [1], "uneven": [3, 1, 7, 2, 11], "all at once": [10**6]}


def chunks(x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    """``x`` cut along its first axis into pieces of ``sizes``, repeated until it is used up (empty pieces too)."""
    out, start, k = [], 0, 0
    while start < len(x):
        out.append(x[start : start + sizes[k % len(sizes)]])
        start, k = start + sizes[k % len(sizes)], k + 1
    return out


@pytest.mark.parametrize("sizes", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize("delta_order", [0, 1, 2])
@pytest.mark.parametrize("frames", [1, 4, 23])
def test_deltas_of_a_stream_are_those_of_the_whole_input(sizes, delta_order, frames):
    cfg = FeatureConfig(num_mel_bins=3, delta_order=delta_order, delta_window=5)
    raw = torch.randn(frames, cfg.base_dim)
    stream = StreamingDeltas(cfg)
    given = [stream.accept(piece) for piece in chunks(raw, sizes)]
    assert sum(len(g) for g in given) <= max(0, frames - stream.lookahead)  # none before its lookahead is in
    out = torch.cat([*given, stream.finish()])
    torch.testing.assert_close(out, with_deltas(raw, cfg), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("sizes", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize(("stack", "stride"), [(1, 1), (2, 2), (3, 2), (1, 3)])
@pytest.mark.parametrize("frames", [1, 2, 9, 14])
def test_stacked_frames_of_a_stream_are_those_of_the_whole_input(sizes, stack, stride, frames):
    x = torch.randn(frames, 2)
    stacking = FrameStacking(stack, stride)
    stream = StreamingFrames(stacking)
    given = [stream.accept(piece) for piece in chunks(x, sizes)]
    for made, end in zip(
        torch.cumsum(torch.tensor([len(g) for g in given]), 0).tolist(),
        torch.cumsum(torch.tensor([len(p) for p in chunks(x, sizes)]), 0).tolist(),
    ):
        assert made == max(0, (end - stack) // stride + 1)  # each stacked frame as soon as its last frame is in
    whole, _ = stacking(x.unsqueeze(0), torch.tensor([frames]))
    assert torch.equal(torch.cat([*given, stream.finish()]), whole[0])


@pytest.mark.parametrize("sizes", [[160], [1000, 37, 2500], [16000]], ids=["a hop", "uneven", "all at once"])
def test_frames_of_a_stream_of_samples_are_those_of_the_whole_waveform(sizes):
    cfg = FeatureConfig(num_mel_bins=6)
    t = torch.arange(8000) / 16000
    waveform = 0.3 * torch.sin(2 * math.pi * 440 * t) + 0.05 * torch.randn(
        8000, generator=torch.Generator().manual_seed(0)
    )
    stream = StreamingWindows(cfg)
    out = torch.cat([stream.accept(piece, 16000) for piece in chunks(waveform, sizes)])
    torch.testing.assert_close(out, audio_frames(waveform, 16000, cfg), atol=1e-4, rtol=1e-5)


def with_cmvn(recognizer):
    """Non-trivial training-set statistics, so that normalising a stream shows."""
    generator = torch.Generator().manual_seed(3)
    recognizer.cmvn_mean = 0.3 * torch.randn(recognizer.features.dim, generator=generator)
    recognizer.cmvn_std = 0.5 + torch.rand(recognizer.features.dim, generator=generator)
    return recognizer


FORWARD = {"bidirectional": False}
MODELS = {
    "lstm": ("lstm", FORWARD),
    "peephole_diag": ("peephole_diag", FORWARD),
    "lstmp": ("lstmp", {**FORWARD, "zoneout_cell": 0.3}),
    "gru": ("gru", FORWARD),
    "ligru with dense blocks": ("ligru", {**FORWARD, "dnn": {"layers": 1, "size": 8}}),
    "latency-controlled lstm": ("lstm", {"latency": (4, 3)}),
    "latency-controlled gru, no right context": ("gru", {"latency": (5, 0)}),
    "latency-controlled lstmp with dense blocks": (
        "lstmp",
        {"latency": (1, 2), "dnn": {"layers": 1, "size": 8}, "seed": 1},
    ),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sizes", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize(("cell", "options"), MODELS.values(), ids=MODELS.keys())
def test_a_stream_of_frames_gets_the_posteriors_and_labels_of_the_whole_input(cell, options, sizes, device):
    """On CUDA (and on CPU under ``TRITON_INTERPRET=1``) the cells but ``lstm`` run the fused kernels,
    each chunk from the states the last one left."""
    recognizer = with_cmvn(random_recognizer(cell, **options)).to(device)
    raw = torch.randn(120, recognizer.features.base_dim, generator=torch.Generator().manual_seed(1))
    utterance = Utterance("x", with_deltas(raw, recognizer.features))
    network = StreamingNetwork(recognizer)
    streamed = torch.cat([*(network.accept_frames(piece) for piece in chunks(raw, sizes)), network.finish()])
    close = 1e-5 if device == "cpu" else 1e-4  # cuDNN and the kernels round otherwise in other batch shapes
    torch.testing.assert_close(streamed, recognizer.posteriors([utterance])[0], atol=close, rtol=close)
    expected = recognizer.recognise([utterance])[0].tokens
    stream = recognizer.stream()
    labels = [token for piece in chunks(raw, sizes) for token in stream.accept_frames(piece)] + stream.finish()
    assert labels == expected == stream.tokens and expected
    assert stream.path == recognizer.posteriors([utterance])[0].argmax(dim=1).tolist()  # all 60 output frames


@pytest.mark.parametrize("sizes", CHUNKINGS.values(), ids=CHUNKINGS.keys())
def test_a_beam_search_over_a_stream_finds_the_hypothesis_of_the_whole_input(sizes, tmp_path):
    recognizer = with_cmvn(random_recognizer("lstm", bidirectional=False))
    raw = torch.randn(150, recognizer.features.base_dim, generator=torch.Generator().manual_seed(4))
    posteriors = recognizer.posteriors([Utterance("x", with_deltas(raw, recognizer.features))])[0]
    arpa = tmp_path / "lm.arpa"  # a bigram that prefers "b d" and "s iy": the search departs from greedy
    arpa.write_text(ngram_arpa([["b", "d", "s", "iy"]] * 20 + [["aa", "sil"]], recognizer.tokens[1:]))
    whole = BeamSearch(recognizer.tokens, arpa, beam_size=8, lm_weight=2.0).search(
        posteriors.unsqueeze(0), torch.tensor([len(posteriors)])
    )[0]
    assert whole.ids != greedy_decode(posteriors.unsqueeze(0), torch.tensor([len(posteriors)]))[0]
    stream = recognizer.stream(BeamSearch(recognizer.tokens, arpa, beam_size=8, lm_weight=2.0))
    assert not [token for piece in chunks(raw, sizes) for token in stream.accept_frames(piece)]  # none before the end
    assert stream.finish() == stream.tokens == [recognizer.tokens[i] for i in whole.ids] and whole.ids
    assert stream.words is None and stream.starts == []


def test_a_stream_of_audio_gets_the_labels_of_the_whole_recording():
    features = FeatureConfig(num_mel_bins=4, delta_order=2)
    recognizer = with_cmvn(random_recognizer("lstm", bidirectional=False, features=features))
    t = torch.arange(24000) / 16000
    waveform = 0.3 * torch.sin(2 * math.pi * 300 * t * (1 + t)) + 0.02 * torch.randn(
        24000, generator=torch.Generator().manual_seed(2)
    )
    utterance = Utterance("x", compute_features(waveform, 16000, features))
    expected = recognizer.recognise([utterance])[0].tokens
    stream = recognizer.stream()
    labels = [token for piece in chunks(waveform, [1600, 333]) for token in stream.accept_waveform(piece, 16000)]
    assert labels + stream.finish() == expected and expected
    assert stream.path == recognizer.posteriors([utterance])[0].argmax(dim=1).tolist()


@pytest.mark.parametrize(("chunk", "right"), [(4, 3), (1, 0), (3, 7)])
def test_a_latency_controlled_stream_gives_a_chunk_once_its_right_context_is_in(chunk, right):
    """Output frames come a chunk at a time, once the N_r stacked frames after the chunk are in: with
    deltas' lookahead of 2 frames and stacking 3 frames by 2, raw frame n completes stacked frame
    (n - 2 - 3) // 2, and the chunks before the last N_r stacked frames are out."""
    network = StreamingNetwork(with_cmvn(random_recognizer("lstm", latency=(chunk, right))))
    raw = torch.randn(60, FEATURES.base_dim, generator=torch.Generator().manual_seed(5))
    given = 0
    for n in range(1, len(raw) + 1):
        given += len(network.accept_frames(raw[n - 1 : n]))
        stacked = max(0, (n - 2 - 3) // 2 + 1)
        assert given == max(0, (stacked - right) // chunk * chunk)
    assert given + len(network.finish()) == 30  # FrameStacking: ceil((60 - 3) / 2) + 1 output frames


@pytest.mark.parametrize(
    "options", [{"bidirectional": False}, {"latency": (4, 3)}, {"latency": (1, 0)}, {}],
    ids=["forward-only", "latency 4+3", "latency 1+0", "bidirectional"],
)  # fmt: skip
def test_each_output_frame_comes_once_the_samples_it_needs_are_read(options):
    """Audio fed 5 ms at a time: after each piece the stream has given exactly the output frames whose
    ``samples_before_output`` it has read; the rest (all of a bidirectional model's) come at finish."""
    recognizer = with_cmvn(random_recognizer("lstm", features=FeatureConfig(num_mel_bins=4, delta_order=2), **options))
    samples = 8037
    waveform = 0.1 * torch.randn(samples, generator=torch.Generator().manual_seed(0))
    needed = samples_before_output(recognizer, samples)
    network = StreamingNetwork(recognizer) if options else None
    given = 0
    for start in range(0, samples, 80) if network else ():
        given += len(network.accept_waveform(waveform[start : start + 80], 16000))
        assert given == sum(1 for need in needed if need <= start + 80 and need < samples), start
    at_finish = len(needed) - given if network else len(needed)
    assert len(needed) == 24 and needed.count(samples) == at_finish
    if network:
        assert len(network.finish()) == at_finish


def test_what_cannot_stream_is_refused_with_every_reason():
    bidirectional = random_recognizer("lstm")
    bidirectional.features = dataclasses.replace(FEATURES, cmvn="speaker")
    with pytest.raises(
        StreamingError,
        match=r"bidirectional over the whole input \(train it with model.bidirectional=false, or latency-controlled "
        r"with model.chunk_frames\); its CMVN is per speaker",
    ):
        bidirectional.stream()
    latency_controlled = random_recognizer("lstm", latency=(4, 2))
    latency_controlled.features = dataclasses.replace(FEATURES, cmvn="speaker")
    with pytest.raises(StreamingError, match=r"cannot recognise a stream: its CMVN is per speaker[^;]*$"):
        latency_controlled.stream()
    conv = {"channels": [4], "pools": [[2, 2]], "in_channels": 2}
    with pytest.raises(StreamingError, match="convolutional front end looks ahead"):
        random_recognizer("lstm", conv=conv, bidirectional=False).stream()
    stream = random_recognizer("lstm", bidirectional=False).stream()
    with pytest.raises(StreamingError, match="8000 Hz audio: a stream must come at the model's 16000 Hz"):
        stream.accept_waveform(torch.zeros(800), 8000)
    with pytest.raises(StreamingError, match=r"frames must be \(N, 5\) for this model, got shape \(3, 10\)"):
        stream.accept_frames(torch.zeros(3, 10))
    assert stream.finish() == []  # no frame came
    with pytest.raises(StreamingError, match="the stream is finished"):
        stream.accept_frames(torch.zeros(3, 5))
    lines = random_recognizer("lstm", bidirectional=False, features=FeatureConfig(kind="strokes", delta_order=0))
    with pytest.raises(StreamingError, match="accept_waveform takes audio; this model reads strokes"):
        lines.stream().accept_waveform(torch.zeros(800), 16000)
