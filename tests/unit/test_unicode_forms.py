"""Transcriptions in one Unicode form: a letter written composed in one file and decomposed in
another is one label, one lexicon word and one subword, in the form the user chose."""

import argparse
import json
from pathlib import Path

import pytest

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.kaldi import KaldiDataDirs
from asr_lstm.data.corpora.kaldi import main as prepare_kaldi
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.unicode_forms import check_form, form_argument, normalized, normalized_row
from asr_lstm.data.units import Labelling, LexiconPhones, SentencePieces
from tests.kaldi_fixture import write_data_dir

COMPOSED = "caf\u00e9"  # é as one code point
DECOMPOSED = "cafe\u0301"  # e and a combining acute accent
ACUTE = "\u0301"


def test_each_form_composes_decomposes_or_folds_as_unicode_defines_it():
    assert normalized(DECOMPOSED, "NFC") == COMPOSED and normalized(COMPOSED, "NFC") == COMPOSED
    assert normalized(COMPOSED, "NFD") == DECOMPOSED and normalized(DECOMPOSED, "NFD") == DECOMPOSED
    assert normalized("\ufb01ne \u017fun", "NFC") == "\ufb01ne \u017fun"  # ligature and long s kept
    assert normalized("\ufb01ne \u017fun", "NFKC") == "fine sun"
    assert normalized("\ufb01n" + COMPOSED, "NFKD") == "fin" + DECOMPOSED
    assert normalized(DECOMPOSED, None) == DECOMPOSED


def test_a_row_s_character_labels_follow_its_text_into_the_form():
    row = {"id": "u1", "text": f"a {DECOMPOSED}", "chars": list(f"a|{DECOMPOSED}")}
    composed = normalized_row(row, "NFC")
    assert composed["text"] == f"a {COMPOSED}" and composed["chars"] == ["a", "|", "c", "a", "f", "\u00e9"]
    assert normalized_row(composed, "NFD")["chars"] == ["a", "|", "c", "a", "f", "e", ACUTE]
    assert normalized_row(row, None) is row and row["chars"][-1] == ACUTE


def test_an_unknown_form_is_refused_naming_the_choices():
    assert check_form("NFD") == "NFD" and check_form(None) is None
    with pytest.raises(ValueError, match=r"data.normalization=nfc must be one of NFC, NFD, NFKC, NFKD or null"):
        check_form("nfc")
    assert form_argument("none") is None and form_argument("NFKC") == "NFKC"
    with pytest.raises(argparse.ArgumentTypeError, match="'NFX' is not one of NFC, NFD, NFKC, NFKD, none"):
        form_argument("NFX")


def mixed_corpus(tmp_path: Path, word: str = "cat") -> KaldiDataDirs:
    """Kaldi data directories in which the first speaker writes ``word`` as "café" composed, the
    second decomposed."""
    dirs = [write_data_dir(tmp_path, split, seed=i) for i, split in enumerate(("train", "dev", "test"))]
    for data in dirs:
        lines = (data / "text").read_text(encoding="utf-8").splitlines()
        mixed = [line.replace(word, COMPOSED if line.startswith("spk1") else DECOMPOSED) for line in lines]
        (data / "text").write_text("\n".join(mixed) + "\n", encoding="utf-8")
    return KaldiDataDirs(*dirs)


def prepared_rows(out: Path) -> list[dict]:
    return [json.loads(line) for split in ("train", "dev", "test")
            for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]  # fmt: skip


@pytest.mark.parametrize(
    ("form", "letter", "absent"), [("NFC", "\u00e9", ACUTE), ("NFD", ACUTE, "\u00e9"), ("NFKC", "\u00e9", ACUTE)]
)
def test_both_spellings_of_a_letter_become_the_same_labels_in_the_chosen_form(tmp_path, form, letter, absent):
    mixed_corpus(tmp_path).prepare(tmp_path / "data", normalization=form)
    tokens = Vocabulary.load(tmp_path / "data" / "tokens.txt").tokens
    assert letter in tokens and absent not in tokens
    cafe = [row for row in prepared_rows(tmp_path / "data") if "caf" in row["text"]]
    assert len(cafe) == 6 and {row["text"] for row in cafe} == {normalized(f"the {COMPOSED} sat", form)}
    assert {"".join(row["chars"]) for row in cafe} == {normalized(f"the|{COMPOSED}|sat", form)}


def test_without_a_form_the_files_spellings_are_kept_and_a_new_form_prepares_again(tmp_path):
    corpus = mixed_corpus(tmp_path)
    corpus.prepare(tmp_path / "data", normalization=None)
    tokens = Vocabulary.load(tmp_path / "data" / "tokens.txt").tokens
    assert "\u00e9" in tokens and ACUTE in tokens
    assert {row["text"] for row in prepared_rows(tmp_path / "data") if "caf" in row["text"]} == {
        f"the {COMPOSED} sat",
        f"the {DECOMPOSED} sat",
    }
    assert not corpus.prepared(tmp_path / "data", normalization="NFC")
    corpus.prepare(tmp_path / "data", normalization="NFC")
    assert ACUTE not in Vocabulary.load(tmp_path / "data" / "tokens.txt").tokens
    assert corpus.prepared(tmp_path / "data", normalization="NFC")


def test_a_character_that_folding_turns_into_the_word_separator_is_a_bad_item(tmp_path):
    corpus = mixed_corpus(tmp_path, word="sat")
    text = tmp_path / "train" / "text"
    text.write_text(text.read_text(encoding="utf-8").replace("the cat", "the\uff5ccat", 1), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"train/spk1-u0: .*u0.wav: data.normalization=NFKC turns a character of "
                                          r"'the\uff5ccat .*' into the word separator '\|'"):  # fmt: skip
        corpus.prepare(tmp_path / "data", normalization="NFKC")
    corpus.prepare(tmp_path / "data", normalization="NFC")
    assert "\uff5c" in Vocabulary.load(tmp_path / "data" / "tokens.txt").tokens


LEXICON = f"the dh ah\n{COMPOSED} k ae f ey\nsat s ae t\na ah\ndog d ao g\nran r ae n\nfar f aa r\nwe w iy\n" \
          "met m eh t\nat ae t\nnoon n uw n\nsun s ah n\nis ih z\nup ah p\n"  # fmt: skip


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_a_lexicon_s_words_are_found_in_whichever_form_the_text_takes(tmp_path, form):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text(LEXICON, encoding="utf-8")
    units = LexiconPhones(str(lexicon))
    mixed_corpus(tmp_path).prepare(tmp_path / "data", units=units, normalization=form)
    cafe = [row for row in prepared_rows(tmp_path / "data") if "caf" in row["text"]]
    assert len(cafe) == 6 and all(row["units"] == "dh ah | k ae f ey | s ae t".split() for row in cafe)
    assert Labelling.load(tmp_path / "data").units.words(cafe[0]["units"]) == ["the", normalized(COMPOSED, form), "sat"]


def test_without_a_form_a_lexicon_word_spelled_the_other_way_is_unknown(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text(LEXICON, encoding="utf-8")
    with pytest.raises(CorpusError) as err:
        mixed_corpus(tmp_path).prepare(tmp_path / "data", units=LexiconPhones(str(lexicon)), normalization=None)
    assert str(err.value).startswith("3 bad utterances")
    for split in ("train", "dev", "test"):
        assert f"{split}/spk2-u0: " in str(err.value)
    assert "not in the lexicon" in str(err.value) and "spk1-u0" not in str(err.value)
    assert "'cafe\\u0301' (the lexicon's 'caf\\xe9' in other code points: see data.normalization)" in str(err.value)


def test_subword_pieces_keep_the_chosen_form_rather_than_sentencepiece_s_own(tmp_path):
    sentences = [f"the {DECOMPOSED} sat", "a dog ran far", f"we met at {DECOMPOSED}", "the sun is up"] * 20
    pieces = SentencePieces("unigram", 25)
    pieces.fit([s.split() for s in sentences], "NFD")
    words = ["the", DECOMPOSED, "sat"]
    assert pieces.words(pieces.labels(words)) == words
    assert ACUTE in "".join(pieces.inventory())
    nfkc = SentencePieces("unigram", 25)
    nfkc.fit([s.split() for s in sentences])
    assert nfkc.words(nfkc.labels(words)) == ["the", COMPOSED, "sat"]


def test_the_preparation_command_takes_a_form_and_refuses_an_unknown_one(tmp_path, capsys):
    mixed_corpus(tmp_path)
    dirs = [f"--{split}={tmp_path / split}" for split in ("train", "dev", "test")]
    prepare_kaldi([*dirs, f"--out={tmp_path / 'data'}", "--normalization=NFD"])
    assert ACUTE in Vocabulary.load(tmp_path / "data" / "tokens.txt").tokens
    with pytest.raises(SystemExit) as err:
        prepare_kaldi([*dirs, f"--out={tmp_path / 'other'}", "--normalization=NFX"])
    assert err.value.code == 2 and "'NFX' is not one of NFC, NFD, NFKC, NFKD, none" in capsys.readouterr().err
