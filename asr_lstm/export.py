"""Exported models: one self-contained file that decodes without Hydra, Lightning or training code.

The file is a ``torch.save`` archive holding only tensors, strings, numbers, lists and dicts, so it
loads with ``torch.load(weights_only=True)`` and never unpickles arbitrary objects:

    format           "asr-lstm-model"          format_version   FORMAT_VERSION
    versions         asr_lstm, torch, torchaudio at export time
    model            input_size, num_classes, hidden_size, num_layers, dropout, stack, stride
    cell             {"name": registry name, **options}
    state_dict       the acoustic model's weights
    tokens           the vocabulary, CTC blank first
    features         the FeatureConfig fields
    cmvn             {"mode": global|speaker|none, "mean": (D,), "std": (D,)} from the training set
    scoring_folding  "39" for TIMIT, or None
    units            how the labels spell words (asr_lstm.data.units: characters with "|" between words,
                     lexicon phones with the lexicon's lines, or a sentencepiece model's bytes), or None
    confidence_temperature   tau of the confidences (asr_lstm.confidence), calibrated on dev; 1.0 if not
    normalization    the Unicode form of the training transcriptions ("NFC", ...), or None: as the corpus held them
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import zipfile
from pathlib import Path

import torch
import torchaudio

import asr_lstm
from asr_lstm import cells
from asr_lstm.atomic import atomic_path
from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.unicode_forms import FORMS
from asr_lstm.data.units import UnitsError, units_from_state
from asr_lstm.devices import resolve_device
from asr_lstm.recognizer import Recognizer

FORMAT = "asr-lstm-model"
FORMAT_VERSION = 4
EXTENSION = ".asrlstm"
ZIP_MAGIC = b"PK\x03\x04"


class ModelFileError(ValueError):
    """A file that is not a loadable asr-lstm model; the message names the file and the reason."""


def save_package(package: dict, path: str | Path) -> Path:
    """Writes a package atomically (temporary file, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(package, tmp)
    return path


def make_package(recognizer: Recognizer) -> dict:
    """The package dict of a recognizer (see the module docstring)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": {
            "asr_lstm": asr_lstm.__version__,
            "torch": str(torch.__version__),
            "torchaudio": str(torchaudio.__version__),
        },
        "model": dict(recognizer.model_options),
        "cell": dict(recognizer.cell_options),
        "state_dict": {k: v.detach().cpu() for k, v in recognizer.net.state_dict().items()},
        "tokens": list(recognizer.tokens),
        "features": dataclasses.asdict(recognizer.features),
        "cmvn": {
            "mode": recognizer.features.cmvn,
            "mean": recognizer.cmvn_mean.cpu(),
            "std": recognizer.cmvn_std.cpu(),
        },
        "scoring_folding": recognizer.scoring_folding,
        "units": recognizer.units.state() if recognizer.units is not None else None,
        "confidence_temperature": float(recognizer.confidence_temperature),
        "normalization": recognizer.normalization,
    }


def read_package(path: str | Path) -> dict:
    """Loads and validates a package file without unpickling anything but plain data.

    Raises:
        ModelFileError: the file is missing, not a model package, truncated, or of an unknown format version.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != ZIP_MAGIC:
        raise ModelFileError(f"{path}: not an asr-lstm model (not a torch archive; export one with `asr-lstm export`)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelFileError(f"{path}: truncated or corrupt model file ({err})") from None
    if damaged is not None:
        raise ModelFileError(f"{path}: corrupt model file: {damaged} fails its CRC check (changed after export)")
    try:
        package = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelFileError(f"{path}: holds Python objects beyond plain data; refusing to unpickle it") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"{path}: truncated or corrupt model file ({str(err).splitlines()[0]})") from None
    if not isinstance(package, dict) or package.get("format") != FORMAT:
        raise ModelFileError(f"{path}: a torch archive but not an asr-lstm model (no format {FORMAT!r} marker)")
    version = package.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version} is not supported by this asr-lstm "
            f"{asr_lstm.__version__} (it reads version {FORMAT_VERSION}); export it again from its training run"
        )
    check_package(package, path)
    return package


FIELDS = {"model": dict, "cell": dict, "state_dict": dict, "tokens": list, "features": dict, "cmvn": dict,
          "scoring_folding": (str, type(None)), "units": (dict, type(None)),
          "confidence_temperature": float, "normalization": (str, type(None))}  # fmt: skip


def check_package(package: dict, path: Path) -> None:
    """Validates every field of a package, and the sizes of the network it describes against its
    weights (the network is built on the ``meta`` device, which allocates nothing), before anything
    is built for real.

    Raises:
        ModelFileError: naming the field and what is wrong with it.
    """

    def refuse(field: str, problem: str) -> ModelFileError:
        return ModelFileError(f"{path}: field {field!r} {problem}")

    for field, kind in FIELDS.items():
        if field not in package:
            raise refuse(field, "is missing")
        if not isinstance(package[field], kind):
            raise refuse(field, f"is a {type(package[field]).__name__}, not {kind}")
    if not math.isfinite(package["confidence_temperature"]) or package["confidence_temperature"] <= 0:
        raise refuse("confidence_temperature", "must be a positive number")
    if package["normalization"] is not None and package["normalization"] not in FORMS:
        raise refuse("normalization", f"must be one of {', '.join(FORMS)} or None, not {package['normalization']!r}")
    tokens = package["tokens"]
    if not tokens or not all(isinstance(t, str) for t in tokens) or len(set(tokens)) != len(tokens):
        raise refuse("tokens", "must be distinct strings, the CTC blank first")
    if package["units"] is not None:
        try:
            units_from_state(package["units"])
        except (KeyError, TypeError, UnitsError, RuntimeError) as err:
            raise refuse("units", f"describes no token units ({type(err).__name__}: {err})") from None
    try:
        features = FeatureConfig(**package["features"])
    except (TypeError, ValueError) as err:
        raise refuse("features", f"is not a feature configuration ({err})") from None
    for stat in ("mean", "std"):
        value = package["cmvn"].get(stat)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (features.dim,):
            raise refuse(f"cmvn.{stat}", f"must be a tensor of shape ({features.dim},), the feature dimension")
    model = package["model"]
    if model.get("input_size") != features.dim or model.get("num_classes") != len(tokens):
        raise refuse("model", f"must have input_size {features.dim} and num_classes {len(tokens)} (features, tokens)")
    if package["cell"].get("name") not in cells.NAMES:
        raise refuse("cell", f"names no known cell (one of {sorted(cells.NAMES)})")
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in Recognizer.build_net(model, package["cell"]).state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as err:
        raise refuse("model", f"does not describe a network ({err})") from None
    weights = package["state_dict"]
    for key in sorted(set(expected) | set(weights)):
        if key not in weights:
            raise refuse("state_dict", f"lacks {key}, which the model and cell options need")
        if key not in expected or not isinstance(weights[key], torch.Tensor):
            raise refuse("state_dict", f"holds {key}, which is no weight of the model the options describe")
        if tuple(weights[key].shape) != expected[key]:
            raise refuse("state_dict", f"{key} has shape {tuple(weights[key].shape)}, but the model and cell "
                                       f"options make it {expected[key]}")  # fmt: skip


def load(path: str | Path, device: str | torch.device = "cpu") -> Recognizer:
    """A ready-to-decode :class:`Recognizer` from an exported model file, on ``device`` (``auto``: CUDA when visible)."""
    package = read_package(path)
    return Recognizer.from_package(package).to(resolve_device(device))
