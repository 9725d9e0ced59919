"""Reading the weights of a Lightning training checkpoint (``checkpoints/{best,last}.ckpt``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch


def checkpoint_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of the checkpoint at ``path``, read weights-only onto the CPU.

    Raises:
        ValueError: naming ``path``, when it is missing or not a training checkpoint.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except (OSError, EOFError, KeyError, TypeError, RuntimeError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a training checkpoint ({type(err).__name__}: {err})") from err
