"""The optimizer over a model's parameters, with the learning-rate fractions its modules ask for.

A module may set ``lr_scales = {parameter name: fraction}`` for some of its own parameters, which then
learn at that fraction of the optimizer's rate: the full-gate-recurrence cell's R
(:class:`asr_lstm.cells.greff.FGR`) is one. Schedulers act on every group alike, so the fractions hold
throughout training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def parameter_groups(model: nn.Module) -> list[dict]:
    """``model``'s parameters as optimizer groups, one per learning-rate fraction (``lr_scale``), in the
    order of ``model.parameters()``: the same groups for the same model, so checkpoints resume."""
    scales: dict[int, float] = {}
    for module in model.modules():
        for name, scale in getattr(module, "lr_scales", {}).items():
            scales[id(getattr(module, name))] = scale
    groups: dict[float, list[nn.Parameter]] = {}
    for parameter in model.parameters():
        groups.setdefault(scales.get(id(parameter), 1.0), []).append(parameter)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]


def build_optimizer(factory: Callable[..., torch.optim.Optimizer], model: nn.Module) -> torch.optim.Optimizer:
    """``factory(params=...)`` (a partial optimizer of the config) over ``model``'s parameter groups, each
    group's learning rate the optimizer's times its ``lr_scale``."""
    optimizer = factory(params=parameter_groups(model))
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * group["lr_scale"]
    return optimizer
