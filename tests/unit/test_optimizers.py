"""Learning-rate fractions that modules ask for (``lr_scales``) become optimizer groups."""

import functools

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from asr_lstm import cells
from asr_lstm.cli.build import build_net
from asr_lstm.optimizers import build_optimizer, parameter_groups
from tests.conftest import compose_train


def fgr_and_lstm() -> nn.Module:
    torch.manual_seed(0)
    return nn.ModuleList([cells.build("fgr", 3, 4), cells.build("lstm", 4, 4)])


def test_the_fgr_gate_recurrence_learns_at_its_fraction_of_the_rate():
    model = fgr_and_lstm()
    groups = parameter_groups(model)
    assert [g["lr_scale"] for g in groups] == [1.0, 0.01]
    assert groups[1]["params"] == [model[0].weight_gh]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    optimizer = build_optimizer(functools.partial(torch.optim.Adam, lr=3e-3), model)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([3e-3, 3e-5])


def test_one_adam_step_moves_r_a_hundredth_as_far_as_the_other_weights():
    """Adam's first step moves every weight by lr x g / (|g| + eps): the optimizer's rate, and R 1 % of it."""
    model = fgr_and_lstm().double()  # float64: the differences below are exact enough to compare at 1e-9
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = build_optimizer(functools.partial(torch.optim.Adam, lr=3e-3, eps=1e-12), model)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    for name, p in model.named_parameters():
        expected = 3e-5 if name == "0.weight_gh" else 3e-3
        torch.testing.assert_close(before[name] - p.detach(), torch.full_like(p, expected), rtol=1e-9, atol=0)


def test_a_model_without_fractions_is_one_group_at_the_optimizer_rate():
    model = cells.build("lstm", 3, 4)
    optimizer = build_optimizer(functools.partial(torch.optim.SGD, lr=0.1), model)
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["lr"] == 0.1
    assert optimizer.param_groups[0]["params"] == list(model.parameters())


def test_the_fgr_config_sets_the_fraction_and_a_schedule_keeps_it(tmp_path):
    cfg = compose_train(tmp_path, ["cell=greff/fgr", "cell.gate_recurrence_lr=0.05", "scheduler=plateau"])
    net = build_net(cfg, 20, 10)
    optimizer = build_optimizer(instantiate(cfg.optimizer), net)
    scheduler = instantiate(cfg.scheduler)(optimizer=optimizer)
    lr = cfg.optimizer.lr
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([lr, 0.05 * lr])
    for _ in range(cfg.scheduler.patience + 2):
        scheduler.step(1.0)
    low, high = sorted(g["lr"] for g in optimizer.param_groups)
    assert high < lr and low == pytest.approx(0.05 * high)


def test_a_non_positive_fraction_is_refused():
    with pytest.raises(ValueError, match="gate_recurrence_lr=0"):
        cells.build("fgr", 3, 4, gate_recurrence_lr=0)


def test_a_projection_learns_at_its_fraction_of_the_rate(tmp_path):
    """W_rm, W_pm and the W_.r of ``weight_hh`` at ``projection_lr``; every other weight, and every
    weight of a cell without a projection, at the optimizer's rate."""
    torch.manual_seed(0)
    lstmp = cells.build("lstmp", 3, 4, nonrecurrent_proj_size=1, projection_lr=0.25)
    model = nn.ModuleList([lstmp, cells.build("lstm", 3, 4, projection_lr=0.25)])
    groups = parameter_groups(model)
    assert [g["lr_scale"] for g in groups] == [1.0, 0.25]
    assert groups[1]["params"] == [lstmp.weight_hh, lstmp.weight_hr, lstmp.weight_pm]
    assert len(groups[0]["params"]) == len(list(model.parameters())) - 3
    cfg = compose_train(tmp_path, ["cell=lstmp", "cell.projection_lr=0.25"])
    optimizer = build_optimizer(instantiate(cfg.optimizer), build_net(cfg, 20, 10))
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([cfg.optimizer.lr, 0.25 * cfg.optimizer.lr])
    assert cells.build("lstmp", 3, 4).lr_scales == {"weight_hr": 0.25, "weight_hh": 0.25}  # the default
    assert not hasattr(cells.build("lstm", 3, 4), "lr_scales")
    with pytest.raises(ValueError, match="projection_lr=0 must be positive"):
        cells.build("lstmp", 3, 4, projection_lr=0)
