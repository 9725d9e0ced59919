"""WeightNoise: gradients at noisy weights, applied to the clean ones (Graves 2011)."""

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from asr_lstm.callbacks import WeightNoise

LR = 0.5


class Quadratic(pl.LightningModule):
    """loss = 0.5 ||w||^2, so the gradient is the weights the loss saw."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2000))
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(self.w.detach().clone())
        return 0.5 * (self.w**2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=LR)

    def train_dataloader(self):
        return DataLoader(torch.zeros(3, 1), batch_size=1)


def fit(std: float) -> Quadratic:
    torch.manual_seed(0)
    module = Quadratic()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[WeightNoise(std)],
    )
    trainer.fit(module)
    return module


def test_the_step_uses_the_gradient_at_noisy_weights_and_moves_the_clean_ones():
    module = fit(0.075)
    clean = torch.ones(2000)
    for seen in module.seen:
        noise = seen - clean
        assert abs(noise.mean().item()) < 0.01 and abs(noise.std().item() - 0.075) < 0.005
        clean = clean - LR * seen  # SGD step from the clean weights with the noisy weights' gradient
    assert len(module.seen) == 3 and torch.allclose(module.w.detach(), clean, atol=1e-6)


def test_zero_std_is_plain_training():
    module = fit(0.0)
    assert [s[0].item() for s in module.seen] == [1.0, 0.5, 0.25]


def test_negative_std_is_refused():
    with pytest.raises(ValueError, match="weight noise std must be >= 0"):
        WeightNoise(-0.1)
