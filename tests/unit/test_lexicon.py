"""Character lexicons from transcriptions, and their out-of-lexicon rates."""

from collections import Counter

import pytest

from asr_lstm.data.manifest import write_manifest
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.lexicon import character_lexicon, main


def test_words_are_spelled_in_characters_most_frequent_first():
    tokens = ["<blk>", "'", ".", "a", "c", "s", "t", "|"]
    lines, left_out = character_lexicon(
        Counter({"cat": 1, "a": 3, "cats'": 2, ".": 3, "dog": 5, "a|b": 1}), tokens, "|"
    )
    assert lines == [". .", "a a", "cats' c a t s '", "cat c a t"]
    assert left_out == ["dog", "a|b"]  # a character outside the model, the separator inside a word


def test_cli_writes_the_lexicon_and_the_oov_rates(tmp_path, capsys):
    write_manifest([{"id": "l1", "text": "the cat sat ."}, {"id": "l2", "text": "the mat ."}], tmp_path / "train.jsonl")
    write_manifest([{"id": "l3", "text": "the dog sat ."}], tmp_path / "test.jsonl")
    Vocabulary(list(".acehmst|")).save(tmp_path / "tokens.txt")
    (tmp_path / "extra.txt").write_text("a hat\n")
    main(
        [
            "--manifest",
            str(tmp_path / "train.jsonl"),
            "--tokens",
            str(tmp_path / "tokens.txt"),
            "--text",
            str(tmp_path / "extra.txt"),
            "--oov-of",
            str(tmp_path / "test.jsonl"),
            "-o",
            str(tmp_path / "lm/lexicon.txt"),
        ]
    )
    assert (tmp_path / "lm/lexicon.txt").read_text().splitlines() == [
        ". .",
        "the t h e",
        "a a",
        "cat c a t",
        "hat h a t",
        "mat m a t",
        "sat s a t",
    ]
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'lm/lexicon.txt'}: 7 words" in out
    assert "test: 25.0% of 4 running words are not in the lexicon" in out


def test_cli_names_every_missing_input_before_writing(tmp_path, capsys):
    inputs = ["--manifest", str(tmp_path / "a.jsonl"), "--tokens", str(tmp_path / "tokens.txt"), "--text",
              str(tmp_path / "lob.txt"), "--oov-of", str(tmp_path / "test.jsonl")]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main([*inputs, "-o", str(tmp_path / "lexicon.txt")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and not (tmp_path / "lexicon.txt").exists()
    assert all(f"{tmp_path / name}: no such file" in err for name in ("a.jsonl", "tokens.txt", "lob.txt", "test.jsonl"))
