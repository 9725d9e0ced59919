"""The sweep table and RESULTS.md blocks, from run folders written the way training writes them."""

import json

import pytest
from omegaconf import OmegaConf

from asr_lstm.data.manifest import write_manifest
from asr_lstm.report import model_block, protocol_block, results_table, sweep_table


def fake_run(path, cell, dev, test, seconds=120.0, epochs=4, metric="per", seed=1, bidirectional=None, latency=None):
    path.mkdir(parents=True)
    model = {"num_layers": 2, "hidden_size": 8, **({} if bidirectional is None else {"bidirectional": bidirectional})}
    if latency is not None:
        model.update(chunk_frames=latency[0], right_context_frames=latency[1])
    OmegaConf.save(OmegaConf.create({"cell": {"name": cell}, "model": model, "seed": seed}), path / "config.yaml")
    summary = {
        "parameters": 1234567,
        "epochs": epochs,
        "train_time_s": seconds,
        "metric": metric,
        f"val_{metric}_best": dev,
        f"test_{metric}": test,
    }
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def test_sweep_table_sorted_by_dev_per(tmp_path):
    fake_run(tmp_path / "0_cell=lstm", "lstm", 9.5, 10.25)
    fake_run(tmp_path / "1_cell=cifg", "cifg", 8.0, 8.5, seconds=200.0)
    (tmp_path / "2_unfinished").mkdir()
    table = sweep_table(tmp_path)
    assert table[2] == "| cifg | 1 | 8.0 | 8.5 | 1,234,567 | 4 | 50.0 | 1_cell=cifg |"
    assert table[3] == "| lstm | 1 | 9.5 | 10.2 | 1,234,567 | 4 | 30.0 | 0_cell=lstm |"
    assert len(table) == 4


def test_the_model_block_says_whether_the_layers_are_bidirectional_and_latency_controlled(tmp_path):
    runs = [fake_run(tmp_path / name, "lstm", 9.0, 9.5, bidirectional=b) for name, b in (("old", None), ("fwd", False))]
    runs.append(fake_run(tmp_path / "lc", "lstm", 9.0, 9.5, bidirectional=True, latency=(20, 10)))
    rows = model_block(runs)[4:7]
    assert rows[0].startswith("| old | 2 x 8 (bidirectional) |")
    assert rows[1].startswith("| fwd | 2 x 8 (forward-only) |")
    assert rows[2].startswith("| lc | 2 x 8 (bidirectional, latency-controlled 20+10) |")


def test_sweep_table_refuses_an_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run with a summary.json"):
        sweep_table(tmp_path)


def test_results_table_rows(tmp_path):
    run = fake_run(tmp_path / "exp1", "peephole_diag", 9.0, 9.0)
    (run / "decode_test").mkdir()
    metrics = {"metric": "per", "sub": 10, "dels": 5, "ins": 5, "ref_len": 200, "num_utts": 7, "rate": 10.0}
    (run / "decode_test/metrics.json").write_text(json.dumps(metrics))
    assert "| exp1 | peephole_diag | test | 7 | 200 | 5.0 | 2.5 | 2.5 | **10.0** PER |" in results_table([run])


def test_handwriting_rows_cer_wer_and_the_searches(tmp_path):
    run = fake_run(tmp_path / "hw", "lstm", 8.9, 7.9, metric="cer")
    for folder, metric, rate in (
        ("decode_test", "cer", 10.0),
        ("decode_test/wer", "wer", 30.0),
        ("decode_test_beam", "cer", 9.0),
        ("decode_test_lexicon/wer", "wer", 20.0),
    ):
        (run / folder).mkdir(parents=True)
        metrics = {"metric": metric, "sub": int(rate), "dels": 0, "ins": 0, "ref_len": 100, "num_utts": 4, "rate": rate}
        (run / folder / "metrics.json").write_text(json.dumps(metrics))
    table = results_table([run])
    assert "| hw | lstm | test | 4 | 100 | 10.0 | 0.0 | 0.0 | **10.0** CER |" in table
    assert "| hw | lstm | test | 4 | 100 | 30.0 | 0.0 | 0.0 | **30.0** WER |" in table
    assert "| hw | lstm | test, beam + LM | 4 | 100 | 9.0 | 0.0 | 0.0 | **9.0** CER |" in table
    assert "| hw | lstm | test, lexicon + word LM | 4 | 100 | 20.0 | 0.0 | 0.0 | **20.0** WER |" in table
    assert model_block([run])[4].endswith("| 8.9 CER |")
    assert sweep_table(tmp_path)[0].startswith("| cell | seed | dev CER | test CER |")
    fake_run(tmp_path / "speech", "lstm", 20.0, 21.0)
    with pytest.raises(ValueError, match=r"different metrics \['cer', 'per'\]"):
        sweep_table(tmp_path)


def test_protocol_counts_lines_and_writers_or_hours_and_speakers(tmp_path):
    write_manifest(
        [{"id": "l1", "writer": "000"}, {"id": "l2", "writer": "000"}, {"id": "l3", "writer": "001"}],
        tmp_path / "train.jsonl",
    )
    write_manifest(
        [
            {"id": "u1", "audio": "u1.wav", "speaker": "s1", "duration": 1800.0},
            {"id": "u2", "audio": "u2.wav", "speaker": "s2", "duration": 1800.0},
        ],
        tmp_path / "test.jsonl",
    )
    write_manifest(
        [{"id": "o1", "strokes": "o1.xml", "writer": "w", "duration": 12.5}], tmp_path / "dev.jsonl"
    )  # pen strokes last too
    block = protocol_block(tmp_path, "a corpus", ["labels: characters"])
    assert block == [
        "## Protocol",
        "",
        "- corpus: a corpus",
        "- train: 3 lines, 2 writers",
        "- dev: 1 lines, 1 writers",
        "- test: 2 utterances, 2 speakers, 1.00 h",
        "- labels: characters",
        "",
    ]


def test_protocol_counts_no_writers_where_the_corpus_records_none(tmp_path):
    write_manifest([{"id": "d-000000", "image": "0.png"}, {"id": "d-000001", "image": "1.png"}], tmp_path / "dev.jsonl")
    assert protocol_block(tmp_path, "kraken datasets")[3] == "- dev: 2 lines"


def test_git_commit_is_modified_by_code_but_not_by_reports(tmp_path):
    import subprocess

    from asr_lstm.report import git_commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "recipes/x").mkdir(parents=True)
    (tmp_path / "recipes/x/RESULTS.md").write_text("old\n")
    (tmp_path / "code.py").write_text("a = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    where = tmp_path / "recipes/x"
    assert not git_commit(where).endswith("(modified)")
    (where / "RESULTS.md").write_text("regenerated\n")
    assert not git_commit(where).endswith("(modified)")
    (tmp_path / "code.py").write_text("a = 2\n")  # outside the recipe folder, still the code that ran
    assert git_commit(where).endswith(" (modified)")


def test_report_names_every_run_it_cannot_report_before_writing(tmp_path, capsys):
    from asr_lstm.cli.report import main as report_main

    done = fake_run(tmp_path / "done", "lstm", 20.0, 21.0)
    stopped = tmp_path / "stopped"  # a training that stopped before its summary
    stopped.mkdir()
    OmegaConf.save(OmegaConf.create({"cell": {"name": "lstm"}}), stopped / "config.yaml")
    with pytest.raises(SystemExit) as exit_info:
        report_main([str(done), str(stopped), str(tmp_path / "gone"), "--data-dir", str(tmp_path), "--out",
                     str(tmp_path / "RESULTS.md")])  # fmt: skip
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and str(done) + ":" not in err
    assert f"{stopped}: not a finished training run (no summary.json)" in err
    assert f"{tmp_path / 'gone'}: no such run directory" in err
    assert not (tmp_path / "RESULTS.md").exists()
