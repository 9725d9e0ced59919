"""ONNX export of the acoustic model, checked against onnxruntime.

The graph is the network only: normalised features ``features (B, T, D)`` float32 and
``lengths (B,)`` int64 in, ``log_probs (B, T', V)`` and ``output_lengths (B,)`` out, with B and T
free. Feature extraction and normalisation stay outside (they are torchaudio calls, not network);
what a runtime needs to reproduce them travels in the model's ``metadata_props`` (all strings, JSON
where structured):

    asr_lstm.tokens          vocabulary, CTC blank first
    asr_lstm.features        the FeatureConfig fields
    asr_lstm.cmvn            {"mode", "mean": [D floats], "std": [D floats]}
    asr_lstm.frame_shift_s   seconds per output frame, audio models only (an image model's frame is
                             ``stride`` columns of the line scaled to ``features.image_height``, a
                             stroke model's ``stride`` steps of ``features.stroke_step`` pen travel)
    asr_lstm.display_order   the paragraph direction (``R``, ``L``, ``auto``) of a model of right-to-left
                             lines (``data.bidi``), whose tokens come out in display order, left to
                             right as the image shows them: the Unicode Bidirectional Algorithm
                             with this direction reads them back in logical order
    asr_lstm.cell            {"name", **options}
    asr_lstm.version         the exporting asr-lstm version

Every cell exports: under ``torch.export`` the cells run their time loop as a ``scan`` (see
:mod:`asr_lstm.cells.exportable`), written as one ONNX ``Scan`` per layer and direction. A
latency-controlled model (``model.chunk_frames``) has no such graph (its chunks are a loop as long as
the input) but a window graph, below.

A forward-only model (``model.bidirectional=false``) with frame stacking also exports as a streaming
graph (:func:`export_streaming_onnx`): one chunk of a stream, the layers' states in and out,

    frames (B, M, stack D)   normalised features, stacked as ``FrameStacking`` stacks them
    state_h (L, B, S)        each layer's h_t (r_t under a projection), zeros at a stream's start
    state_c (L, B, H)        each layer's c_t (the LSTM family only; the GRUs keep none)
      -> log_probs (B, M, V), state_h_out, state_c_out

with ``asr_lstm.streaming`` = {"stack", "stride", "delta_lookahead", "state_h": [L, S],
"state_c": [L, H] or null, "chunk_frames", "right_context_frames"} in its metadata beside the
others: what a runtime needs to feed it as :mod:`asr_lstm.streaming` feeds the torch network (a frame
with its deltas once ``delta_lookahead`` frames after it are in; stacked frame k from frames
``k stride ... k stride + stack - 1``).

A latency-controlled model (``model.chunk_frames`` = N_c, ``model.right_context_frames`` = N_r)
exports the same way as a window graph: one chunk and its right context,

    frames (B, N_c + N_r, stack D)   stacked frames k N_c ... k N_c + N_c + N_r - 1, zeros past
    window_lengths (B,)              the window's frames inside the input (N_c + N_r but at its end)
    state_h, state_c                 each layer's forward direction, as above
      -> log_probs (B, N_c, V) of the chunk's frames, state_h_out, state_c_out

fed window after window (N_c frames apart) until the windows cover the input; the frames of the last
chunk past the input's end are no output.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

import asr_lstm
from asr_lstm.atomic import atomic_path
from asr_lstm.models import CTCModel, FrameStacking
from asr_lstm.models.latency_control import Windows
from asr_lstm.recognizer import Recognizer

INPUT_NAMES = ["features", "lengths"]
OUTPUT_NAMES = ["log_probs", "output_lengths"]
STREAM_INPUT_NAMES = ["frames", "state_h", "state_c"]
WINDOW_INPUT_NAMES = ["frames", "window_lengths", "state_h", "state_c"]
STREAM_OUTPUT_NAMES = ["log_probs", "state_h_out", "state_c_out"]
TOLERANCE = 1e-4  # max |log-prob| difference accepted between onnxruntime and torch (float32)


class OnnxExportError(RuntimeError):
    """The ONNX file could not be written, or onnxruntime does not reproduce the torch model."""


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise OnnxExportError(f"ONNX export needs the package {module!r}: pip install 'asr-lstm[onnx]'") from None


@contextlib.contextmanager
def _quiet_exporter():
    """Silences the exporter's notes that say nothing about this model: optional torchvision ops it
    skips, a torch-internal deprecation, and batch being shared by both inputs (which is intended)."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*will not be used, since it shares the same shape constraints.*")
        try:
            yield
        finally:
            registration.setLevel(level)


def metadata(recognizer: Recognizer) -> dict[str, str]:
    """The ``metadata_props`` written into the ONNX model (see the module docstring)."""
    order = recognizer.units.display_order if recognizer.units is not None else None
    return {
        "asr_lstm.tokens": json.dumps(list(recognizer.tokens)),
        "asr_lstm.features": json.dumps(dataclasses.asdict(recognizer.features)),
        "asr_lstm.cmvn": json.dumps(
            {
                "mode": recognizer.features.cmvn,
                "mean": recognizer.cmvn_mean.tolist(),
                "std": recognizer.cmvn_std.tolist(),
            }
        ),
        **({"asr_lstm.frame_shift_s": repr(recognizer.frame_shift_s)} if recognizer.frame_shift_s is not None else {}),
        **({"asr_lstm.display_order": order} if order is not None else {}),
        "asr_lstm.cell": json.dumps(dict(recognizer.cell_options)),
        "asr_lstm.version": asr_lstm.__version__,
    }


def example_batch(input_size: int, lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard-normal features ``(B, max(lengths), D)`` (what normalised features look like) and their lengths."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), input_size, generator=generator)
    return x, torch.tensor(lengths)


def _save(
    module: torch.nn.Module, example: tuple, names: tuple[list[str], list[str]], dynamic_shapes: tuple,
    props: dict[str, str], path: str | Path,
) -> Path:  # fmt: skip
    """Exports ``module`` (in evaluation) at ``example`` with torch's dynamo exporter, the input and
    output ``names`` and ``dynamic_shapes``, and writes it to ``path`` atomically with ``props`` as its
    ``metadata_props``."""
    onnx = _require("onnx")
    _require("onnxscript")  # torch's ONNX exporter translates through it
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # torch's scan compiles each time loop's step with dynamo and caches it by the shapes it saw. An
    # entry of an earlier export in the process (a window graph's loops have fixed lengths) is tried on
    # this export's symbolic length, and where the example's length meets its guard (a window as long
    # as the example's frames after stacking), the length is specialised to the example's: a graph
    # that takes no other. So each export starts from an empty cache.
    torch._dynamo.reset()
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            module.eval(),
            example,
            dynamo=True,
            input_names=names[0],
            output_names=names[1],
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    model = program.model_proto
    onnx.helper.set_model_props(model, props)
    with atomic_path(path) as tmp:
        onnx.save(model, tmp)
    return path


def _session(path: str | Path):
    """An onnxruntime CPU session of the file at ``path``."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the exporter leaves unused constants that onnxruntime warns about
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_onnx(recognizer: Recognizer, path: str | Path) -> Path:
    """Writes the recognizer's acoustic model as ONNX (atomically) and returns the path.

    Raises:
        OnnxExportError: a latency-controlled model, whose number of chunks follows the input's length
            (a loop of the graph that ``torch.export`` does not write).
    """
    if recognizer.net.encoder.chunk is not None:
        raise OnnxExportError(
            "a latency-controlled model (model.chunk_frames) has no whole-input ONNX graph: the number of its "
            "chunks follows the input's length; --onnx-stream writes its window graph"
        )
    net = copy.deepcopy(recognizer.net).cpu()
    x, lens = example_batch(recognizer.model_options["input_size"], [40, 27])
    batch, frames = torch.export.Dim("batch"), torch.export.Dim("frames", min=2)
    shapes = ({0: batch, 1: frames}, {0: batch})
    return _save(net, (x, lens), (INPUT_NAMES, OUTPUT_NAMES), shapes, metadata(recognizer), path)


def check_onnx(
    recognizer: Recognizer, path: str | Path, lengths: tuple[int, ...] = (173, 96, 5), tolerance: float = TOLERANCE
) -> float:
    """Runs the ONNX file with onnxruntime on a padded batch of other lengths than the export's example.

    Returns:
        The max absolute difference of log-probabilities against the torch model (output lengths
        must match exactly).

    Raises:
        OnnxExportError: the lengths differ or the difference exceeds ``tolerance``.
    """
    session = _session(path)
    net = copy.deepcopy(recognizer.net).cpu().eval()
    x, lens = example_batch(recognizer.model_options["input_size"], list(lengths), seed=1)
    got, got_lens = session.run(OUTPUT_NAMES, {"features": x.numpy(), "lengths": lens.numpy()})
    with torch.no_grad():
        expected, expected_lens = net(x, lens)
    if got_lens.tolist() != expected_lens.tolist():
        raise OnnxExportError(
            f"{path}: onnxruntime output lengths {got_lens.tolist()} differ from torch's {expected_lens.tolist()}"
        )
    valid = torch.arange(expected.shape[1]).unsqueeze(0) < expected_lens.unsqueeze(1)  # padded frames are not outputs
    difference = float((torch.from_numpy(got) - expected).abs()[valid].max())
    if not difference <= tolerance:
        raise OnnxExportError(
            f"{path}: onnxruntime log-probs differ from torch by {difference:.3g} (tolerance {tolerance:g})"
        )
    return difference


def _log_probs(net: CTCModel, x: torch.Tensor) -> torch.Tensor:
    """The last layer's outputs ``(M, B, features)`` through the dense blocks (per frame in evaluation:
    the lengths are every frame) and the output layer: ``(B, M, V)``."""
    out = x.transpose(0, 1)
    if net.dense is not None:
        out = net.dense(out, torch.full((out.shape[0],), out.shape[1]))
    return net.output(out).float().log_softmax(dim=-1)


def _stacked_states(states: list) -> tuple[torch.Tensor, ...]:
    """Each layer's ``(h, c)`` (``c`` None for the GRUs) as ``state_h (L, B, S)`` and ``state_c (L, B, H)``."""
    hs = torch.stack([h for h, _ in states])
    return (hs,) if states[0][1] is None else (hs, torch.stack([c for _, c in states]))


class StreamingGraph(torch.nn.Module):
    """One chunk of a stream through a forward-only model after its frame stacking: the layers from
    the given states, the dense blocks and the output layer (see the module docstring)."""

    def __init__(self, net: CTCModel) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor, state_h: torch.Tensor, state_c: torch.Tensor | None = None):
        """``frames (B, M, F)``, ``state_h (L, B, S)``, ``state_c (L, B, H)`` or ``None`` -> ``log_probs
        (B, M, V)`` and the states after the chunk, shaped as they came."""
        x = frames.transpose(0, 1)
        states = []
        for k, layer in enumerate(self.net.encoder.forward_layers):
            x, state = layer(x, state_h[k] if state_c is None else (state_h[k], state_c[k]))
            states.append(state)
        return _log_probs(self.net, x), *_stacked_states(states)


class WindowGraph(torch.nn.Module):
    """One window of a stream through a latency-controlled model after its frame stacking: a chunk of
    N_c stacked frames and the N_r after it (:mod:`asr_lstm.models.latency_control`), the layers'
    forward directions from the given states, the dense blocks and the output layer (see the module
    docstring)."""

    def __init__(self, net: CTCModel) -> None:
        super().__init__()
        self.net = net

    def forward(
        self,
        frames: torch.Tensor,
        window_lengths: torch.Tensor,
        state_h: torch.Tensor,
        state_c: torch.Tensor | None = None,
    ):
        """``frames (B, N_c + N_r, F)``, zeros past ``window_lengths (B,)``, ``state_h (L, B, S)``,
        ``state_c (L, B, H)`` or ``None`` -> the chunk's ``log_probs (B, N_c, V)`` and the forward
        states after it, shaped as they came."""
        encoder = self.net.encoder
        x = frames.transpose(0, 1)
        windows = Windows(x[: encoder.chunk], x[encoder.chunk :], window_lengths)
        states = [(state_h[k], None if state_c is None else state_c[k]) for k in range(len(encoder.forward_layers))]
        y, states = encoder.run_windows(windows, encoder.chunk, states)
        return _log_probs(self.net, y), *_stacked_states(states)


def state_sizes(net: CTCModel) -> tuple[int, int | None]:
    """S and H: the sizes of a layer's h_t and c_t (``None``: the cell keeps no c_t)."""
    layer = net.encoder.forward_layers[0]
    with torch.no_grad():
        _, (h, c) = layer(torch.zeros(1, 1, layer.input_size))
    return h.shape[-1], None if c is None else c.shape[-1]


def zero_states(net: CTCModel, batch: int) -> list[torch.Tensor]:
    """The graph's state inputs at a stream's start: ``state_h`` and, where the cell keeps one, ``state_c``."""
    layers = len(net.encoder.forward_layers)
    return [torch.zeros(layers, batch, size) for size in state_sizes(net) if size is not None]


def streaming_metadata(recognizer: Recognizer) -> dict[str, str]:
    """``metadata`` and ``asr_lstm.streaming`` (see the module docstring)."""
    net, features = recognizer.net, recognizer.features
    layers = len(net.encoder.forward_layers)
    h_size, c_size = state_sizes(net)
    streaming = {
        "stack": net.frontend.stack,
        "stride": net.frontend.stride,
        "delta_lookahead": features.delta_order * ((features.delta_window - 1) // 2),
        "state_h": [layers, h_size],
        "state_c": None if c_size is None else [layers, c_size],
        "chunk_frames": net.encoder.chunk,
        "right_context_frames": net.encoder.right_context,
    }
    return {**metadata(recognizer), "asr_lstm.streaming": json.dumps(streaming)}


def export_streaming_onnx(recognizer: Recognizer, path: str | Path) -> Path:
    """Writes a forward-only model's streaming graph, or a latency-controlled model's window graph, as
    ONNX (atomically) and returns the path.

    Raises:
        OnnxExportError: the model cannot stream (a backward direction over the whole input, a
            convolutional front end).
    """
    net = copy.deepcopy(recognizer.net).cpu().eval()
    encoder = net.encoder
    if (encoder.directions != 1 and encoder.chunk is None) or not isinstance(net.frontend, FrameStacking):
        raise OnnxExportError(
            "a streaming graph needs a forward-only or latency-controlled model with frame stacking "
            "(model.bidirectional=false or model.chunk_frames, no convolutional front end)"
        )
    frame_size = encoder.forward_layers[0].input_size
    states = zero_states(net, 2)
    batch = torch.export.Dim("batch")
    state_shapes = [{1: batch} for _ in states]
    if encoder.chunk is None:
        frames = torch.randn(2, 7, frame_size, generator=torch.Generator().manual_seed(0))
        graph, inputs, shapes = (
            StreamingGraph(net),
            (frames, *states),
            ({0: batch, 1: torch.export.Dim("chunk", min=2)},),
        )
        input_names = STREAM_INPUT_NAMES[: len(states) + 1]
    else:
        window = encoder.chunk + encoder.right_context
        frames = torch.randn(2, window, frame_size, generator=torch.Generator().manual_seed(0))
        lengths = torch.tensor([window, max(1, window - 1)])
        graph, inputs, shapes = WindowGraph(net), (frames, lengths, *states), ({0: batch}, {0: batch})
        input_names = WINDOW_INPUT_NAMES[: len(states) + 2]
    names = (input_names, STREAM_OUTPUT_NAMES[: len(states) + 1])
    return _save(graph, inputs, names, (*shapes, *state_shapes), streaming_metadata(recognizer), path)


def check_streaming_onnx(
    recognizer: Recognizer, path: str | Path, chunks: tuple[int, ...] = (5, 1, 13, 2, 19), tolerance: float = TOLERANCE
) -> float:
    """Runs the streaming graph with onnxruntime over a stream cut into ``chunks`` stacked frames (a
    window graph: over its windows, the last ones zero-filled past the input's end), carrying the states
    from chunk to chunk, against the torch model over the whole input.

    Returns:
        The max absolute difference of log-probabilities.

    Raises:
        OnnxExportError: the difference exceeds ``tolerance``.
    """
    session = _session(path)
    net = copy.deepcopy(recognizer.net).cpu().eval()
    stride = net.frontend.stride
    x, lens = example_batch(recognizer.model_options["input_size"], [stride * sum(chunks)], seed=1)
    with torch.no_grad():
        expected, _ = net(x, lens)
        stacked, _ = net.frontend(x, lens)
    states = [s.numpy() for s in zero_states(net, 1)]
    got, start = [], 0
    if net.encoder.chunk is None:
        for size in chunks:
            feeds = dict(zip(STREAM_INPUT_NAMES, [stacked[:, start : start + size].numpy(), *states]))
            log_probs, *states = session.run(STREAM_OUTPUT_NAMES[: len(feeds)], feeds)
            got.append(torch.from_numpy(log_probs))
            start += size
    else:
        chunk, window = net.encoder.chunk, net.encoder.chunk + net.encoder.right_context
        for start in range(0, stacked.shape[1], chunk):
            frames = stacked[:, start : start + window]
            padded = torch.cat([frames, frames.new_zeros(1, window - frames.shape[1], frames.shape[2])], dim=1)
            feeds = dict(zip(WINDOW_INPUT_NAMES, [padded.numpy(), np.array([frames.shape[1]]), *states]))
            log_probs, *states = session.run(STREAM_OUTPUT_NAMES[: len(feeds) - 1], feeds)
            got.append(torch.from_numpy(log_probs[:, : min(chunk, stacked.shape[1] - start)]))
    difference = float((torch.cat(got, dim=1) - expected).abs().max())
    if not difference <= tolerance:
        raise OnnxExportError(
            f"{path}: onnxruntime's streamed log-probs differ from torch by {difference:.3g} (tolerance {tolerance:g})"
        )
    return difference
