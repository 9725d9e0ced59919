"""SpeechBrain's CSV and JSON manifests: fields, variables, segments in samples, and every problem
named in one pass."""

import json

import pytest

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.speechbrain import SpeechBrainManifests
from tests.kaldi_fixture import SENTENCES, write_recording, write_speechbrain_csv


def csv_corpus(tmp_path, **options) -> SpeechBrainManifests:
    paths = [write_speechbrain_csv(tmp_path, split, seed=i) for i, split in enumerate(("train", "dev", "test"))]
    return SpeechBrainManifests(*map(str, paths), replacements={"data_root": str(tmp_path)}, **options)


def test_a_csv_manifest_gives_its_utterances_with_variables_replaced(tmp_path):
    rows = csv_corpus(tmp_path).split_rows()
    assert [len(rows[s]) for s in ("train", "dev", "test")] == [8, 8, 8]
    first = rows["train"][0]
    assert first["id"] == "train-spk1-u0" and first["text"] == SENTENCES[0] and first["speaker"] == "spk1"
    assert first["audio"] == str((tmp_path / "audio" / "train" / "train-spk1-u0.wav").resolve())
    assert first["duration"] == pytest.approx(1.0) and "".join(first["chars"]) == "the|cat|sat"


def test_a_json_manifest_with_segments_in_samples_and_other_field_names(tmp_path):
    write_recording(tmp_path / "long.wav", 3.0, 0)
    manifest = {"a": {"wav": {"file": "{root}/long.wav", "start": 8000, "stop": 24000}, "words": "the cat", "length": 1},
                "b": {"wav": "{root}/long.wav", "words": "a dog"}}  # fmt: skip
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.json").write_text(json.dumps(manifest), encoding="utf-8")
    corpus = SpeechBrainManifests(*(str(tmp_path / f"{s}.json") for s in ("train", "dev", "test")),
                                  replacements={"root": str(tmp_path)}, text_key="words")  # fmt: skip
    with pytest.raises(CorpusError, match="'a' is also at"):  # the same IDs in every split
        corpus.split_rows()
    for k, split in enumerate(("train", "dev", "test")):
        (tmp_path / f"{split}.json").write_text(json.dumps({f"{key}{k}": v for key, v in manifest.items()}))
    rows = corpus.split_rows()["train"]
    assert rows[0]["segment"] == [0.5, 1.5] and rows[0]["text"] == "the cat" and rows[0]["speaker"] == "a0"
    assert "segment" not in rows[1] and rows[1]["duration"] == pytest.approx(3.0)


def test_every_layout_problem_is_named_at_once(tmp_path):
    corpus = csv_corpus(tmp_path)
    train, dev, test = corpus.manifests.values()
    train.write_text(train.read_text().replace("$data_root", "$corpus_root", 1))
    dev.write_text("utt,wav,wrd\nx,a.wav,a\n")
    test.write_text(test.read_text().replace("test-spk1-u0", "train-spk1-u1") + "lonely,1.0,a.wav,spk1\n")
    (tmp_path / "json.json").write_text("[1, 2]")
    corpus.manifests["extra"] = tmp_path / "json.json"
    corpus.manifests["gone"] = tmp_path / "gone.csv"
    with pytest.raises(CorpusError) as err:
        corpus.split_rows()
    message = str(err.value)
    assert message.startswith("6 problems")
    for expected in (f"{train}: no value for the variables corpus_root: give them as 'data.corpus.replacements={{corpus_root: ...}}'",
                     f"{dev}:1: no ID column in the header ['utt', 'wav', 'wrd']",
                     f"{test}:2: 'train-spk1-u1' is also at {train}:3",
                     f"{test}:10: no wrd field (it has ['duration', 'spk_id', 'wav']",
                     f"{tmp_path / 'json.json'}: not an object of utterances",
                     f"{tmp_path / 'gone.csv'}: missing manifest of the gone utterances"):  # fmt: skip
        assert expected in message


def test_missing_audio_and_bad_transcriptions_are_bad_items_all_named(tmp_path):
    corpus = csv_corpus(tmp_path)
    (tmp_path / "audio" / "train" / "train-spk1-u0.wav").unlink()
    (tmp_path / "audio" / "train" / "train-spk1-u2.wav").write_bytes(b"RIFF damaged")
    train = corpus.manifests["train"]
    train.write_text(train.read_text().replace(f"spk2,{SENTENCES[0]}", "spk2,").replace(SENTENCES[1], "a|b"))
    with pytest.raises(CorpusError) as err:
        corpus.prepare(tmp_path / "data", on_error="raise")
    message = str(err.value)
    assert message.startswith("5 bad utterances")
    assert f"{train}:2: {tmp_path / 'audio' / 'train' / 'train-spk1-u0.wav'}: no such file" in message
    assert f"{train}:4: {tmp_path / 'audio' / 'train' / 'train-spk1-u2.wav'}: cannot read audio" in message
    assert f"{train}:6: no transcription" in message and "the word separator '|' inside 'a|b'" in message
    corpus.prepare(tmp_path / "data", on_error="skip")
    assert len((tmp_path / "data" / "train.jsonl").read_text().splitlines()) == 8 - 5


def test_one_manifest_for_two_splits_is_refused_and_read_once(tmp_path):
    train, dev = (write_speechbrain_csv(tmp_path, s) for s in ("train", "dev"))
    dev.write_text(dev.read_text().replace("dev-spk1-u0", "train-spk1-u0"))
    with pytest.raises(CorpusError) as err:
        SpeechBrainManifests(str(train), str(dev), str(train), replacements={"data_root": str(tmp_path)}).split_rows()
    assert str(err.value).splitlines()[1:] == [
        f"  {train}: the manifest of both train and test; each split needs its own",
        f"  {dev}:2: 'train-spk1-u0' is also at {train}:2",
    ]
