"""The LightningModule: CTC training, greedy validation and test error rates.

Metric keys: ``train/loss``, ``val/loss``, ``val/<rate>``, ``test/<rate>`` for the label error rate
on the scoring label set (``per`` for TIMIT's phones folded to 39 or lexicon phones, ``cer`` for
characters, spaces included, ``ter`` for subword pieces) and, where the labels have units that spell
words, ``val/wer`` and ``test/wer``; ``val/<metric>_best`` of the rate training monitors (``wer`` for
subword pieces, the label rate otherwise).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from asr_lstm.data.phones import timit_phone_map
from asr_lstm.data.units import Labelling
from asr_lstm.decoding import greedy_decode
from asr_lstm.metrics import edit_distance
from asr_lstm.models import CTCModel
from asr_lstm.optimizers import build_optimizer
from asr_lstm.rng import rng_states, set_rng_states

log = logging.getLogger(__name__)


class CTCLitModule(pl.LightningModule):
    """Trains a :class:`CTCModel` with CTC loss; optimiser and scheduler are injected partials.

    Args:
        net: the acoustic model.
        optimizer: ``optimizer(params=...)`` -> ``torch.optim.Optimizer``.
        scheduler: ``scheduler(optimizer=...)`` -> LR scheduler stepped on ``val/<metric>`` each epoch, or ``None``.
        labels: vocabulary tokens, blank first.
        labelling: what the labels are (:class:`asr_lstm.data.units.Labelling`): the folding before
            scoring them, the name of their error rate, the units whose words are scored by WER (when
            there are units) and which of the two rates is the ``metric`` that training monitors.
        augment: ``augment(x (B, T, D), x_lens (B,)) -> (B, T, D)`` applied to training batches only
            (e.g. :class:`asr_lstm.data.augment.SpecAugment`); ``None`` for none.
        max_nonfinite_batches: a training batch whose loss or gradient is not finite makes no
            optimiser step and is logged (step, utterance ids) and counted; this many in a row stop
            training with an error naming them.
    """

    def __init__(
        self,
        net: CTCModel,
        optimizer: Callable,
        labels: list[str],
        labelling: Labelling,
        scheduler: Callable | None = None,
        augment: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        max_nonfinite_batches: int = 10,
    ):
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.labels = list(labels)
        self.folding, self.metric, self.token_metric = labelling.folding, labelling.metric, labelling.token_metric
        self.units = labelling.units
        self.augment = augment
        self.best_rate = math.inf
        self.max_nonfinite_batches = max_nonfinite_batches
        self.nonfinite_batches = 0  # in all
        self._nonfinite_run: list[str] = []  # "step N: ids" of the batches skipped in a row
        self._batch_ids: list[str] = []
        self._bad_loss: list[str] = []
        # [edit errors, reference units] of tokens and words, [loss sum, utterances]
        self._errors = {stage: {"tokens": [0, 0], "words": [0, 0], "loss": [0, 0]} for stage in ("val", "test")}
        self.counts: dict[str, dict[str, list[int]]] = {}  # [errors, reference units] of the last val / test epoch

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x, lens)

    def ctc_losses(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-utterance CTC losses ``(B,)`` (in float32), ``log_probs (B, T', V)`` and ``out_lens (B,)``."""
        log_probs, out_lens = self.net(batch["x"], batch["x_lens"])
        losses = F.ctc_loss(
            log_probs.transpose(0, 1),
            batch["y"],
            out_lens,
            batch["y_lens"],
            blank=0,
            reduction="none",
            zero_infinity=False,
        )
        return losses, log_probs, out_lens

    def ctc_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean per-utterance CTC loss; returns ``(loss, log_probs (B, T', V), out_lens (B,))``.

        Raises:
            FloatingPointError: naming the utterances whose loss is not finite.
        """
        losses, log_probs, out_lens = self.ctc_losses(batch)
        if not torch.isfinite(losses).all():
            raise FloatingPointError(f"non-finite CTC loss for utterances {self._nonfinite(batch, losses)}")
        return losses.mean(), log_probs, out_lens

    @staticmethod
    def _nonfinite(batch: dict, losses: torch.Tensor) -> list[str]:
        return [u for u, ok in zip(batch["ids"], torch.isfinite(losses).tolist()) if not ok]

    def _skip(self, what: str, ids: list[str]) -> None:
        """Counts a training batch that makes no optimiser step; too many in a row stop training."""
        self.nonfinite_batches += 1
        self._nonfinite_run.append(f"step {self.global_step}: {', '.join(ids)}")
        log.warning("step %d: non-finite %s, no optimiser step (utterances %s)", self.global_step, what, ", ".join(ids))
        if len(self._nonfinite_run) >= self.max_nonfinite_batches:
            raise FloatingPointError(
                f"{len(self._nonfinite_run)} training batches in a row had a non-finite loss or gradient "
                f"(max_nonfinite_batches={self.max_nonfinite_batches}):\n  " + "\n  ".join(self._nonfinite_run)
            )

    def score_labels(self, ids: list[int]) -> list[str]:
        labels = [self.labels[i] for i in ids]
        return timit_phone_map().fold(labels, self.folding) if self.folding else labels

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if self.augment is not None:
            batch = {**batch, "x": self.augment(batch["x"], batch["x_lens"])}
        losses, _, _ = self.ctc_losses(batch)
        self._batch_ids, self._bad_loss = batch["ids"], self._nonfinite(batch, losses)
        if self._bad_loss:
            # a zero loss of every parameter: each DDP process still runs its backward (and all-reduce)
            return sum(p.sum() for p in self.parameters()) * 0.0
        loss = losses.mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer, optimizer_closure=None) -> None:
        """Steps only when the batch's loss and every gradient are finite (see ``max_nonfinite_batches``);
        under DDP the processes decide together, so all of them step or none."""
        loss = optimizer_closure()  # training_step and backward
        bad_gradient = not all(torch.isfinite(p.grad).all() for p in self.parameters() if p.grad is not None)
        flag = torch.tensor(float(bool(self._bad_loss) or bad_gradient), device=self.device)
        if float(self.trainer.strategy.reduce(flag, reduce_op="sum")) > 0:
            what = "loss" if self._bad_loss else "gradient" if bad_gradient else "loss or gradient in another process"
            self._skip(what, self._bad_loss or self._batch_ids)
            optimizer.zero_grad()
            return
        self._nonfinite_run = []
        optimizer.step(closure=lambda: loss)  # clipping and the before-step hooks run inside

    def _eval_step(self, batch: dict, stage: str) -> None:
        loss, log_probs, out_lens = self.ctc_loss(batch)
        self._errors[stage]["loss"][0] += float(loss) * len(batch["ids"])
        self._errors[stage]["loss"][1] += len(batch["ids"])
        hyps = greedy_decode(log_probs, out_lens)
        for hyp, y, n in zip(hyps, batch["y"].tolist(), batch["y_lens"].tolist()):
            ref, hyp = self.score_labels(y[:n]), self.score_labels(hyp)
            self._count(stage, "tokens", ref, hyp)
            if self.units is not None:
                self._count(stage, "words", self.units.words(ref), self.units.words(hyp))

    def _count(self, stage: str, unit: str, ref: list[str], hyp: list[str]) -> None:
        counts = self._errors[stage][unit]
        counts[0] += edit_distance(ref, hyp)
        counts[1] += len(ref)

    def _eval_epoch_end(self, stage: str) -> float:
        """Rates from the counts of this epoch, summed over the DDP processes (each has scored its own
        utterances, each utterance once); every process logs the same values."""
        units = ("tokens", "words", "loss")
        # float64 holds integer counts exactly (below 2^53) and the loss sums; every backend sums it
        counts = torch.tensor([c for unit in units for c in self._errors[stage][unit]], dtype=torch.float64)
        counts = self.trainer.strategy.reduce(counts.to(self.device), reduce_op="sum").cpu().tolist()
        totals = dict(zip(units, zip(counts[::2], counts[1::2])))
        self._errors[stage] = {unit: [0, 0] for unit in units}
        self.counts[stage] = {unit: [int(e), int(n)] for unit, (e, n) in totals.items() if unit != "loss"}
        rates = {unit: 100.0 * errors / max(total, 1) for unit, (errors, total) in totals.items()}
        # sync_dist averages values that are already equal on every process
        self.log(f"{stage}/loss", totals["loss"][0] / max(totals["loss"][1], 1), sync_dist=True)
        logged = {self.token_metric: rates["tokens"], **({"wer": rates["words"]} if self.units is not None else {})}
        for name, rate in logged.items():
            self.log(f"{stage}/{name}", rate, prog_bar=name == self.metric, sync_dist=True)
        return logged[self.metric]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        rate = self._eval_epoch_end("val")
        if not self.trainer.sanity_checking:
            self.best_rate = min(self.best_rate, rate)
            self.log(f"val/{self.metric}_best", self.best_rate)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_rate"] = self.best_rate
        checkpoint["nonfinite_batches"] = self.nonfinite_batches
        checkpoint["nonfinite_run"] = self._nonfinite_run  # a checkpoint inside an epoch may fall in a run
        checkpoint["rng_states"] = rng_states()  # a resumed run draws what the uninterrupted one would

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.best_rate = checkpoint["best_rate"]
        self.nonfinite_batches = checkpoint["nonfinite_batches"]
        self._nonfinite_run = checkpoint["nonfinite_run"]
        set_rng_states(checkpoint["rng_states"])

    def configure_optimizers(self):
        optimizer = build_optimizer(self.optimizer_factory, self)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": f"val/{self.metric}", "interval": "epoch"},
        }
