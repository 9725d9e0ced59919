"""Training curves across restarts, confusion matrices whose counts are the scoring's, and the
RESULTS.md sections that show them."""

import json
from collections import Counter

import pytest

from asr_lstm.cli.report import main as report_main
from asr_lstm.metrics import align, count_errors
from asr_lstm.pictures.confusion import GAP, confusion_matrix, draw_confusion, read_confusions, top_errors
from asr_lstm.pictures.curves import draw_curves, read_run_log
from asr_lstm.scoring import score
from tests.pictures import assert_picture

HEADER = "epoch,lr-Adam,step,train/loss,val/loss,val/per,val/per_best\n"


def write_resumed_run_logs(run_dir):
    """A run of 5 epochs of 4 steps killed inside epoch 4 (steps 13-14 logged, checkpoint at step 12)
    and resumed: two CSV versions whose steps overlap."""
    first = [",0.002,0,,,,"] + [
        f"{e},,{4 * e + 3},{50 - 5 * e},{60 - 5 * e},{90 - 10 * e},{90 - 10 * e}" for e in range(3)
    ]
    first += ["3,,13,99.0,,,"]  # logged before the kill, then trained again after the resume
    second = ["3,,13,34.0,,,"] + [f"{e},,{4 * e + 3},{50 - 5 * e},{60 - 5 * e},{90 - 10 * e},{60}" for e in (3, 4)]
    for version, rows in (("version_0", first), ("version_1", second)):
        path = run_dir / "csv" / version / "metrics.csv"
        path.parent.mkdir(parents=True)
        path.write_text(HEADER + "\n".join(rows) + "\n")


def test_curves_span_every_epoch_of_a_resumed_run(tmp_path):
    write_resumed_run_logs(tmp_path)
    log = read_run_log(tmp_path)
    assert log.epoch_ends == {0: 3, 1: 7, 2: 11, 3: 15, 4: 19} and log.restarts == [13]
    assert log.series["train/loss"][13] == 34.0  # the resumed run's value of a step logged twice
    assert sorted(log.series["val/per"]) == [3, 7, 11, 15, 19]
    assert_picture(draw_curves(tmp_path), (8, 7.5))


def test_report_without_a_data_dir_draws_the_curves_again(tmp_path, capsys):
    write_resumed_run_logs(tmp_path / "run")
    report_main([str(tmp_path / "run")])
    assert_picture(tmp_path / "run/curves.png", (8, 7.5))
    assert f"wrote {tmp_path / 'run/curves.png'}" in capsys.readouterr().out


def test_the_confusion_matrix_holds_the_scorings_substitutions_deletions_and_insertions(tmp_path):
    refs = {"u1": "a b c d", "u2": "a a b", "u3": "c d", "u4": "a b"}
    hyps = {"u1": "a c c d", "u2": "a a b d d", "u3": "d d", "u4": "a"}
    (tmp_path / "ref.txt").write_text("".join(f"{u}\t{t}\n" for u, t in refs.items()))
    (tmp_path / "hyp.txt").write_text("".join(f"{u}\t{t}\n" for u, t in hyps.items()))
    total = score(tmp_path / "ref.txt", tmp_path / "hyp.txt", tmp_path, folding=None, metric="cer")
    pairs = read_confusions(tmp_path / "confusions.json")
    expected = Counter(p for u in refs for p in align(refs[u].split(), hyps[u].split()))
    assert pairs == expected
    labels, counts = confusion_matrix(pairs)
    assert labels == ["a", "b", "c", "d", GAP]
    diagonal = sum(counts[k, k] for k in range(4))
    assert counts[:4, :4].sum() - diagonal == total.sub
    assert counts[:4, 4].sum() == total.dels and counts[4, :4].sum() == total.ins and counts[4, 4] == 0
    assert (total.sub, total.dels, total.ins) == (2, 1, 2)
    assert sum(count_errors(align(refs[u].split(), hyps[u].split())).ref_len for u in refs) == counts[:4].sum()
    assert top_errors(pairs) == {"substitution": [("b -> c", 1), ("c -> d", 1)], "deletion": [("b", 1)],
                                 "insertion": [("d", 2)]}  # fmt: skip
    assert_picture(draw_confusion(pairs, tmp_path / "confusion.png", "test"), (3.8, 3.8))


def test_a_large_label_set_is_drawn_with_its_most_frequent_labels_and_the_rest_pooled(tmp_path):
    from asr_lstm.pictures.confusion import MAX_LABELS, OTHER, pooled

    pairs = Counter({(f"p{k}", f"p{k}"): 1000 - k for k in range(300)})
    pairs[("p299", "p0")] += 3
    pairs[(None, "p298")] += 2
    kept = pooled(pairs, MAX_LABELS)
    labels, counts = confusion_matrix(kept)
    assert len(labels) == MAX_LABELS + 2 and OTHER in labels and labels[-1] == GAP and "p79" in labels
    assert kept[(OTHER, "p0")] == 3 and kept[(None, OTHER)] == 2 and sum(kept.values()) == sum(pairs.values())
    assert pooled(Counter({("a", "b"): 1}), MAX_LABELS) == Counter({("a", "b"): 1})
    path = draw_confusion(pairs, tmp_path / "confusion.png", "300 pieces")
    assert path.stat().st_size < 200_000


def test_results_show_the_most_frequent_errors_and_link_the_pictures(tmp_path):
    run = tmp_path / "exp/run"
    write_resumed_run_logs(run)
    (run / "decode_test").mkdir()
    confusions = {
        "metric": "per",
        "folding": None,
        "pairs": [["a", "a", 9], ["a", "b", 3], ["b", None, 2], [None, "c", 1]],
    }
    (run / "decode_test/confusions.json").write_text(json.dumps(confusions))
    confidence = {"temperature": 1.5, "mean": 0.8, "mean_accuracy": 0.75, "pearson_with_accuracy": 0.5}
    (run / "decode_test/metrics.json").write_text(json.dumps({"metric": "per", "sub": 3, "dels": 2, "ins": 1,
                                                              "ref_len": 14, "num_utts": 2, "rate": 42.9,
                                                              "confidence": confidence}))  # fmt: skip
    draw_confusion(read_confusions(run / "decode_test/confusions.json"), run / "decode_test/confusion.png", "t")
    (run / "config.yaml").write_text("cell: {name: lstm}\nmodel: {num_layers: 1, hidden_size: 8}\n")
    (run / "command.txt").write_text("asr-lstm train\n")
    summary = {"metric": "per", "train_time_s": 60, "epochs": 5, "parameters": 10, "val_per_best": 60.0, "skipped": {}}
    (run / "summary.json").write_text(json.dumps(summary))
    report_main([str(run), "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "RESULTS.md")])
    results = (tmp_path / "RESULTS.md").read_text()
    assert "| 1 | `a -> b` | 3 | `b` | 2 | `c` | 1 |" in results
    assert "| run | test | 1.500 | 0.800 | 0.750 | 0.500 |" in results
    assert "![run training curves](pictures/run_curves.png)" in results
    assert "![run test confusions (greedy)](pictures/run_test_confusion.png)" in results
    assert_picture(tmp_path / "pictures/run_curves.png", (8, 7.5))
    assert (tmp_path / "pictures/run_test_confusion.png").stat().st_size < 200_000


def test_the_sweep_figure_has_a_row_per_cell_over_its_seeds(tmp_path, capsys):
    from scripts.collect_sweep import main as collect_main
    from tests.unit.test_report import fake_run

    for k, (cell, dev) in enumerate([("lstm", 8.0), ("lstm", 8.4), ("lstm", 7.9), ("peephole", 80.0), ("gru", 9.0)]):
        fake_run(tmp_path / f"sweep/{k}_{cell}", cell, dev, dev + 0.5, seed=k)
    collect_main([str(tmp_path / "sweep"), "--figure", str(tmp_path / "sweep.png")])
    out = capsys.readouterr().out
    assert out.splitlines()[2].startswith("| lstm | 2 | 7.9 |") and f"wrote {tmp_path / 'sweep.png'}" in out
    assert_picture(tmp_path / "sweep.png", (12, 0.9 + 0.38 * 3))
    with pytest.raises(SystemExit):
        collect_main([str(tmp_path / "nothing")])
    assert "nothing: no run with a summary.json below it" in capsys.readouterr().err


def test_a_kept_sweep_redraws_the_same_table_without_its_checkpoints(tmp_path, capsys):
    from scripts.collect_sweep import main as collect_main
    from tests.unit.test_report import fake_run

    for k, (cell, dev) in enumerate([("lstm", 8.0), ("gru", 9.0)]):
        run = fake_run(tmp_path / f"sweep/seed{k}/{k}_{cell}", cell, dev, dev + 0.5, seed=k)
        (run / "checkpoints").mkdir(exist_ok=True)
        (run / "checkpoints" / "best.ckpt").write_bytes(b"weights")
    collect_main([str(tmp_path / "sweep"), "--keep", str(tmp_path / "kept")])
    table = capsys.readouterr().out
    assert "kept the records of 2 runs below" in table
    assert sorted(p.relative_to(tmp_path / "kept").as_posix() for p in (tmp_path / "kept").rglob("*.*")) == [
        "seed0/0_lstm/config.yaml", "seed0/0_lstm/summary.json", "seed1/1_gru/config.yaml", "seed1/1_gru/summary.json",
    ]  # fmt: skip
    collect_main([str(tmp_path / "kept")])
    assert capsys.readouterr().out == table.split("kept the records")[0]
