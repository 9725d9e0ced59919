"""ExponentialMovingAverage: the average of the weights over the optimiser steps, what validation,
checkpoints and the test after training see, while training goes on with the weights themselves."""

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from asr_lstm.callbacks import ExponentialMovingAverage

LR = 0.5  # SGD on 0.5 w^2: every step halves w, so the weights after optimiser step k are 0.5^(k + 1)


class Halving(pl.LightningModule):
    """loss = 0.5 w^2 on three batches an epoch; records the weight each stage saw."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.seen: dict[str, list[float]] = {"train": [], "val": [], "test": []}

    def training_step(self, batch, batch_idx):
        self.seen["train"].append(self.w.item())
        return 0.5 * (self.w**2).sum()

    def validation_step(self, batch, batch_idx):
        self.seen["val"].append(self.w.item())

    def test_step(self, batch, batch_idx):
        self.seen["test"].append(self.w.item())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=LR)

    def train_dataloader(self):
        return DataLoader(torch.zeros(3, 1), batch_size=1)

    def val_dataloader(self):
        return DataLoader(torch.zeros(1, 1), batch_size=1)

    def test_dataloader(self):
        return DataLoader(torch.zeros(1, 1), batch_size=1)


def trainer(tmp_path, epochs: int, averaging: ExponentialMovingAverage) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[
            averaging,
            ModelCheckpoint(
                dirpath=tmp_path, filename="epoch{epoch}", auto_insert_metric_name=False, save_top_k=-1, save_last=True
            ),
        ],
    )


def ema(weights: list[float], decay: float) -> float:
    average = weights[0]
    for w in weights[1:]:
        average = decay * average + (1 - decay) * w
    return average


def after_step(k: int) -> float:
    return 0.5 ** (k + 1)


def test_the_average_follows_its_equation_from_start_step_every_n_steps(tmp_path):
    module = Halving()
    trainer(tmp_path, 2, ExponentialMovingAverage(decay=0.25, start_step=1, every_n_steps=2)).fit(module)
    assert module.seen["train"] == [1.0] + [after_step(k) for k in range(5)]  # training never sees the average
    averaged_steps = [1, 3, 5]
    assert module.seen["val"] == pytest.approx([
        ema([after_step(k) for k in [1]], 0.25),  # after steps 0-2
        ema([after_step(k) for k in averaged_steps], 0.25),
    ])  # fmt: skip
    assert module.w.item() == pytest.approx(module.seen["val"][-1])  # the model that leaves fit is the average
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert last["state_dict"]["w"].item() == pytest.approx(module.seen["val"][-1])
    assert last["current_model_state"]["w"].item() == after_step(5)


def test_before_start_step_validation_checkpoints_and_the_trained_model_are_the_weights(tmp_path):
    module = Halving()
    trainer(tmp_path / "late", 2, ExponentialMovingAverage(decay=0.5, start_step=4)).fit(module)
    assert module.seen["val"] == [after_step(2), pytest.approx(ema([after_step(4), after_step(5)], 0.5))]
    first = torch.load(tmp_path / "late/epoch0.ckpt", weights_only=True)
    assert first["state_dict"]["w"].item() == first["current_model_state"]["w"].item() == after_step(2)
    never = Halving()
    trainer(tmp_path / "never", 2, ExponentialMovingAverage(start_step=100)).fit(never)
    assert never.seen["val"] == [after_step(2), after_step(5)] and never.w.item() == after_step(5)


def test_the_test_after_training_evaluates_the_average_of_the_checkpoint(tmp_path):
    module = Halving()
    fit = trainer(tmp_path, 2, ExponentialMovingAverage(decay=0.5))
    fit.fit(module)
    fit.test(module, ckpt_path=str(tmp_path / "epoch0.ckpt"))
    first_epoch = ema([after_step(k) for k in range(3)], 0.5)
    assert module.seen["test"] == [pytest.approx(first_epoch)]  # Lightning's own callback tests 0.5^3 here


@pytest.mark.parametrize("start_step", [0, 4], ids=["averaging at the resume", "averaging only after it"])
def test_a_resume_goes_on_training_the_weights_and_averaging_them(tmp_path, start_step):
    whole = Halving()
    trainer(tmp_path / "whole", 3, ExponentialMovingAverage(decay=0.5, start_step=start_step)).fit(whole)
    trainer(tmp_path / "split", 1, ExponentialMovingAverage(decay=0.5, start_step=start_step)).fit(Halving())
    resumed = Halving()
    trainer(tmp_path / "split", 3, ExponentialMovingAverage(decay=0.5, start_step=start_step)).fit(
        resumed, ckpt_path=str(tmp_path / "split/last.ckpt")
    )
    assert resumed.seen["train"] == whole.seen["train"][3:]
    assert resumed.seen["val"] == whole.seen["val"][1:]
    expected = ema([after_step(k) for k in range(start_step, 9)], 0.5)
    assert resumed.w.item() == whole.w.item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"decay": 1.0}, r"averaging.decay must be in \[0, 1\), got 1.0"),
        ({"decay": -0.1}, r"averaging.decay must be in \[0, 1\), got -0.1"),
        ({"start_step": -1}, "averaging.start_step must be >= 0 and averaging.every_n_steps >= 1, got -1 and 1"),
        ({"every_n_steps": 0}, "averaging.start_step must be >= 0 and averaging.every_n_steps >= 1, got 0 and 0"),
    ],
)
def test_values_it_cannot_use_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        ExponentialMovingAverage(**options)
