import pytest

from asr_lstm.data.tokens import BLANK, Vocabulary


def test_blank_is_zero_and_round_trip(tmp_path):
    vocab = Vocabulary(["aa", "b", "h#"])
    assert vocab.tokens == [BLANK, "aa", "b", "h#"]
    assert vocab.encode(["h#", "aa"]) == [3, 1]
    vocab.save(tmp_path / "tokens.txt")
    assert (tmp_path / "tokens.txt").read_text() == "<blk> 0\naa 1\nb 2\nh# 3\n"
    assert Vocabulary.load(tmp_path / "tokens.txt").tokens == vocab.tokens


def test_refusals(tmp_path):
    with pytest.raises(KeyError, match="label 'zz' is not in the vocabulary"):
        Vocabulary(["aa"]).encode(["zz"])
    with pytest.raises(ValueError, match="reserved"):
        Vocabulary([BLANK])
    (tmp_path / "t.txt").write_text("aa 0\n<blk> 1\n")
    with pytest.raises(ValueError, match="id 0 must be the blank"):
        Vocabulary.load(tmp_path / "t.txt")
