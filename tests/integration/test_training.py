"""Training behaviour: overfitting one batch, a Lightning run on a tiny corpus, resume, refusals."""

import csv
import functools
import json

import pytest
import torch
import torch.nn.functional as F

from asr_lstm import cells
from asr_lstm.cli.build import build_datamodule, build_module
from asr_lstm.cli.train import run
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.decoding import greedy_decode
from asr_lstm.models import CTCModel
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
    for name in ("config.yaml", "command.txt", "summary.json", "checkpoints/last.ckpt", "checkpoints/best.ckpt", "csv/version_0/metrics.csv"):
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


CELL_OPTIONS = ["lstm", "peephole", "peephole_diag", "conv_peephole", "gru", "cifg"] + [
    f"greff/{v}" for v in ("nig", "nfg", "nog", "niaf", "noaf", "np", "cifg", "fgr")
]


@pytest.mark.parametrize("cell", CELL_OPTIONS)
def test_every_cell_trains_inside_the_blstm_ctc_model(tiny_cfg, tmp_path, cell):
    hidden = ["model.hidden_size=82"] if cell == "conv_peephole" else []
    cfg = tiny_cfg("run", f"cell={cell}", "trainer.max_epochs=3", "model.num_layers=2", "optimizer.lr=0.01", "scheduler=none", *hidden)
    summary = run(cfg)
    assert summary["global_step"] == 6
    assert cfg.cell.name == cell.split("/")[-1]
    rows = list(csv.DictReader((tmp_path / "run/csv/version_0/metrics.csv").open()))
    val_loss = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(val_loss) == 3 and val_loss[-1] < val_loss[0]  # it learns
    state = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert any(k.startswith("net.encoder.backward_layers.1.weight_hh") for k in state)


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
    with pytest.raises(CorpusError, match=r"too short for their labels under CTC:\n  train/fcjf0_si943 \(.*FCJF0/SI943\.WAV\): 9 CTC frames needed for 9 labels, the model outputs 7"):
        datamodule.check_ctc_lengths(module.net.output_length)
    with pytest.raises(CorpusError, match="too short for their labels"):
        run(cfg)
    assert not (tmp_path / "run2" / "checkpoints").exists()


def test_speakers_fixture_is_consistent():
    assert {p for p, _, _ in SPEAKERS} == {"train", "test"}
