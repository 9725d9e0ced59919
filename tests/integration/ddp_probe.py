"""A callback for the DDP test: every process saves its weights when training ends."""

from pathlib import Path

import pytorch_lightning as pl
import torch


class SaveWeightsPerProcess(pl.Callback):
    def __init__(self, folder: str):
        self.folder = Path(folder)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(pl_module.state_dict(), self.folder / f"rank{trainer.global_rank}.pt")
