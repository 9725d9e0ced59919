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


def usable_checkpoint(folder: Path, set_aside: bool = True) -> Path | None:
    """The checkpoint to resume from: the newest that loads of the ``*.ckpt`` in ``folder`` (``last.ckpt``,
    written after ``best.ckpt`` at every epoch's end) and of the ``hpc_ckpt_*.ckpt`` that Lightning's
    SLURM requeue writes in the run directory above it. With ``set_aside`` (the first process of a
    training), a checkpoint that does not load is renamed ``<file>.corrupt`` and logged, and
    temporary files of interrupted writes are removed; the other DDP processes only read."""
    for stale in folder.glob("*.tmp") if set_aside else ():
        log.warning("%s: removing the temporary file of an interrupted checkpoint write", stale)
        stale.unlink()
    found = [*folder.glob("*.ckpt"), *folder.parent.glob("hpc_ckpt_*.ckpt")]
    for path in sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True):
        try:
            torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
            if set_aside:
                log.warning(
                    "%s: truncated or corrupt (%s); set aside as %s.corrupt", path, str(err).splitlines()[0], path.name
                )
                path.rename(path.with_name(path.name + ".corrupt"))
            continue
        return path
    return None
