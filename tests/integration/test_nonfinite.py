"""A training batch with a non-finite loss or gradient makes no optimiser step, is logged and
counted; too many in a row stop training with an error naming them."""

import logging

import pytest
import torch

from asr_lstm.cli.train import run
from asr_lstm.lit_module import CTCLitModule

POISONED = "fcjf0_si943"  # one of the 4 training utterances of the tiny TIMIT tree


@pytest.fixture
def optimiser_steps(monkeypatch):
    """Counts the optimiser's real steps (Lightning's global_step counts every batch's turn)."""
    steps = []
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return steps


@pytest.fixture
def poisoned_loss(monkeypatch):
    """Makes the CTC loss of the batch holding POISONED (or of every batch: ``everywhere()``) NaN."""
    original = CTCLitModule.ctc_losses
    state = {"all": False}

    def ctc_losses(self, batch):
        losses, log_probs, lens = original(self, batch)
        if self.training and (state["all"] or POISONED in batch["ids"]):
            losses = losses + torch.tensor(
                [float("nan") if u == POISONED or state["all"] else 0.0 for u in batch["ids"]]
            )
        return losses, log_probs, lens

    monkeypatch.setattr(CTCLitModule, "ctc_losses", ctc_losses)
    return state


def test_a_nonfinite_loss_skips_the_step_and_training_goes_on(tiny_cfg, poisoned_loss, optimiser_steps, caplog):
    caplog.set_level(logging.WARNING)
    summary = run(tiny_cfg("run", "trainer.max_epochs=3"))
    assert summary["nonfinite_batches"] == 3 and len(optimiser_steps) == 3  # one of 2 batches an epoch stepped
    assert summary["global_step"] == 6 and summary["epochs"] == 3
    assert f"non-finite loss, no optimiser step (utterances {POISONED}" in caplog.text


def test_a_nonfinite_gradient_skips_the_step(tiny_cfg, monkeypatch, optimiser_steps):
    original = CTCLitModule.training_step

    def training_step(self, batch, batch_idx):
        loss = original(self, batch, batch_idx)
        if POISONED in batch["ids"]:

            def poison(grad):
                handle.remove()  # this backward pass only
                return grad * float("inf")

            handle = next(self.parameters()).register_hook(poison)
        return loss

    monkeypatch.setattr(CTCLitModule, "training_step", training_step)
    summary = run(tiny_cfg("run", "trainer.max_epochs=2"))
    assert summary["nonfinite_batches"] == 2 and len(optimiser_steps) == 2


def test_too_many_in_a_row_stop_training_naming_them(tiny_cfg, poisoned_loss):
    poisoned_loss["all"] = True
    with pytest.raises(FloatingPointError, match=r"3 training batches in a row had a non-finite loss.*\n  step 0: "):
        run(tiny_cfg("run", "trainer.max_epochs=3", "max_nonfinite_batches=3"))
