"""The sweep table and RESULTS.md blocks, from run folders written the way training writes them."""

import json

import pytest
from omegaconf import OmegaConf

from asr_lstm.report import results_table, sweep_table


def fake_run(path, cell, dev, test, seconds=120.0, epochs=4):
    path.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"cell": {"name": cell}, "model": {"num_layers": 2, "hidden_size": 8}}), path / "config.yaml")
    summary = {"parameters": 1234567, "epochs": epochs, "train_time_s": seconds, "val_per_best": dev, "test_per": test}
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def test_sweep_table_sorted_by_dev_per(tmp_path):
    fake_run(tmp_path / "0_cell=lstm", "lstm", 9.5, 10.25)
    fake_run(tmp_path / "1_cell=cifg", "cifg", 8.0, 8.5, seconds=200.0)
    (tmp_path / "2_unfinished").mkdir()
    table = sweep_table(tmp_path)
    assert table[2] == "| cifg | 8.0 | 8.5 | 1,234,567 | 4 | 50.0 | 1_cell=cifg |"
    assert table[3] == "| lstm | 9.5 | 10.2 | 1,234,567 | 4 | 30.0 | 0_cell=lstm |"
    assert len(table) == 4


def test_sweep_table_refuses_an_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run with a summary.json"):
        sweep_table(tmp_path)


def test_results_table_rows(tmp_path):
    run = fake_run(tmp_path / "exp1", "peephole_diag", 9.0, 9.0)
    (run / "decode_test").mkdir()
    metrics = {"metric": "per", "sub": 10, "dels": 5, "ins": 5, "ref_len": 200, "num_utts": 7, "rate": 10.0}
    (run / "decode_test/metrics.json").write_text(json.dumps(metrics))
    assert "| exp1 | peephole_diag | test | 7 | 200 | 5.0 | 2.5 | 2.5 | **10.0** PER |" in results_table([run])
