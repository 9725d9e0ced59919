"""The user's text files read as UTF-8: a file in another encoding is named, not a UnicodeDecodeError."""

import pytest

from asr_lstm.errors import InputFileError
from asr_lstm.text_files import numbered_lines, read_utf8


def test_lines_are_numbered_and_split_at_line_feeds_as_kaldi_splits_them(tmp_path):
    path = tmp_path / "text"
    path.write_bytes("a1 d\u00e9j\u00e0 vu\r\n\nb2 x\u2028y\x0cz\nc3 last".encode())
    problems = []
    assert numbered_lines(path, problems) == [
        (1, "a1 d\u00e9j\u00e0 vu"),
        (2, ""),
        (3, "b2 x\u2028y\x0cz"),
        (4, "c3 last"),
    ]
    assert problems == []
    assert read_utf8(path) == "a1 d\u00e9j\u00e0 vu\n\nb2 x\u2028y\x0cz\nc3 last"


def test_a_file_in_another_encoding_is_named_once_with_its_first_bad_line(tmp_path):
    path = tmp_path / "text"
    path.write_bytes("u1 ok\nu2 caf\u00e9\nu3 ok\nu4 na\u00efve\n".encode("latin-1"))
    problems = ["an earlier problem"]
    lines = numbered_lines(path, problems)
    assert [number for number, _ in lines] == [1, 2, 3, 4]
    assert lines[1] == (2, "u2 caf\ufffd")  # kept, so that the rest of the file is still checked
    assert problems == [
        "an earlier problem",
        f"{path}: 2 lines are not UTF-8 (the first: line 2, byte 7 (0xe9)); "
        "convert the file with iconv -f <its encoding> -t UTF-8",
    ]
    with pytest.raises(InputFileError, match=r"text: 2 lines are not UTF-8 \(the first: line 2, byte 7"):
        read_utf8(path)
