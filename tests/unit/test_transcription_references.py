"""References read from the NAME.gt.txt beside each input file, labelled as a model's training text was."""

from pathlib import Path

from asr_lstm.data.units import Characters, DisplayOrder
from asr_lstm.labelled_scoring import transcription_references

DECOMPOSED = "cafe\u0301 au lait"  # e and a combining acute accent: U+00E9 in NFC


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_references_are_the_characters_of_the_text_in_the_models_form(tmp_path):
    write(tmp_path / "l1.gt.txt", DECOMPOSED + "\n")
    write(
        tmp_path / "010001.gt.txt", "  two   words \n\n"
    )  # the white space of the words, blank lines, as training reads it
    inputs = [("a", tmp_path / "l1.png"), ("b", tmp_path / "010001.bin.png"), ("c", tmp_path / "010001.nrm.png")]
    refs, problems = transcription_references(inputs, Characters("|"), "NFC")
    assert problems == []
    assert refs == {
        "a": ["c", "a", "f", "\u00e9", "|", "a", "u", "|", "l", "a", "i", "t"],
        "b": list("two|words"),
        "c": list("two|words"),
    }
    decomposed, _ = transcription_references(inputs[:1], Characters("|"), "NFD")
    assert decomposed["a"][:5] == ["c", "a", "f", "e", "\u0301"]
    as_held, _ = transcription_references(inputs[:1], Characters("|"), None)
    assert "".join(as_held["a"]) == DECOMPOSED.replace(" ", "|")


def test_references_of_right_to_left_lines_are_in_display_order(tmp_path):
    write(tmp_path / "r.gt.txt", "\u05e9\u05dc\u05d5\u05dd 12\n")  # Hebrew shalom, then a number
    refs, problems = transcription_references([("r", tmp_path / "r.png")], DisplayOrder(Characters("|"), "R"), "NFC")
    assert problems == [] and refs["r"] == ["1", "2", "|", "\u05dd", "\u05d5", "\u05dc", "\u05e9"]


def test_every_input_without_a_usable_reference_is_named(tmp_path):
    write(tmp_path / "empty.gt.txt", "\n")
    write(tmp_path / "two.gt.txt", "one line\nanother\n")
    write(tmp_path / "bar.gt.txt", "a|b\n")
    write(tmp_path / "latin1.gt.txt", "caf\xe9".encode("latin-1"))
    write(tmp_path / "full_width.gt.txt", "a\uff5cb\n")  # NFKC folds it into the word separator
    write(tmp_path / "good.gt.txt", "fine\n")
    names = ["missing.bin.png", "empty.png", "two.png", "bar.png", "latin1.png", "full_width.png", "good.png"]
    refs, problems = transcription_references([(Path(n).stem, tmp_path / n) for n in names], Characters("|"), "NFKC")
    assert refs == {"good": list("fine")}
    assert len(problems) == 6
    assert problems[0] == (
        f"{tmp_path / 'missing.bin.png'}: no .gt.txt beside it (such as missing.gt.txt) holds its reference"
    )
    assert problems[1] == f"{tmp_path / 'empty.gt.txt'}: no transcription"
    assert problems[2] == f"{tmp_path / 'two.gt.txt'}: 2 lines of text; a line image's transcription is one line"
    assert problems[3] == f"{tmp_path / 'bar.gt.txt'}: the word separator '|' inside 'a|b'"
    assert problems[4].startswith(f"{tmp_path / 'latin1.gt.txt'}") and "UTF-8" in problems[4]
    assert problems[5] == f"{tmp_path / 'full_width.gt.txt'}: the word separator '|' inside 'a|b'"
