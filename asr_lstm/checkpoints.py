"""Training checkpoints (``checkpoints/{best,last,in_epoch}.ckpt``): written atomically, also inside an
epoch, checked before a resume, and their weights read for ``init_from``, ``evaluate`` and ``export``."""

from __future__ import annotations

import datetime
import logging
import pickle
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from asr_lstm.atomic import atomic_path

log = logging.getLogger(__name__)


def checkpoint_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of the checkpoint at ``path``, read weights-only onto the CPU.

    Raises:
        ValueError: naming ``path``, when it is missing or not a training checkpoint.
    """
    if not Path(path).is_file():
        raise ValueError(f"{path}: not a training checkpoint (no such file)")
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # torch.save writes a zip archive
            raise ValueError(f"{path}: not a training checkpoint (not a file torch.save wrote)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged archive fails anywhere in torch's reader or unpickler
        first_sentence = str(err).split(". ")[0] or type(err).__name__
        raise ValueError(f"{path}: not a training checkpoint (truncated or corrupt: {first_sentence})") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path}: not a training checkpoint (a torch file without a state_dict)")
    return checkpoint["state_dict"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes every checkpoint to ``<name>.tmp`` beside it, then renames it into place: a kill during
    a write leaves the previous checkpoint whole (Lightning's own writer goes through a temporary file
    in the system's temporary folder, whose move onto another file system is a copy)."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class InEpochCheckpoint(ModelCheckpoint):
    """``checkpoints/in_epoch.ckpt``, rewritten inside an epoch every ``every_minutes`` of training or
    every ``every_n_train_steps`` optimiser steps (one of the two), so that a run killed in a long epoch
    loses at most that much. The checkpoint holds what an epoch's end holds (weights, optimiser,
    RNG states) and the training loader's place in the epoch (:class:`asr_lstm.data.sampler.ResumableLoader`).

    No checkpoint is written after an epoch's last batch: validation and ``last.ckpt`` follow it, and
    a resume between the two would skip that validation.

    Raises:
        ValueError: both or neither interval given, or one below 1.
    """

    def __init__(
        self, dirpath: str, every_minutes: float | None = 10.0, every_n_train_steps: int | None = None
    ) -> None:
        if (every_minutes is None) == (every_n_train_steps is None):
            raise ValueError(
                "in_epoch_checkpoint: give one of every_minutes and every_n_train_steps (set the other to null), "
                f"not every_minutes={every_minutes} and every_n_train_steps={every_n_train_steps}"
            )
        if (every_minutes is not None and every_minutes <= 0) or (
            every_n_train_steps is not None and every_n_train_steps < 1
        ):
            raise ValueError(
                f"in_epoch_checkpoint: every_minutes={every_minutes} and every_n_train_steps={every_n_train_steps} "
                "must be positive"
            )
        super().__init__(
            dirpath=dirpath,
            filename="in_epoch",
            save_top_k=1,
            enable_version_counter=False,
            every_n_train_steps=every_n_train_steps,
            train_time_interval=datetime.timedelta(minutes=every_minutes) if every_minutes else None,
        )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


def usable_checkpoint(folder: Path, set_aside: bool = True) -> Path | None:
    """The checkpoint to resume from: the newest that loads of the ``*.ckpt`` in ``folder`` (``last.ckpt``,
    written after ``best.ckpt`` at every epoch's end, and ``in_epoch.ckpt``) and of the ``hpc_ckpt_*.ckpt`` that Lightning's
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
