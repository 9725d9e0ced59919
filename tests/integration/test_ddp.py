"""Two DDP processes on the CPU (gloo), launched by Lightning from one `asr-lstm train`: the same
weights in both afterwards, and validation and test error counts that equal a single process's on
the same model and data, each utterance counted once; the model is the weight average
(`averaging=ema`) that each process keeps."""

import json
import subprocess
import sys

import pytest
import torch

from asr_lstm.cli.evaluate import main as evaluate_main
from asr_lstm.data.sampler import BucketBatchSampler
from tests.conftest import FAST
from tests.timit_fixture import write_timit_tree


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_process_gets_a_disjoint_share_of_the_batches(shuffle):
    lengths = [5, 9, 2, 7, 7, 3, 8, 1, 6, 4, 5]  # 11 utterances in 6 batches of 2: not divisible by 4
    shares = [list(BucketBatchSampler(lengths, 2, shuffle=shuffle, seed=3, num_replicas=4, rank=r)) for r in range(4)]
    everyone = BucketBatchSampler(lengths, 2, shuffle=shuffle, seed=3)
    indices = [i for share in shares for batch in share for i in batch]
    assert len(indices) == len(set(indices))  # disjoint
    if shuffle:  # training: the same number of steps in every process
        assert {len(s) for s in shares} == {1} and all(b in list(everyone) for s in shares for b in s)
    else:  # evaluation: every utterance exactly once
        assert sorted(indices) == list(range(11)) and [len(s) for s in shares] == [2, 2, 1, 1]
    with pytest.raises(ValueError, match="rank 4 is not one of the 4 processes"):
        BucketBatchSampler(lengths, 2, num_replicas=4, rank=4)


def test_fewer_evaluation_batches_than_processes_are_split_into_utterances():
    shares = [list(BucketBatchSampler([4, 5, 6], 8, shuffle=False, num_replicas=3, rank=r)) for r in range(3)]
    assert sorted(i for share in shares for batch in share for i in batch) == [0, 1, 2] and all(shares)
    with pytest.raises(ValueError, match="2 utterances cannot be shared by 3 processes"):
        list(BucketBatchSampler([4, 5], 8, shuffle=False, num_replicas=3, rank=0))


def test_two_ddp_processes_train_the_same_weights_and_count_exactly(tmp_path):
    root = write_timit_tree(tmp_path / "TIMIT")
    run_dir = tmp_path / "run"
    overrides = [f"data.corpus.root={root}", f"data.work_dir={tmp_path / 'data'}", *FAST, "trainer=ddp",
                 "trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}",
                 "averaging=ema", "averaging.decay=0.5",
                 "+callbacks.probe._target_=tests.integration.ddp_probe.SaveWeightsPerProcess",
                 f"+callbacks.probe.folder={tmp_path / 'weights'}"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "asr_lstm.cli.main", "train", *overrides], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"weights/rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() and all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == 2  # 4 training utterances, batches of 2, shared by 2 processes
    for split, checkpoint, counts in (("test", "best", summary["test_counts"]), ("dev", "last", summary["val_counts"])):
        evaluate_main([str(run_dir), "--splits", split, "--checkpoint", checkpoint, "--device", "cpu"])
        single = json.loads((run_dir / f"decode_{split}/metrics.json").read_text())
        assert counts["tokens"] == [single["errors"], single["ref_len"]], split
