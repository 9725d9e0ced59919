"""Training behaviour: overfitting one batch, a Lightning run on a tiny corpus, resume, refusals."""

import csv
import functools
import json
import math

import pytest
import torch
import torch.nn.functional as F

from asr_lstm import cells
from asr_lstm.cli import train as train_cli
from asr_lstm.cli.build import build_datamodule, build_module
from asr_lstm.cli.evaluate import main as evaluate_main
from asr_lstm.cli.train import run
from asr_lstm.data.augment import SpecAugment
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.decoding import greedy_decode
from asr_lstm.errors import ConfigError
from asr_lstm.initial_weights import load_initial_weights
from asr_lstm.models import CTCModel
from asr_lstm.recognizer import Recognizer
from asr_lstm.runs import plain_options
from tests.timit_fixture import SPEAKERS


def test_small_model_overfits_one_batch_until_greedy_is_exact():
    torch.manual_seed(0)
    targets = [[3, 1, 4, 1, 5], [2, 6, 2], [5, 3, 5, 6]]
    x = torch.randn(3, 30, 8)
    lens = torch.tensor([30, 24, 27])
    y = torch.nn.utils.rnn.pad_sequence([torch.tensor(t) for t in targets], batch_first=True)
    y_lens = torch.tensor([len(t) for t in targets])
    model = CTCModel(8, 7, functools.partial(cells.build, "lstm"), hidden_size=32, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(400):
        log_probs, out_lens = model(x, lens)
        loss = F.ctc_loss(log_probs.transpose(0, 1), y, out_lens, y_lens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if greedy_decode(log_probs.detach(), out_lens) == targets:
            break
    model.eval()
    with torch.no_grad():
        assert greedy_decode(*model(x, lens)) == targets


def test_train_then_resume_continues_the_global_step(tiny_cfg, tmp_path):
    first = run(tiny_cfg("run", "trainer.max_epochs=1"))
    steps_per_epoch = first["global_step"]
    assert steps_per_epoch == 2  # 4 train utterances in batches of 2
    run_dir = tmp_path / "run"
    for name in (
        "config.yaml",
        "command.txt",
        "summary.json",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
        "csv/version_0/metrics.csv",
        "curves.png",
    ):
        assert (run_dir / name).is_file(), name
    assert "trainer.max_epochs=1" in (run_dir / "command.txt").read_text()
    assert 0 <= first["test_per"] and first["parameters"] > 0
    second = run(tiny_cfg("run", "trainer.max_epochs=3"))
    assert second["global_step"] == 3 * steps_per_epoch
    assert second["epochs"] == 3
    assert second["train_time_s"] > first["train_time_s"]  # the clock resumes too
    assert json.loads((run_dir / "summary.json").read_text())["global_step"] == 6
    # the first start's log survives the resume
    assert "val/per" in (run_dir / "csv/version_0/metrics.csv").read_text()
    assert (run_dir / "csv/version_1/metrics.csv").is_file()


CELL_OPTIONS = ["lstm", "peephole", "peephole_diag", "lstmp", "conv_peephole", "gru", "ligru", "cifg"] + [
    f"greff/{v}" for v in ("nig", "nfg", "nog", "niaf", "noaf", "np", "cifg", "fgr")
]


def test_a_run_without_the_csv_logger_ends_without_curves(tiny_cfg, tmp_path):
    summary = run(tiny_cfg("run", "trainer.max_epochs=1", "~logger.csv"))
    assert summary["global_step"] == 2 and (tmp_path / "run/summary.json").is_file()
    assert not (tmp_path / "run/csv").exists() and not (tmp_path / "run/curves.png").exists()


@pytest.mark.parametrize("cell", CELL_OPTIONS)
def test_every_cell_trains_inside_the_blstm_ctc_model(tiny_cfg, tmp_path, cell):
    hidden = ["model.hidden_size=82"] if cell == "conv_peephole" else []
    cfg = tiny_cfg(
        "run",
        f"cell={cell}",
        "trainer.max_epochs=3",
        "model.num_layers=2",
        "optimizer.lr=0.01",
        "scheduler=none",
        *hidden,
    )
    summary = run(cfg)
    assert summary["global_step"] == 6
    assert cfg.cell.name == cell.split("/")[-1]
    rows = list(csv.DictReader((tmp_path / "run/csv/version_0/metrics.csv").open()))
    val_loss = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(val_loss) == 3 and val_loss[-1] < val_loss[0]  # it learns
    checkpoint = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert any(k.startswith("net.encoder.backward_layers.1.weight_hh") for k in checkpoint["state_dict"])
    groups = checkpoint["optimizer_states"][0]["param_groups"]  # fgr's R, lstmp's projection in groups of their own
    expected = {"greff/fgr": [0.01, 1.0], "lstmp": [0.25, 1.0]}.get(cell, [1.0])
    assert sorted(g["lr_scale"] for g in groups) == expected
    assert all(g["lr"] == pytest.approx(0.01 * g["lr_scale"]) for g in groups)


@pytest.mark.parametrize(
    "options",
    [
        ("cell=lstm", "cell.layer_norm=true"),
        ("cell=lstm", "cell.zoneout_cell=0.2", "cell.zoneout_hidden=0.1"),
        ("cell=gru", "cell.zoneout_hidden=0.1"),
        ("cell=ligru", "cell.layer_norm=true", "cell.candidate_dropout=0.15"),  # the SLi-GRU as SpeechBrain's
    ],
)
def test_the_recurrent_options_train_inside_the_blstm_ctc_model(tiny_cfg, tmp_path, options):
    cfg = tiny_cfg("run", *options, "trainer.max_epochs=3", "optimizer.lr=0.01", "scheduler=none")
    run(cfg)
    rows = list(csv.DictReader((tmp_path / "run/csv/version_0/metrics.csv").open()))
    val_loss = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(val_loss) == 3 and val_loss[-1] < val_loss[0]
    for option in options[1:]:  # the run's config holds the option, and its cells run with it
        key, value = option.removeprefix("cell.").split("=")
        assert str(cfg.cell[key]).lower() == value
    if options[:2] == ("cell=lstm", "cell.layer_norm=true"):  # (the SLi-GRU's normalisation has no parameters)
        state = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)["state_dict"]
        assert len({k.rsplit(".", 1)[-1] for k in state} & {"weight_ln_h", "weight_ln_c", "bias_ln_c"}) == 3


@pytest.mark.parametrize("cell", CELL_OPTIONS)
def test_every_cell_trains_in_bf16_mixed_precision(tiny_cfg, tmp_path, cell):
    hidden = ["model.hidden_size=82"] if cell == "conv_peephole" else []
    cfg = tiny_cfg("run", f"cell={cell}", "trainer.precision=bf16-mixed", "trainer.max_epochs=3", "optimizer.lr=0.01",
                   "scheduler=none", "test_after_fit=false", "trainer.log_every_n_steps=1", *hidden)  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 6 and summary["nonfinite_batches"] == 0
    rows = list(csv.DictReader((tmp_path / "run/csv/version_0/metrics.csv").open()))
    train_loss = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    val_loss = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(train_loss) == 6 and all(math.isfinite(v) for v in train_loss + val_loss)
    assert val_loss[-1] < val_loss[0]


def test_specaugment_masks_training_batches_only(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "run", "augment=specaugment", "augment.time_ratio=1.0", "augment.time_width=20", "trainer.max_epochs=1"
    )
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup()
    module = build_module(cfg, datamodule)
    assert isinstance(module.augment, SpecAugment) and module.augment.blocks == 3 and module.augment.first_band == 1
    seen = []
    module.net.register_forward_pre_hook(lambda net, inputs: seen.append(inputs[0].clone()))
    batch = next(iter(datamodule.train_dataloader()))
    torch.manual_seed(0)
    module.train().training_step(batch, 0)
    module.eval().validation_step(batch, 0)
    frames = [slice(0, n) for n in batch["x_lens"].tolist()]
    trained_on = [(seen[0][b, t] == 0) & (batch["x"][b, t] != 0) for b, t in enumerate(frames)]
    assert all(m.any(dim=0).sum() >= 2 and m.all(dim=1).any() for m in trained_on)  # frequency and time masks
    assert torch.equal(seen[1], batch["x"])
    assert run(cfg)["global_step"] == 2


@pytest.mark.parametrize("cell", ["lstm", "ligru"])  # ligru: batch-norm statistics, averaged as buffers
def test_a_run_with_weight_averaging_validates_tests_and_hands_on_the_average(tiny_cfg, tmp_path, cell):
    summary = run(tiny_cfg("run", f"cell={cell}", "averaging=ema", "averaging.decay=0.5", "trainer.max_epochs=2"))
    run_dir = tmp_path / "run"
    best = torch.load(run_dir / "checkpoints/best.ckpt", weights_only=True)
    assert any(not torch.equal(v, best["current_model_state"][k]) for k, v in best["state_dict"].items())
    exported = Recognizer.from_run(run_dir).net.state_dict()
    assert all(torch.equal(v, best["state_dict"][f"net.{k}"]) for k, v in exported.items())
    for split, checkpoint, counts in (("test", "best", summary["test_counts"]), ("dev", "last", summary["val_counts"])):
        evaluate_main([str(run_dir), "--splits", split, "--checkpoint", checkpoint])
        evaluated = json.loads((run_dir / f"decode_{split}/metrics.json").read_text(encoding="utf-8"))
        assert counts["tokens"] == [evaluated["errors"], evaluated["ref_len"]], split


def test_init_from_starts_a_new_run_from_another_runs_weights(tiny_cfg, tmp_path, monkeypatch):
    run(tiny_cfg("phase1", "trainer.max_epochs=1"))
    ckpt = tmp_path / "phase1/checkpoints/best.ckpt"
    trained = torch.load(ckpt, weights_only=True)["state_dict"]
    cfg = tiny_cfg(
        "phase2",
        f"init_from={ckpt}",
        "trainer.max_epochs=1",
        "+callbacks.weight_noise._target_=asr_lstm.callbacks.WeightNoise",
        "+callbacks.weight_noise.std=0.075",
    )
    started_from = []

    def loading(net, tokens, path, options):
        described = load_initial_weights(net, tokens, path, options)
        started_from.append({f"net.{k}": v.clone() for k, v in net.state_dict().items()})
        return described

    monkeypatch.setattr(train_cli, "load_initial_weights", loading)
    summary = run(cfg)
    assert summary["init_from"] == str(ckpt) and summary["global_step"] == 2
    assert started_from and all(torch.equal(started_from[0][k], v) for k, v in trained.items())
    resumed = run(cfg)  # the run's own last.ckpt wins over init_from
    assert len(started_from) == 1 and resumed["global_step"] == 2


def test_init_from_refuses_other_files_and_models_by_name(tiny_cfg, tmp_path):
    run(tiny_cfg("phase1", "trainer.max_epochs=1"))
    cfg = tiny_cfg("other", "model.hidden_size=24")
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    module = build_module(cfg, datamodule)
    options = {"model": plain_options(cfg.model), "cell": plain_options(cfg.cell)}
    with pytest.raises(
        ConfigError,
        match=r"init_from=.*phase1/checkpoints/best.ckpt: its weights do not fit this model: Error.* size mismatch for encoder\.",
    ):
        load_initial_weights(module.net, module.labels, str(tmp_path / "phase1/checkpoints/best.ckpt"), options)
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"init_from=.*notes.txt: not a training checkpoint"):
        load_initial_weights(module.net, module.labels, str(tmp_path / "notes.txt"), options)


def test_too_many_labels_for_the_frames_is_refused_before_training(tiny_cfg, tmp_path):
    cfg = tiny_cfg("run", "model.stride=8", "model.stack=8")
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup()
    module = build_module(cfg, datamodule)
    # 1 s of audio = 98 frames -> 13 outputs at stride 8; the fixture's utterances have 9 labels
    datamodule.check_ctc_lengths(module.net.output_length)
    cfg = tiny_cfg("run2", "model.stride=16", "model.stack=16")  # 7 outputs < 9 labels
    module = build_module(cfg, datamodule)
    with pytest.raises(
        CorpusError,
        match=r"too short for their labels under CTC:\n  train/fcjf0_si943 \(.*FCJF0/SI943\.WAV\): 9 CTC frames needed for 9 labels, the model outputs 7",
    ):
        datamodule.check_ctc_lengths(module.net.output_length)
    with pytest.raises(CorpusError, match=r"\(.*FCJF0/SI943\.WAV\): 98 input frames give the model no output frame"):
        datamodule.check_ctc_lengths(lambda frames: frames // 128)  # a front end pooling time by 128
    with pytest.raises(CorpusError, match="too short for their labels"):
        run(cfg)
    assert not (tmp_path / "run2" / "checkpoints").exists()


def test_speakers_fixture_is_consistent():
    assert {p for p, _, _ in SPEAKERS} == {"train", "test"}
