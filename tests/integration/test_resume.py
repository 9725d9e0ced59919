"""Surviving a kill: a SIGKILLed training rerun with the same command ends with the weights of an
uninterrupted run, bit for bit; checkpoints are written atomically; a damaged last.ckpt is set aside;
a run directory refuses a second training and a resume with other options, before writing anything;
config values of the wrong type are refused before any work."""

import fcntl
import logging
import signal
import subprocess
import sys
import time

import pytest
import torch

from asr_lstm.checkpoints import AtomicCheckpointIO
from asr_lstm.cli.run_dir import RunDirError
from asr_lstm.cli.train import run
from tests.conftest import FAST
from tests.timit_fixture import write_timit_tree

# dropout and SpecAugment draw random numbers every batch: a resume that replayed other draws differs
EXACT = ["model.dropout=0.3", "augment=specaugment", "trainer.max_epochs=4", "seed=7"]


def train_command(tmp_path, run_name: str) -> list[str]:
    root = tmp_path / "TIMIT"
    if not root.exists():
        write_timit_tree(root)
    overrides = [f"data.corpus.root={root}", f"data.work_dir={tmp_path / 'data'}", *FAST, *EXACT,
                 "test_after_fit=false", f"hydra.run.dir={tmp_path / run_name}"]  # fmt: skip
    return [sys.executable, "-m", "asr_lstm.cli.main", "train", *overrides]


def final_weights(run_dir) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["state_dict"]


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    subprocess.run(train_command(tmp_path, "whole"), check=True, capture_output=True, timeout=300)
    killed = subprocess.Popen(train_command(tmp_path, "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed/checkpoints/last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch, or a checkpoint write
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    rerun = subprocess.run(train_command(tmp_path, "killed"), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming from" in rerun.stdout + rerun.stderr
    whole, resumed = final_weights(tmp_path / "whole"), final_weights(tmp_path / "killed")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)


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


def test_a_resume_with_other_options_is_refused_before_anything_is_written(tiny_cfg, tmp_path):
    run(tiny_cfg("run", "trainer.max_epochs=1"))
    before = {name: (tmp_path / "run" / name).read_text() for name in ("config.yaml", "command.txt")}
    with pytest.raises(RunDirError, match=r"other options \(1 differ: model.hidden_size: 16 -> 24\)"):
        run(tiny_cfg("run", "trainer.max_epochs=1", "model.hidden_size=24"))
    assert before == {name: (tmp_path / "run" / name).read_text() for name in before}


def test_a_second_training_in_the_same_directory_is_refused(tiny_cfg, tmp_path):
    (tmp_path / "run").mkdir()
    with open(tmp_path / "run/.lock", "w") as held:
        held.write("4242")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(RunDirError, match=r"another training runs in this directory \(pid 4242\)"):
            run(tiny_cfg("run", "trainer.max_epochs=1"))
    assert not (tmp_path / "run/config.yaml").exists()


def test_config_values_of_the_wrong_type_are_refused_before_any_work(tiny_cfg, tmp_path):
    with pytest.raises(
        ValueError,
        match=r"model.hidden_size=2.5: expected <class 'int'>\n  trainer.max_epochs='abc': expected typing.Optional\[int\]",
    ):
        run(tiny_cfg("run", "trainer.max_epochs=abc", "model.hidden_size=2.5"))
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
