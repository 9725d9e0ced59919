"""Token units: characters, lexicon phones and sentencepiece subwords, their words, state and labelling."""

import json

import pytest
import torch

from asr_lstm.data.corpora.base import Corpus, CorpusError
from asr_lstm.data.corpora.kaldi import KaldiDataDirs
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.data.units import (
    Characters,
    Labelling,
    LexiconPhones,
    SentencePieces,
    UnitsError,
    units_from_state,
)
from tests.kaldi_fixture import SENTENCES, write_data_dir

LEXICON = """the dh ah
the dh iy
cat k ae t
sat s ae t
a ah
dog d ao g
ran r ae n
far f aa r
we w iy
met m eh t
at ae t
noon n uw n
sun s ah n
is ih z
up ah p
"""


def lexicon(tmp_path, text=LEXICON):
    path = tmp_path / "lexicon.txt"
    path.write_text(text)
    return path


def test_characters_spell_words_with_the_separator_between_them_and_read_them_back():
    units = Characters("|")
    assert units.labels(["to", "be"]) == ["t", "o", "|", "b", "e"]
    assert units.words(["|", "t", "o", "|", "|", "b", "e", "|"]) == ["to", "be"]
    with pytest.raises(UnitsError, match="the word separator '|' inside 'a|b'"):
        units.labels(["a|b"])


def test_lexicon_phones_take_each_words_first_pronunciation_and_read_any_variant_back(tmp_path):
    units = LexiconPhones(str(lexicon(tmp_path)))
    assert units.labels(["the", "cat"]) == ["dh", "ah", "|", "k", "ae", "t"]
    # the second pronunciation of "the" is read back as the word; a pronunciation of no word stays phones
    assert units.words(["dh", "iy", "|", "k", "ae", "t", "|", "z", "z"]) == ["the", "cat", "z_z"]
    assert (units.metric, units.token_metric, units.separator) == ("per", "per", "|")


def test_a_word_missing_from_the_lexicon_is_named_with_every_other_one_or_becomes_the_oov_label(tmp_path):
    units = LexiconPhones(str(lexicon(tmp_path)))
    with pytest.raises(UnitsError, match=r"not in the lexicon .*lexicon.txt: 'mat', 'hat' \(add them"):
        units.labels(["the", "mat", "sat", "hat"])
    with_oov = LexiconPhones(str(lexicon(tmp_path)), oov="<unk>")
    assert with_oov.labels(["the", "mat"]) == ["dh", "ah", "|", "<unk>"]
    assert with_oov.words(["dh", "ah", "|", "<unk>"]) == ["the", "<unk>"]


def test_every_bad_lexicon_line_is_named_and_a_missing_lexicon_is_refused(tmp_path):
    with pytest.raises(
        UnitsError, match=r"2 problems in the lexicon:\n  .*lexicon.txt:2: 'cat' has no phones\n  .*:4: 'dog'"
    ):
        LexiconPhones(str(lexicon(tmp_path, "the dh ah\ncat\na ah\ndog\n")))
    with pytest.raises(UnitsError, match="nowhere.txt: no such lexicon"):
        LexiconPhones(str(tmp_path / "nowhere.txt"))
    with pytest.raises(UnitsError, match=r"'\|' is a phone of the lexicon"):
        LexiconPhones(str(lexicon(tmp_path, "the dh |\n")))


def trained_pieces(model_type="bpe", vocab_size=22) -> SentencePieces:
    units = SentencePieces(model_type, vocab_size)
    units.fit([s.split() for s in SENTENCES * 5])
    return units


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_sentencepiece_units_are_trained_on_the_text_and_their_pieces_read_back_as_the_words(model_type):
    units = trained_pieces(model_type)
    pieces = units.labels(["the", "dog", "sat"])
    assert pieces[0].startswith("\u2581") and len(pieces) >= 3
    assert units.words(pieces) == ["the", "dog", "sat"]
    inventory = units.inventory()
    assert "<unk>" not in inventory and set(pieces) <= set(inventory) and len(inventory) == 21
    assert (units.metric, units.token_metric, units.separator) == ("wer", "ter", None)


def test_sentencepiece_refuses_unseen_characters_and_a_vocabulary_the_text_cannot_fill():
    units = trained_pieces()
    with pytest.raises(UnitsError, match=r"characters the bpe model never saw in training, in \['xyz'\]"):
        units.labels(["the", "xyz"])
    too_big = SentencePieces("bpe", 5000)
    with pytest.raises(UnitsError, match=r"units=bpe data.units.vocab_size=5000: .*[Vv]ocab"):
        too_big.fit([s.split() for s in SENTENCES])
    with pytest.raises(UnitsError, match="must be one of"):
        SentencePieces("wordpiece")


def test_the_state_of_each_kind_survives_a_weights_only_torch_archive(tmp_path):
    words = ["the", "cat", "sat"]
    for units in (Characters("|"), LexiconPhones(str(lexicon(tmp_path))), trained_pieces("unigram")):
        torch.save({"units": units.state()}, tmp_path / "u.pt")
        loaded = units_from_state(torch.load(tmp_path / "u.pt", weights_only=True)["units"])
        assert type(loaded) is type(units) and loaded.labels(words) == units.labels(words)
        assert loaded.words(units.labels(words)) == words
    with pytest.raises(UnitsError, match="unknown units kind 'morse'"):
        units_from_state({"kind": "morse"})


def test_a_labelling_with_a_subword_model_is_saved_beside_it_and_loaded_back(tmp_path):
    units = trained_pieces()
    Labelling("units", "wer", "ter", None, units).save(tmp_path)
    assert json.loads((tmp_path / "labelling.json").read_text())["units"]["model"] == "units.model"
    loaded = Labelling.load(tmp_path)
    assert (loaded.reference_key, loaded.metric, loaded.token_metric, loaded.folding) == ("units", "wer", "ter", None)
    assert loaded.units.labels(["we", "met"]) == units.labels(["we", "met"])
    with pytest.raises(FileNotFoundError, match="labelling.json: missing; prepare the data again"):
        Labelling.load(tmp_path / "elsewhere")


def kaldi_corpus(tmp_path) -> KaldiDataDirs:
    return KaldiDataDirs(*(write_data_dir(tmp_path, split, seed=i) for i, split in enumerate(("train", "dev", "test"))))


def test_preparing_with_lexicon_phones_labels_every_row_and_names_every_unknown_word(tmp_path):
    corpus = kaldi_corpus(tmp_path)
    corpus.prepare(tmp_path / "data", units=LexiconPhones(str(lexicon(tmp_path))))
    row = json.loads((tmp_path / "data" / "train.jsonl").read_text().splitlines()[0])
    assert row["text"] == "the cat sat" and row["units"] == "dh ah | k ae t | s ae t".split()
    labelling = Labelling.load(tmp_path / "data")
    assert (labelling.reference_key, labelling.metric) == ("units", "per")
    tokens = (tmp_path / "data" / "tokens.txt").read_text().split()[::2]
    assert tokens[0] == "<blk>" and "|" in tokens and "dh" in tokens and "iy" in tokens
    short = lexicon(tmp_path, "\n".join(line for line in LEXICON.splitlines() if not line.startswith(("noon", "up"))))
    with pytest.raises(
        CorpusError, match=r"12 bad utterances(.|\n)*train/spk1-u2: .*u2.wav: not in the lexicon .*: 'noon'"
    ):
        corpus.prepare(tmp_path / "short", units=LexiconPhones(str(short)))
    corpus.prepare(tmp_path / "short", on_error="skip", units=LexiconPhones(str(short)))
    assert len((tmp_path / "short" / "skipped.tsv").read_text().splitlines()) == 1 + 12  # 2 speakers x 2 x 3 splits


def test_preparing_without_units_keeps_the_corpus_labels_and_records_them(tmp_path):
    kaldi_corpus(tmp_path).prepare(tmp_path / "data")
    labelling = Labelling.load(tmp_path / "data")
    assert (labelling.reference_key, labelling.metric, labelling.folding) == ("chars", "cer", None)
    assert isinstance(labelling.units, Characters) and labelling.units.separator == "|"


class PhoneOnlyCorpus(Corpus):
    """A corpus whose items are transcribed in phones only."""

    root = "phone-only"

    def split_rows(self) -> dict[str, list[dict]]:
        return {"train": [{"id": "u1", "audio": "u1.wav", "phones": ["sil", "ah"]}], "dev": [], "test": []}

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(["sil", "ah"])

    def params(self) -> dict:
        return {}


def test_units_are_refused_for_a_corpus_without_word_transcriptions(tmp_path):
    with pytest.raises(
        CorpusError, match="phone-only: PhoneOnlyCorpus items have no word transcription .* for units=char"
    ):
        PhoneOnlyCorpus().prepare(tmp_path / "data", units=Characters())
