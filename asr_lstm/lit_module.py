"""The LightningModule: CTC training, greedy validation and test error rates.

Metric keys: ``train/loss``, ``val/loss``, ``val/per``, ``val/per_best``, ``test/per`` (``per`` is the
token error rate on the scoring label set: phones folded to 39 for TIMIT).
"""

from __future__ import annotations

import math
from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from asr_lstm.data.phones import timit_phone_map
from asr_lstm.decoding import greedy_decode
from asr_lstm.metrics import edit_distance
from asr_lstm.models import CTCModel


class CTCLitModule(pl.LightningModule):
    """Trains a :class:`CTCModel` with CTC loss; optimiser and scheduler are injected partials.

    Args:
        net: the acoustic model.
        optimizer: ``optimizer(params=...)`` -> ``torch.optim.Optimizer``.
        scheduler: ``scheduler(optimizer=...)`` -> LR scheduler stepped on ``val/per`` each epoch, or ``None``.
        labels: vocabulary tokens, blank first.
        folding: phone folding before scoring ("39", "48") or ``None`` to score the labels as they are.
    """

    def __init__(self, net: CTCModel, optimizer: Callable, labels: list[str], scheduler: Callable | None = None, folding: str | None = "39"):
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.labels = list(labels)
        self.folding = folding
        self.best_per = math.inf
        self._errors = {"val": [0, 0], "test": [0, 0]}  # [edit errors, reference tokens]

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x, lens)

    def ctc_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean per-utterance CTC loss; returns ``(loss, log_probs (B, T', V), out_lens (B,))``."""
        log_probs, out_lens = self.net(batch["x"], batch["x_lens"])
        losses = F.ctc_loss(
            log_probs.transpose(0, 1), batch["y"], out_lens, batch["y_lens"], blank=0, reduction="none", zero_infinity=False
        )
        if not torch.isfinite(losses).all():
            bad = [u for u, ok in zip(batch["ids"], torch.isfinite(losses).tolist()) if not ok]
            raise FloatingPointError(f"non-finite CTC loss for utterances {bad}")
        return losses.mean(), log_probs, out_lens

    def score_labels(self, ids: list[int]) -> list[str]:
        labels = [self.labels[i] for i in ids]
        return timit_phone_map().fold(labels, self.folding) if self.folding else labels

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self.ctc_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def _eval_step(self, batch: dict, stage: str) -> None:
        loss, log_probs, out_lens = self.ctc_loss(batch)
        self.log(f"{stage}/loss", loss, batch_size=len(batch["ids"]))
        hyps = greedy_decode(log_probs, out_lens)
        for hyp, y, n in zip(hyps, batch["y"].tolist(), batch["y_lens"].tolist()):
            ref = self.score_labels(y[:n])
            self._errors[stage][0] += edit_distance(ref, self.score_labels(hyp))
            self._errors[stage][1] += len(ref)

    def _eval_epoch_end(self, stage: str) -> float:
        errors, total = self._errors[stage]
        self._errors[stage] = [0, 0]
        per = 100.0 * errors / max(total, 1)
        self.log(f"{stage}/per", per, prog_bar=True)
        return per

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        per = self._eval_epoch_end("val")
        if not self.trainer.sanity_checking:
            self.best_per = min(self.best_per, per)
            self.log("val/per_best", self.best_per)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_per"] = self.best_per

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.best_per = checkpoint.get("best_per", math.inf)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/per", "interval": "epoch"}}
