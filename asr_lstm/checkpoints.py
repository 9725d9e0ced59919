"""Training checkpoints (``checkpoints/{best,last}.ckpt``): written atomically, checked before a resume,
and their weights read for ``init_from``, ``evaluate`` and ``export``."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from asr_lstm.atomic import atomic_path

log = logging.getLogger(__name__)


def checkpoint_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of the checkpoint at ``path``, read weights-only onto the CPU.

    Raises:
        ValueError: naming ``path``, when it is missing or not a training checkpoint.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except (OSError, EOFError, KeyError, TypeError, RuntimeError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a training checkpoint ({type(err).__name__}: {err})") from err


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes every checkpoint to ``<name>.tmp`` beside it, then renames it into place: a kill during
    a write leaves the previous checkpoint whole (Lightning's own writer goes through a temporary file
    in the system's temporary folder, whose move onto another file system is a copy)."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


def usable_checkpoint(folder: Path, name: str = "last.ckpt") -> Path | None:
    """The checkpoint to resume from in ``folder``: ``name`` when it loads, else the newest other
    ``*.ckpt`` that loads. A checkpoint that does not load is renamed ``<file>.corrupt`` and logged;
    temporary files of interrupted writes are removed."""
    for stale in folder.glob("*.tmp"):
        log.warning("%s: removing the temporary file of an interrupted checkpoint write", stale)
        stale.unlink()
    candidates = [folder / name] + sorted((p for p in folder.glob("*.ckpt") if p.name != name),
                                          key=lambda p: p.stat().st_mtime, reverse=True)  # fmt: skip
    for path in (p for p in candidates if p.is_file()):
        try:
            torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
            log.warning(
                "%s: truncated or corrupt (%s); set aside as %s.corrupt", path, str(err).splitlines()[0], path.name
            )
            path.rename(path.with_name(path.name + ".corrupt"))
            continue
        return path
    return None
