"""Training callbacks of our own."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class WeightNoise(pl.Callback):
    """Gaussian weight noise (Graves 2011, "Practical variational inference for neural networks";
    Graves, Mohamed & Hinton 2013 retrain their TIMIT networks with it, sigma = 0.075).

    Before each training batch every parameter w is perturbed to w + e, e ~ N(0, sigma^2) drawn anew
    for the batch (once per training sequence when batches hold one utterance, as in Graves 2013); the
    gradient is computed at the noisy weights and applied to the clean ones, which are restored
    before the optimiser step. Validation, test and saved checkpoints see the clean weights.

    Args:
        std: sigma; 0 turns the noise off.
    """

    def __init__(self, std: float) -> None:
        if std < 0:
            raise ValueError(f"weight noise std must be >= 0, got {std}")
        self.std = std
        self._clean: list[tuple[torch.nn.Parameter, torch.Tensor]] = []  # (parameter, its clean value) while noisy

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if self.std == 0:
            return
        self._clean = [(p, p.detach().clone()) for p in pl_module.parameters() if p.requires_grad]
        with torch.no_grad():
            for p, _ in self._clean:
                p.add_(torch.randn_like(p), alpha=self.std)

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer) -> None:
        self._restore()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        self._restore()  # a batch without an optimiser step (accumulation, a skipped batch)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        with torch.no_grad():
            for p, clean in self._clean:
                p.copy_(clean)
        self._clean = []
