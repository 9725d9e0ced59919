"""Shared fixtures: tiny TIMIT trees and composed Hydra configs with a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from tests.timit_fixture import write_timit_tree

FAST = [
    "trainer.enable_progress_bar=false",
    "trainer.accelerator=cpu",
    "model.num_layers=1",
    "model.hidden_size=16",
    "data.batch_size=2",
]

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


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
        return compose_train(
            tmp_path / run_name, [f"data.corpus.root={root}", f"data.work_dir={tmp_path / 'data'}", *FAST, *overrides]
        )

    return make


def force_ctc_path(monkeypatch, tokens: list[str], labels: list[str]) -> None:
    """Makes every decoded input's network output the CTC path ``labels`` (one label a frame, ``<blk>``
    for blank), so that a test checks the decoder around the network, not a briefly trained model."""
    from asr_lstm.recognizer import Recognizer

    path = [tokens.index(label) for label in labels]

    def log_probs(self, feats):
        probs = torch.full((len(feats), len(path), len(tokens)), 1e-4)
        probs[:, torch.arange(len(path)), torch.tensor(path)] = 1.0
        return (probs / probs.sum(2, keepdim=True)).log(), torch.full((len(feats),), len(path))

    monkeypatch.setattr(Recognizer, "log_probs", log_probs)


SCORED = ("metric", "folding", "sub", "dels", "ins", "ref_len", "num_utts")  # what metrics.json counts


def decode_and_evaluate_through_one_path(monkeypatch, run_dir, model, manifest, split="test") -> dict[str, list[str]]:
    """Runs ``asr-lstm evaluate`` of ``run_dir`` and ``asr-lstm decode --score`` of ``model`` on the same
    split, counting the calls of the Recognizer's network and search steps; returns evaluate's
    hypotheses after checking that decode printed the same ones and scored them to the same counts
    (labels and words), and that each command ran both steps once."""
    from asr_lstm.cli import decode as decode_cli
    from asr_lstm.cli.evaluate import main as evaluate_main
    from asr_lstm.recognizer import Recognizer
    from asr_lstm.scoring import read_transcripts

    calls = []
    for name in ("posteriors", "transcribe"):
        original = getattr(Recognizer, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Recognizer, name, spy)
    evaluate_main([str(run_dir), "--splits", split])
    assert calls == ["posteriors", "transcribe"]
    hyp = run_dir / "one_path_hyp.txt"
    scored = run_dir / "one_path_scores"
    decode_cli.main([str(model), str(manifest), "--tokens", "-o", str(hyp), "--score", str(scored)])
    assert calls == ["posteriors", "transcribe"] * 2
    expected = read_transcripts(run_dir / f"decode_{split}/hyp.txt")
    assert read_transcripts(hyp) == expected and expected
    evaluated = [
        name for name in ("metrics.json", "wer/metrics.json") if (run_dir / f"decode_{split}" / name).is_file()
    ]
    assert evaluated == [name for name in ("metrics.json", "wer/metrics.json") if (scored / name).is_file()]
    for metrics in evaluated:
        evaluate_counts, decode_counts = (
            {k: v for k, v in json.loads((folder / metrics).read_text(encoding="utf-8")).items() if k in SCORED}
            for folder in (run_dir / f"decode_{split}", scored)
        )
        assert decode_counts == evaluate_counts and len(evaluate_counts) == len(SCORED), metrics
    return expected
