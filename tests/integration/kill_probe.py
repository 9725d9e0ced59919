"""A callback for the resume tests: the first run that finds no ``marker`` SIGKILLs itself at a
chosen optimiser step, as a pre-empted or crashed machine would."""

import os
import signal
from pathlib import Path

import pytorch_lightning as pl
import torch


class KillOnce(pl.Callback):
    """Kills the process once ``step`` optimiser steps are done: before the next batch, or, with
    ``during_write``, halfway through writing the checkpoint that follows step ``step``."""

    def __init__(self, step: int, marker: str, during_write: bool = False):
        self.step, self.marker, self.during_write = step, Path(marker), during_write

    def _kill(self) -> None:
        self.marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not self.during_write or self.marker.exists():
            return
        save = torch.save

        def half_then_kill(obj, f, *args, **kwargs):
            if trainer.global_step != self.step:
                return save(obj, f, *args, **kwargs)
            save(obj, f, *args, **kwargs)
            Path(f).write_bytes(Path(f).read_bytes()[: Path(f).stat().st_size // 2])
            self._kill()

        torch.save = half_then_kill

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if not self.during_write and trainer.global_step == self.step and not self.marker.exists():
            self._kill()
