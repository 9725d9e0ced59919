"""The device a command runs on: ``auto`` (CUDA when one is visible, else the CPU), ``cpu``, ``cuda``, ``cuda:N``."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device) -> torch.device:
    """The ``torch.device`` of ``name``.

    Raises:
        ValueError: ``name`` is not a device, or asks for CUDA where none is visible.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device {name!r}: not a device (auto, cpu, cuda or cuda:N)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r}: no CUDA device is visible (torch {torch.__version__}, CUDA build {torch.version.cuda})"
        )
    return device
