"""Right-to-left lines: labels in display order by the Unicode Bidirectional Algorithm, read back in
logical order; the units, the corpus preparation, the lexicon and the LM that follow it."""

import argparse
import json
import logging
from pathlib import Path

import pytest

from asr_lstm.data.bidi import base_argument, base_problem, display_order, display_words, logical_order
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.line_folder import LineFolder
from asr_lstm.data.corpora.line_folder import main as prepare_lines
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.units import (
    Characters,
    DisplayOrder,
    Labelling,
    SentencePieces,
    label_order_of,
    units_from_state,
)
from tests.line_folder_fixture import write_line, write_line_folder

SHALOM, OLAM = "שלום", "עולם"  # Hebrew: "peace", "world"

# (logical order, paragraph direction, display order): right-to-left runs reversed, numbers and Latin
# words left to right inside them, brackets mirrored, neutrals at a line's ends in its direction.
LAYOUTS = [
    (f"{SHALOM} {OLAM}", "R", "םלוע םולש"),
    ("שנת 1948 היתה", "R", "התיה 1948 תנש"),
    (f"({SHALOM}) {OLAM}.", "R", ".םלוע (םולש)"),
    (f"{SHALOM} abc def {OLAM}", "R", "םלוע abc def םולש"),
    ("ابجد 12 هوز.", "R", ".زوه 12 دجبا"),
    (f"abc {SHALOM}", "L", "abc םולש"),
    (f"abc {SHALOM}.", "L", "abc םולש."),
    (f"{SHALOM}.", "auto", ".םולש"),
    ("abc.", "auto", "abc."),
]


@pytest.mark.parametrize(("logical", "base", "display"), LAYOUTS)
def test_a_line_is_laid_out_as_the_unicode_bidirectional_algorithm_says_and_read_back(logical, base, display):
    assert display_order(logical, base) == display
    assert logical_order(display, base) == logical


def test_auto_reads_an_ambiguous_line_in_the_direction_of_most_of_its_strong_characters():
    # both lines lay out as "abc םולש": read back as the Hebrew line (4 right-to-left letters, 3 Latin)
    assert display_order(f"abc {SHALOM}", "auto") == display_order(f"{SHALOM} abc", "auto") == "abc םולש"
    assert logical_order("abc םולש", "auto") == f"{SHALOM} abc"
    assert logical_order("abcd םולש", "auto") == f"abcd {SHALOM}"  # a tie: left to right
    # only a right-to-left reading lays out as this line, though most of its letters are Latin
    assert display_order("1 ום abcde", "auto") == "abcde םו 1"
    assert logical_order("abcde םו 1", "auto") == "1 ום abcde"


def test_directional_formatting_characters_place_the_others_and_are_not_labels():
    rli, fsi, pdi, rle, pdf, rlm = "\u2067", "\u2068", "\u2069", "\u202b", "\u202c", "\u200f"
    # an isolate laid out as the embedding it extends: the Hebrew word and "abc" right to left
    assert display_order(f"{rli}{SHALOM} abc{pdi} def", "L") == "abc םולש def"
    assert display_order(f"{fsi}{SHALOM} abc{pdi} def", "L") == "abc םולש def"  # first strong: Hebrew
    assert display_order(f"{fsi}abc {SHALOM}{pdi} def", "L") == "abc םולש def"  # first strong: Latin
    assert display_order(f"{rle}{SHALOM} abc{pdf}", "L") == "abc םולש"
    assert display_order(f"abc {rlm}{SHALOM}", "R") == "םולש abc"  # the mark is strong, then dropped
    assert DisplayOrder(Characters(), "R").labels(["abc", f"{rlm}{SHALOM}"]) == list("םולש|abc")


def test_where_the_layout_is_ambiguous_the_reading_back_lays_out_as_the_hypothesis():
    # a number next to a Latin word inside right-to-left text: two logical orders share a layout
    logical = f"{SHALOM} 250! abc {OLAM}"
    display = display_order(logical, "R")
    read = logical_order(display, "R")
    assert read != logical and sorted(read) == sorted(logical)
    assert display_order(read, "R") == display


def test_an_unknown_direction_is_refused_naming_the_choices():
    assert base_problem("R") is None and base_problem(None) is None
    assert base_problem("rtl") == "data.bidi=rtl must be one of L, R, auto or null (labels in logical order)"
    assert base_argument("none") is None and base_argument("auto") == "auto"
    with pytest.raises(argparse.ArgumentTypeError, match="'rtl' is not one of L, R, auto, none"):
        base_argument("rtl")


def test_display_ordered_characters_label_a_line_as_laid_out_and_give_its_words_back_in_reading_order():
    units = DisplayOrder(Characters(), "R")
    labels = units.labels([SHALOM, OLAM])
    assert labels == list("םלוע|םולש")
    assert units.words(labels) == [SHALOM, OLAM] and units.displayed_words(labels) == ["םלוע", "םולש"]
    assert units.label_order([SHALOM, "12", OLAM]) == ["םלוע", "12", "םולש"]
    assert units.reading_order(["םלוע", "12", "םולש"]) == [SHALOM, "12", OLAM]
    assert (units.kind, units.metric, units.separator) == ("char", "cer", "|")
    assert Characters().label_order([SHALOM, OLAM]) == [SHALOM, OLAM]  # without data.bidi: as written
    rebuilt = units_from_state(json.loads(json.dumps(units.state())))
    assert (
        isinstance(rebuilt, DisplayOrder) and rebuilt.display_order == "R" and rebuilt.words(labels) == [SHALOM, OLAM]
    )
    assert units.params() == {"kind": "char", "separator": "|", "display_order": "R"}


def test_display_ordered_subwords_are_trained_on_the_laid_out_text_and_saved_with_their_model(tmp_path):
    sentences = [[SHALOM, OLAM], ["שנת", "1948", "היתה"], [OLAM, SHALOM, "abc"]] * 20
    units = DisplayOrder(SentencePieces("unigram", vocab_size=18), "R")
    units.fit(sentences)
    pieces = units.labels([SHALOM, OLAM])
    assert "".join(pieces).replace("\u2581", " ").strip() == "םלוע םולש"
    assert units.words(pieces) == [SHALOM, OLAM]
    Labelling("units", units.metric, units.token_metric, None, units).save(tmp_path)
    assert (tmp_path / "units.model").is_file()
    loaded = Labelling.load(tmp_path).units
    assert isinstance(loaded, DisplayOrder) and loaded.labels([SHALOM, OLAM]) == pieces


def hebrew_folder(root: Path) -> Path:
    """Nine Hebrew lines in three folders, the first of each with a number."""
    texts = [f"{SHALOM} {OLAM}", f"{OLAM} 1948", f"({SHALOM})"]
    for f in range(3):
        for k, text in enumerate(texts):
            write_line(root / f"book{f}", f"{k:04d}", text)
    return root


def prepared(out: Path) -> list[dict]:
    return [
        json.loads(line) for s in ("train", "dev", "test") for line in (out / f"{s}.jsonl").read_text().splitlines()
    ]


def test_a_corpus_prepared_with_a_direction_labels_each_line_in_display_order(tmp_path):
    corpus = LineFolder(hebrew_folder(tmp_path / "lines"), fractions=[0.34, 0.33, 0.33], group_by="folder")
    corpus.prepare(tmp_path / "data", bidi="R")
    rows = {row["text"]: row for row in prepared(tmp_path / "data")}
    assert rows[f"{OLAM} 1948"]["units"] == list("1948|םלוע")
    assert rows[f"({SHALOM})"]["units"] == list("(םולש)")  # the brackets as the image shows them
    assert rows[f"{OLAM} 1948"]["chars"] == list(f"{OLAM}|1948")  # the transcription itself as written
    labelling = Labelling.load(tmp_path / "data")
    assert labelling.reference_key == "units" and labelling.metric == "cer"
    assert isinstance(labelling.units, DisplayOrder) and labelling.units.display_order == "R"
    assert set(Vocabulary.load(tmp_path / "data" / "tokens.txt").tokens) >= {"|", "(", ")", "ם", "1"}
    assert corpus.prepared(tmp_path / "data", bidi="R") and not corpus.prepared(tmp_path / "data")
    corpus.prepare(tmp_path / "data")  # the direction is a parameter of the preparation: done again
    assert all("units" not in row for row in prepared(tmp_path / "data"))


def test_right_to_left_lines_prepared_in_logical_order_are_warned_of(tmp_path, caplog):
    corpus = LineFolder(hebrew_folder(tmp_path / "lines"), fractions=[0.34, 0.33, 0.33], group_by="folder")
    with caplog.at_level(logging.WARNING):
        corpus.prepare(tmp_path / "data")
    assert "9 of 9 lines hold right-to-left letters (Arabic, Hebrew, ...)" in caplog.text
    assert "set data.bidi=R (or auto; --bidi on the recipes)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        corpus.prepare(tmp_path / "data", bidi="R")
        LineFolder(write_line_folder(tmp_path / "latin")[0].parents[1]).prepare(tmp_path / "latin_data")
    assert "right-to-left letters" not in caplog.text


def test_the_preparation_command_takes_the_direction(tmp_path):
    hebrew_folder(tmp_path / "lines")
    prepare_lines(["--lines", str(tmp_path / "lines"), "--out", str(tmp_path / "data"), "--group-by", "folder",
                   "--bidi", "auto"])  # fmt: skip
    assert Labelling.load(tmp_path / "data").units.display_order == "auto"
    with pytest.raises(SystemExit) as err:
        prepare_lines(["--lines", str(tmp_path / "lines"), "--out", str(tmp_path / "data"), "--bidi", "RTL"])
    assert err.value.code == 2


def test_a_direction_is_refused_for_labels_that_are_not_the_characters_of_words(tmp_path, timit_root):
    from asr_lstm.data.corpora.timit import Timit

    with pytest.raises(
        CorpusError,
        match="data.bidi=R lays out the characters of transcribed lines; the labels of Timit are its phones",
    ):
        Timit(timit_root).prepare(tmp_path / "data", bidi="R")
    with pytest.raises(CorpusError, match="data.bidi=right must be one of L, R, auto or null"):
        LineFolder(hebrew_folder(tmp_path / "lines")).prepare(tmp_path / "data", bidi="right")


def test_the_lexicon_and_the_word_lm_of_a_display_ordered_corpus_are_in_the_order_of_its_labels(tmp_path):
    from asr_lstm.lexicon import main as lexicon_main
    from asr_lstm.lm import main as lm_main

    corpus = LineFolder(hebrew_folder(tmp_path / "lines"), fractions=[0.34, 0.33, 0.33], group_by="folder")
    corpus.prepare(tmp_path / "data", bidi="R")
    data = tmp_path / "data"
    assert label_order_of(data)([SHALOM, OLAM]) == ["םלוע", "םולש"] and label_order_of(tmp_path)([SHALOM]) == [SHALOM]
    lexicon_main(["--manifest", str(data / "train.jsonl"), "--tokens", str(data / "tokens.txt"),
                  "-o", str(tmp_path / "lexicon.txt")])  # fmt: skip
    words = {line.split()[0]: line.split()[1:] for line in (tmp_path / "lexicon.txt").read_text().splitlines()}
    assert words["םולש"] == list("םולש") and words["1948"] == list("1948") and SHALOM not in words
    lm_main(["--manifest", str(data / "train.jsonl"), "--lexicon", str(tmp_path / "lexicon.txt"),
             "-o", str(tmp_path / "words.arpa")])  # fmt: skip
    assert "1948 םלוע" in (tmp_path / "words.arpa").read_text()  # "עולם 1948" as the search meets it
    lm_main(["--manifest", str(data / "train.jsonl"), "--tokens", str(data / "tokens.txt"), "--order", "3",
             "-o", str(tmp_path / "chars.arpa")])  # fmt: skip
    assert "ם ל ו" in (tmp_path / "chars.arpa").read_text()  # the labels' order, not the text's
    assert display_words([OLAM, "1948"], "R") == ["1948", "םלוע"]
