"""TIMIT preparation on tiny trees in the real layout, upper and lower case, and its refusals."""

from __future__ import annotations

import pytest

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.timit import Timit
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.tokens import Vocabulary
from tests.timit_fixture import utterance_path, write_timit_tree, write_utterance


@pytest.mark.parametrize("upper", [True, False], ids=["UPPER", "lower"])
def test_protocol_splits_in_both_cases(tmp_path, upper):
    root = write_timit_tree(tmp_path / "timit", upper=upper)
    Timit(root).prepare(tmp_path / "data")
    train = read_manifest(tmp_path / "data/train.jsonl")
    dev = read_manifest(tmp_path / "data/dev.jsonl")
    test = read_manifest(tmp_path / "data/test.jsonl")
    # SA excluded: two utterances per speaker remain
    assert sorted(r["id"] for r in train) == ["fcjf0_si943", "fcjf0_sx17", "mrab0_si943", "mrab0_sx17"]
    assert {r["speaker"] for r in dev} == {"faks0"}  # the only standard dev speaker present
    assert {r["speaker"] for r in test} == {"mdab0"}  # the only core-test speaker present
    row = next(r for r in train if r["id"] == "fcjf0_sx17")
    assert row["phones"] == ["h#", "dh", "ax", "bcl", "b", "er", "tcl", "ch", "h#"]
    assert row["num_samples"] == 16000 and row["sample_rate"] == 16000 and row["duration"] == 1.0
    assert row["dialect"] == "dr1" and row["text"] == "A sentence."
    assert Vocabulary.load(tmp_path / "data/tokens.txt").tokens[0] == "<blk>"
    assert len(Vocabulary.load(tmp_path / "data/tokens.txt")) == 62


def test_complete_test_set_has_every_test_speaker(timit_root, tmp_path):
    Timit(timit_root, test_set="complete").prepare(tmp_path / "data")
    test = read_manifest(tmp_path / "data/test.jsonl")
    assert {r["speaker"] for r in test} == {"faks0", "mdab0", "mzzz0"}
    assert len(test) == 6


def test_second_preparation_does_nothing(timit_root, tmp_path, caplog):
    Timit(timit_root).prepare(tmp_path / "data")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "data").iterdir()}
    with caplog.at_level("INFO"):
        Timit(timit_root).prepare(tmp_path / "data")
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "data").iterdir()} == before
    assert "already prepared" in caplog.text


def test_changing_the_test_set_redoes_preparation(timit_root, tmp_path):
    Timit(timit_root).prepare(tmp_path / "data")
    Timit(timit_root, test_set="complete").prepare(tmp_path / "data")
    assert len(read_manifest(tmp_path / "data/test.jsonl")) == 6


def test_missing_phn_names_the_wav(timit_root, tmp_path):
    utterance_path(timit_root, "train", "dr1", "fcjf0", "sx17", ".phn").unlink()
    with pytest.raises(CorpusError, match=r"FCJF0/SX17\.WAV: missing transcription SX17\.PHN"):
        Timit(timit_root).prepare(tmp_path / "data")


def test_unknown_phone_names_file_and_line(timit_root, tmp_path):
    phn = utterance_path(timit_root, "train", "dr2", "mrab0", "si943", ".phn")
    lines = phn.read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0] + " xx"
    phn.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"MRAB0/SI943\.PHN:4: unknown phone label 'xx'"):
        Timit(timit_root).prepare(tmp_path / "data")


def test_empty_wav_is_refused(timit_root, tmp_path):
    wav = utterance_path(timit_root, "test", "dr1", "mdab0", "sx17", ".wav")
    wav.write_bytes(b"")
    with pytest.raises(CorpusError, match=r"MDAB0/SX17\.WAV: (cannot read audio|empty audio)"):
        Timit(timit_root).prepare(tmp_path / "data")


def test_zero_sample_wav_is_refused(timit_root, tmp_path):
    stem = utterance_path(timit_root, "test", "dr1", "mdab0", "sx17", ".wav").with_suffix("")
    write_utterance(stem, ["h#"], upper=True, seconds=0.0)
    with pytest.raises(CorpusError, match=r"MDAB0/SX17\.WAV: (empty audio|cannot read audio)"):
        Timit(timit_root).prepare(tmp_path / "data")


def test_truncated_wav_is_refused(timit_root, tmp_path):
    wav = utterance_path(timit_root, "train", "dr1", "fcjf0", "si943", ".wav")
    wav.write_bytes(wav.read_bytes()[: 1024 + 2 * 8000])  # header + half of the samples
    with pytest.raises(
        CorpusError,
        match=r"FCJF0/SI943\.(PHN: last segment ends at sample 16000 but the audio has only 8000 samples|WAV: cannot read audio)",
    ):
        Timit(timit_root).prepare(tmp_path / "data")


def test_missing_part_directory(tmp_path):
    (tmp_path / "TIMIT" / "TRAIN").mkdir(parents=True)
    with pytest.raises(CorpusError, match="no TEST directory"):
        Timit(tmp_path / "TIMIT").prepare(tmp_path / "data")


def test_no_dev_speaker_under_test(tmp_path):
    root = write_timit_tree(tmp_path / "TIMIT", speakers=(("train", "dr1", "fcjf0"), ("test", "dr1", "mdab0")))
    with pytest.raises(CorpusError, match="none of the standard dev speakers"):
        Timit(root).prepare(tmp_path / "data")
