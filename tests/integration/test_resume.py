"""Surviving a kill: a training SIGKILLed at an epoch's start, inside an epoch or during a checkpoint
write, rerun with the same command, ends with the weights and their average (`averaging=ema`) of an uninterrupted run, bit for bit; checkpoints are written atomically; a damaged last.ckpt is set aside;
a run directory refuses a second training and a resume with other options, before writing anything,
unless the run it holds stopped before its first checkpoint;
config values of the wrong type are refused before any work."""

import fcntl
import json
import logging
import signal
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from asr_lstm.checkpoints import AtomicCheckpointIO, InEpochCheckpoint, checkpoint_state
from asr_lstm.cli.run_dir import RunDirError, has_trained
from asr_lstm.cli.train import run
from asr_lstm.errors import ConfigError
from asr_lstm.pictures.curves import read_run_log
from tests.conftest import FAST
from tests.pictures import assert_picture
from tests.timit_fixture import write_timit_tree

# dropout, variational recurrent dropout, zoneout and SpecAugment draw random numbers every batch: a resume that replayed
# other draws differs; the weight average is a second state to restore; 4 training utterances in batches of 1 make 4
# steps an epoch, with a checkpoint after each but the last
EXACT = ["model.dropout=0.3", "cell.recurrent_dropout=0.2", "cell.zoneout_cell=0.2", "cell.zoneout_hidden=0.1",
         "augment=specaugment", "averaging=ema", "averaging.decay=0.5", "trainer.max_epochs=3", "seed=7",
         "data.batch_size=1",
         "callbacks.in_epoch_checkpoint.every_minutes=null", "callbacks.in_epoch_checkpoint.every_n_train_steps=1",
         "+callbacks.kill._target_=tests.integration.kill_probe.KillOnce"]  # fmt: skip


def train_command(tmp_path, run_name: str, *kill: str) -> list[str]:
    root = tmp_path / "TIMIT"
    if not root.exists():
        write_timit_tree(root)
    fast = [o for o in FAST if not o.startswith("data.batch_size=")]
    overrides = [f"data.corpus.root={root}", f"data.work_dir={tmp_path / 'data'}", *fast, *EXACT, *kill,
                 "test_after_fit=false", f"hydra.run.dir={tmp_path / run_name}"]  # fmt: skip
    return [sys.executable, "-m", "asr_lstm.cli.main", "train", *overrides]


def final_weights(run_dir) -> dict[str, torch.Tensor]:
    """The average (``averaging=ema``) and the training weights of the run's last checkpoint."""
    last = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    return {f"{state}/{k}": v for state in ("state_dict", "current_model_state") for k, v in last[state].items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The weights, summary and directory of the run that is never killed (its kill marker exists)."""
    tmp_path = tmp_path_factory.mktemp("resume")
    (tmp_path / "never").touch()
    kill = ["+callbacks.kill.step=0", f"+callbacks.kill.marker={tmp_path / 'never'}"]
    subprocess.run(train_command(tmp_path, "whole", *kill), check=True, capture_output=True, timeout=300)
    return (
        final_weights(tmp_path / "whole"),
        json.loads((tmp_path / "whole/summary.json").read_text()),
        tmp_path / "whole",
    )


def divergence(whole: dict[str, torch.Tensor], resumed: dict[str, torch.Tensor], run_dirs: dict[str, object]) -> str:
    """What a failed comparison needs for a diagnosis: the tensors that differ and by how much, and the
    losses each run logged, by step (where the two runs part)."""
    differ = [f"{k}: max |diff| {(whole[k] - resumed[k]).abs().max().item():.3g}"
              for k in whole if k in resumed and not torch.equal(whole[k], resumed[k])]  # fmt: skip
    losses = {
        run: {name: series for name, series in read_run_log(run_dir).series.items() if "loss" in name}
        for run, run_dir in run_dirs.items()
    }
    return f"differing tensors: {differ}; keys only in one: {sorted(whole.keys() ^ resumed.keys())}; losses: {losses}"


@pytest.mark.parametrize(
    ("step", "during_write", "resumed_from"),
    [(4, False, "last.ckpt"), (6, False, "in_epoch.ckpt"), (6, True, "in_epoch.ckpt")],
    ids=["at an epoch's start", "inside an epoch", "during a checkpoint write"],
)
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(
    uninterrupted, tmp_path, step, during_write, resumed_from
):
    marker = tmp_path / "killed_once"
    kill = [f"+callbacks.kill.step={step}", f"+callbacks.kill.marker={marker}",
            f"+callbacks.kill.during_write={during_write}"]  # fmt: skip
    killed = subprocess.run(train_command(tmp_path, "killed", *kill), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL and marker.exists(), killed.stderr[-3000:]
    assert (tmp_path / "killed/checkpoints/in_epoch.ckpt.tmp").exists() == during_write
    rerun = subprocess.run(train_command(tmp_path, "killed", *kill), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from {tmp_path / 'killed/checkpoints' / resumed_from}" in rerun.stdout + rerun.stderr
    whole, resumed = uninterrupted[0], final_weights(tmp_path / "killed")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole), divergence(
        whole, resumed, {"uninterrupted": uninterrupted[2], "killed": tmp_path / "killed"}
    )
    summary = json.loads((tmp_path / "killed/summary.json").read_text())
    assert (summary["global_step"], summary["val_per_best"]) == (12, uninterrupted[1]["val_per_best"])


def test_an_interrupted_checkpoint_write_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, path)

    def killed_mid_write(obj, f):
        open(f, "wb").write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1} and list(tmp_path.iterdir()) == [path]


def test_a_damaged_last_checkpoint_is_set_aside_and_the_previous_good_one_used(tiny_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    first = run(tiny_cfg("run", "trainer.max_epochs=1"))
    checkpoints = tmp_path / "run/checkpoints"
    (checkpoints / "last.ckpt").write_bytes((checkpoints / "last.ckpt").read_bytes()[:1000])
    (checkpoints / "best.ckpt.tmp").write_bytes(b"an interrupted write")
    second = run(tiny_cfg("run", "trainer.max_epochs=2"))
    assert (checkpoints / "last.ckpt.corrupt").is_file() and not (checkpoints / "best.ckpt.tmp").exists()
    assert "last.ckpt: truncated or corrupt" in caplog.text and "resuming from" in caplog.text
    assert second["global_step"] == 2 * first["global_step"]  # resumed from best.ckpt, the end of epoch 1
    log = read_run_log(tmp_path / "run")  # the curves of both starts
    assert sorted(log.epoch_ends) == [0, 1] and len(log.restarts) == 1
    assert_picture(tmp_path / "run/curves.png", (8, 7.5))


def test_a_file_that_is_not_a_training_checkpoint_is_named_with_what_it_is(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "good.ckpt")
    (tmp_path / "config.yaml").write_text("cell: lstm\n")
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    (tmp_path / "cut.ckpt").write_bytes((tmp_path / "good.ckpt").read_bytes()[:200])
    expected = {
        "missing.ckpt": "no such file",
        "config.yaml": "not a file torch.save wrote",
        "other.pt": "a torch file without a state_dict",
        "cut.ckpt": "truncated or corrupt: PytorchStreamReader failed reading zip archive",
    }
    for name, what in expected.items():
        with pytest.raises(ValueError) as err:
            checkpoint_state(tmp_path / name)
        assert str(err.value).startswith(f"{tmp_path / name}: not a training checkpoint ({what}")
        assert "\n" not in str(err.value)  # torch's advice on weights_only is not the user's problem
    assert torch.equal(checkpoint_state(tmp_path / "good.ckpt")["w"], torch.ones(2))


def test_a_resume_with_other_options_is_refused_before_anything_is_written(tiny_cfg, tmp_path):
    run(tiny_cfg("run", "trainer.max_epochs=1"))
    before = {name: (tmp_path / "run" / name).read_text() for name in ("config.yaml", "command.txt")}
    with pytest.raises(RunDirError, match=r"other options \(1 differ: model.hidden_size: 16 -> 24\)"):
        run(tiny_cfg("run", "trainer.max_epochs=1", "model.hidden_size=24"))
    assert before == {name: (tmp_path / "run" / name).read_text() for name in before}


def test_a_start_refused_before_its_first_checkpoint_leaves_the_directory_to_corrected_options(tiny_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"model, cell: cell_clip must be positive \(or null for none\), got -3"):
        run(tiny_cfg("run", "trainer.max_epochs=1", "cell.cell_clip=-3"))
    assert (tmp_path / "run/config.yaml").is_file() and not has_trained(tmp_path / "run")
    summary = run(tiny_cfg("run", "trainer.max_epochs=1", "cell.cell_clip=3"))
    assert summary["epochs"] == 1 and OmegaConf.load(tmp_path / "run/config.yaml").cell.cell_clip == 3
    assert has_trained(tmp_path / "run")
    with pytest.raises(RunDirError, match=r"other options \(1 differ: cell.cell_clip: 3 -> 2\)"):
        run(tiny_cfg("run", "trainer.max_epochs=1", "cell.cell_clip=2"))


def test_a_second_training_in_the_same_directory_is_refused(tiny_cfg, tmp_path):
    (tmp_path / "run").mkdir()
    with open(tmp_path / "run/.lock", "w", encoding="utf-8") as held:
        held.write("4242")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(RunDirError, match=r"another training runs in this directory \(pid 4242\)"):
            run(tiny_cfg("run", "trainer.max_epochs=1"))
    assert not (tmp_path / "run/config.yaml").exists()


def test_config_values_of_the_wrong_type_are_refused_before_any_work(tiny_cfg, tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"model.hidden_size=2.5: expected <class 'int'>\n  trainer.max_epochs='abc': expected typing.Optional\[int\]",
    ):
        run(tiny_cfg("run", "trainer.max_epochs=abc", "model.hidden_size=2.5"))
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()


def test_the_in_epoch_checkpoint_takes_one_interval():
    with pytest.raises(ValueError, match="give one of every_minutes and every_n_train_steps"):
        InEpochCheckpoint("ckpts", every_minutes=5, every_n_train_steps=100)
    with pytest.raises(ValueError, match="every_minutes=0 and every_n_train_steps=None must be positive"):
        InEpochCheckpoint("ckpts", every_minutes=0)
