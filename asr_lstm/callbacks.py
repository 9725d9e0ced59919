"""Training callbacks of our own."""

from __future__ import annotations

import time

import pytorch_lightning as pl


class TrainingClock(pl.Callback):
    """Wall-clock seconds spent in training and validation epochs, kept across resumes.

    The running total is saved in every checkpoint, so a resumed run reports its whole training
    time, not only the time since the last restart. Logged as ``train/time_s``.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None
        pl_module.log("train/time_s", self.seconds)

    def state_dict(self) -> dict:
        return {"seconds": self.seconds}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seconds = state_dict["seconds"]
