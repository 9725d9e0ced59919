"""Shared fixtures: tiny TIMIT trees and composed Hydra configs with a run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from tests.timit_fixture import write_timit_tree

FAST = ["trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "model.num_layers=1", "model.hidden_size=16", "data.batch_size=2"]

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


@pytest.fixture
def timit_root(tmp_path: Path) -> Path:
    return write_timit_tree(tmp_path / "TIMIT", upper=True)


def compose_train(run_dir: Path, overrides: list[str]) -> DictConfig:
    """``conf/train.yaml`` composed with ``overrides``, as ``asr-lstm train`` would see it in ``run_dir``."""
    with initialize_config_module(config_module="asr_lstm.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"hydra.run.dir={run_dir}"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg


@pytest.fixture
def tiny_cfg(tmp_path):
    """``tiny_cfg(run_name, *overrides)``: a small model on a tiny TIMIT tree, run in ``tmp_path/run_name``."""

    def make(run_name, *overrides):
        root = write_timit_tree(tmp_path / "TIMIT")
        return compose_train(tmp_path / run_name, [f"data.corpus.root={root}", f"data.work_dir={tmp_path / 'data'}", *FAST, *overrides])

    return make
