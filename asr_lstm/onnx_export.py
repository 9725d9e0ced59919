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
:mod:`asr_lstm.cells.exportable`), written as one ONNX ``Scan`` per layer and direction.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import warnings
from pathlib import Path

import torch

import asr_lstm
from asr_lstm.atomic import atomic_path
from asr_lstm.recognizer import Recognizer

INPUT_NAMES = ["features", "lengths"]
OUTPUT_NAMES = ["log_probs", "output_lengths"]
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


def export_onnx(recognizer: Recognizer, path: str | Path) -> Path:
    """Writes the recognizer's acoustic model as ONNX (atomically) and returns the path."""
    onnx = _require("onnx")
    _require("onnxscript")  # torch's ONNX exporter translates through it
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(recognizer.net).cpu().eval()
    x, lens = example_batch(recognizer.model_options["input_size"], [40, 27])
    batch, frames = torch.export.Dim("batch"), torch.export.Dim("frames", min=2)
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            net,
            (x, lens),
            dynamo=True,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_shapes=({0: batch, 1: frames}, {0: batch}),
            verbose=False,
        )
    model = program.model_proto
    onnx.helper.set_model_props(model, metadata(recognizer))
    with atomic_path(path) as tmp:
        onnx.save(model, tmp)
    return path


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
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the exporter leaves unused constants that onnxruntime warns about
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
