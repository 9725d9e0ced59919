"""The ``asr-lstm`` dispatcher, the score command, and what decode and evaluate refuse before any work."""

import json

import pytest

from asr_lstm.cli import decode as decode_cli
from asr_lstm.cli import evaluate as evaluate_cli
from asr_lstm.cli import main as cli
from asr_lstm.cli import score as score_cli


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("train", "decode", "score", "prepare", "report"))


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["trian"])
    assert exit_info.value.code == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_decode_refuses_every_output_it_cannot_write_before_reading_the_model(tmp_path, capsys):
    (tmp_path / "afile").write_text("kept")
    outputs = ["-o", str(tmp_path), "--align", str(tmp_path / "afile/sub/x.ctm"), "--plot", str(tmp_path / "afile")]
    with pytest.raises(SystemExit) as exit_info:
        decode_cli.main([str(tmp_path / "missing.asrlstm"), "x.wav", *outputs])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "missing.asrlstm" not in err  # refused before the model was read
    assert f"{tmp_path}: a folder, not a file to write" in err
    assert f"{tmp_path / 'afile/sub/x.ctm'}: {tmp_path / 'afile'} is a file, not a folder" in err
    assert f"{tmp_path / 'afile'}: {tmp_path / 'afile'} is a file, not a folder" in err
    assert (tmp_path / "afile").read_text() == "kept"


@pytest.mark.parametrize(
    ("main", "option"),
    [(decode_cli.main, "--batch-size"), (decode_cli.main, "--beam-size"), (evaluate_cli.main, "--batch-size")],
    ids=["decode batch", "decode beam", "evaluate batch"],
)
@pytest.mark.parametrize(("value", "message"), [("0", "must be at least 1, got 0"), ("x", "'x' is not a whole number")])
def test_batch_and_beam_sizes_are_whole_numbers_of_at_least_one(main, option, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "model_or_run"), "x.wav", option, value])
    assert exit_info.value.code == 2 and f"argument {option}: {message}" in capsys.readouterr().err


def test_score_command_prints_the_summary(tmp_path, capsys):
    (tmp_path / "ref.txt").write_text("u1\taa b c\n")
    (tmp_path / "hyp.txt").write_text("u1\taa c\n")
    score_cli.main(
        [str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--out", str(tmp_path / "s"), "--folding", "none"]
    )
    assert capsys.readouterr().out.strip() == "%PER 33.33 [ 1 / 3, 0 ins, 1 del, 0 sub ]"
    assert (tmp_path / "s/errs.txt").is_file()


def test_score_command_scores_words_and_checks_counts(tmp_path, capsys):
    (tmp_path / "ref.txt").write_text("l1\tt h e | c a t\n")
    (tmp_path / "hyp.txt").write_text("l1\tt h e | c o t\n")
    args = [str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--folding", "none", "--metric", "cer"]
    score_cli.main([*args, "--out", str(tmp_path / "a"), "--word-separator", "|"])
    assert capsys.readouterr().out.splitlines() == [
        "%CER 14.29 [ 1 / 7, 0 ins, 0 del, 1 sub ]",
        "%WER 50.00 [ 1 / 2, 0 ins, 0 del, 1 sub ]",
    ]
    assert json.loads((tmp_path / "a/wer/metrics.json").read_text())["metric"] == "wer"
    same_as = [str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--same-as", str(tmp_path / "a/metrics.json")]
    score_cli.main([*same_as, "--out", str(tmp_path / "b")])  # metric and folding of a/metrics.json
    assert capsys.readouterr().out.splitlines() == [
        "%CER 14.29 [ 1 / 7, 0 ins, 0 del, 1 sub ]",
        f"same error counts as {tmp_path / 'a/metrics.json'}",
    ]
    assert json.loads((tmp_path / "b/metrics.json").read_text())["folding"] is None
    score_cli.main(
        [*same_as, "--out", str(tmp_path / "w"), "--word-separator", "|"]
    )  # the check compares CER, not the WER
    assert capsys.readouterr().out.splitlines()[-1] == f"same error counts as {tmp_path / 'a/metrics.json'}"
    (tmp_path / "hyp.txt").write_text("l1\tt h e | c a t\n")
    with pytest.raises(SystemExit) as exit_info:
        score_cli.main([*same_as, "--out", str(tmp_path / "c")])
    assert exit_info.value.code == 1
    assert "counts [0, 0, 0, 7, 1] differ from [1, 0, 0, 7, 1]" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, message",
    [
        (["--folding", "39"], "--folding 39 differs from {}'s none"),
        (["--metric", "per"], "--metric per differs from {}'s cer"),
    ],
)
def test_score_refuses_other_scoring_than_the_same_as_file(tmp_path, capsys, option, message):
    (tmp_path / "ref.txt").write_text("l1\ta b\n")
    (tmp_path / "hyp.txt").write_text("l1\ta b\n")
    args = [str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--out", str(tmp_path / "a")]
    score_cli.main([*args, "--folding", "none", "--metric", "cer"])
    with pytest.raises(SystemExit) as exit_info:
        score_cli.main([*args, *option, "--same-as", str(tmp_path / "a/metrics.json")])
    assert exit_info.value.code == 2
    assert message.format(tmp_path / "a/metrics.json") in capsys.readouterr().err


def test_score_names_every_missing_file_and_every_bad_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        score_cli.main([str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--same-as", str(tmp_path / "m.json")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert all(f"{tmp_path / name}: no such file" in err for name in ("ref.txt", "hyp.txt", "m.json"))
    (tmp_path / "ref.txt").write_text("a\tx y\nb\tz\na\tz\n\tq\nb\tx\n")
    (tmp_path / "hyp.txt").write_text("a\tx y\n")
    with pytest.raises(SystemExit) as exit_info:
        score_cli.main([str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--out", str(tmp_path / "s")])
    ref = tmp_path / "ref.txt"
    assert exit_info.value.code == 2 and capsys.readouterr().err.splitlines() == [
        f"asr-lstm score: {ref}:3: utterance 'a' appears twice (first on line 1)",
        f"{ref}:4: no utterance id before the tab",
        f"{ref}:5: utterance 'b' appears twice (first on line 2)",
    ]
    assert not (tmp_path / "s").exists()
    (tmp_path / "ref.txt").write_text("a\tthe cat\nb\tsat on it\n")
    (tmp_path / "hyp.txt").write_text("a\tthe cat\nb\tsat\n")
    with pytest.raises(SystemExit) as exit_info:  # words scored with the default TIMIT folding
        score_cli.main([str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--out", str(tmp_path / "s")])
    assert exit_info.value.code == 2 and capsys.readouterr().err.splitlines() == [
        f"asr-lstm score: {ref}: 5 tokens that are not TIMIT phones ('cat', 'it', 'on', 'sat', 'the'), which "
        "TIMIT's folding 39 maps: score other tokens without folding (asr-lstm score --folding none)",
        f"{tmp_path / 'hyp.txt'}: 3 tokens that are not TIMIT phones ('cat', 'sat', 'the'), which "
        "TIMIT's folding 39 maps: score other tokens without folding (asr-lstm score --folding none)",
    ]
    score_cli.main(
        [str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt"), "--folding", "none", "--out", str(tmp_path / "s")]
    )
    assert capsys.readouterr().out.startswith("%PER 40.00 [ 2 / 5, 0 ins, 2 del, 0 sub ]")
    (tmp_path / "ref.txt").write_text("a\tx y\n")
    (tmp_path / "hyp.txt").write_bytes("a\tx \u00ff\n".encode("latin-1"))
    with pytest.raises(SystemExit) as exit_info:
        score_cli.main([str(tmp_path / "ref.txt"), str(tmp_path / "hyp.txt")])
    assert exit_info.value.code == 2 and capsys.readouterr().err.splitlines() == [
        f"asr-lstm score: {tmp_path / 'hyp.txt'}: 1 line is not UTF-8 (the first: line 1, byte 5 (0xff)); "
        "convert the file with iconv -f <its encoding> -t UTF-8"
    ]
