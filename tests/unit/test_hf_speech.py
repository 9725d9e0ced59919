"""Hugging Face speech datasets' Parquet files as a corpus: a folder the ``datasets`` library wrote,
speakers from a column or per utterance, and bad audio named by file and row.

``tests/data/hf-datasets-5.2.0-speech/{train,validation,test}.clean/0000.parquet`` were written by
the ``datasets`` library 5.2.0 (``Dataset.to_parquet`` of an ``Audio(sampling_rate=16000)``, a
``Value("string")`` text and a ``Value("int64")`` ``speaker_id`` feature, the audio given as FLAC
bytes with their file names, in the Hub's folder-per-split layout) from six generated sine tones of
1.0 to 1.5 s: three train, one validation, two test.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.hf_speech import HfSpeech, main

pa = pytest.importorskip("pyarrow")  # the `arrow` extra, which `make install` installs
import pyarrow.parquet as pq  # noqa: E402

HF_SPEECH = Path(__file__).parents[1] / "data" / "hf-datasets-5.2.0-speech"
AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def wav(seconds: float) -> bytes:
    out = io.BytesIO()
    sf.write(out, np.zeros(int(16000 * seconds), dtype="float32"), 16000, format="WAV")
    return out.getvalue()


def prepare(corpus: HfSpeech, out: Path, on_error: str = "skip") -> dict[str, list[dict]]:
    corpus.prepare(out, on_error)
    return {s: [json.loads(x) for x in (out / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "dev", "test")}


def test_a_folder_the_datasets_library_wrote_is_read_with_its_splits_and_speakers(tmp_path):
    rows = prepare(HfSpeech(tmp_path / "audio", dataset=HF_SPEECH, speaker_column="speaker_id"), tmp_path / "data")
    assert {s: len(r) for s, r in rows.items()} == {"train": 3, "dev": 1, "test": 2}
    assert [r["speaker"] for r in rows["train"]] == ["19", "19", "26"] and rows["dev"][0]["speaker"] == "26"
    first = rows["test"][0]
    assert first["id"] == "test.clean_0000-000000" and first["text"] == "to carry an oily rag"
    assert first["chars"] == list("to|carry|an|oily|rag") and first["audio"].endswith("/test.clean_0000/000000.flac")
    assert first["duration"] == pytest.approx(1.4) and rows["test"][1]["duration"] == pytest.approx(1.5)
    stored = pq.read_table(HF_SPEECH / "test.clean" / "0000.parquet").column("audio")[0].as_py()["bytes"]
    assert Path(first["audio"]).read_bytes() == stored
    without = prepare(HfSpeech(tmp_path / "audio2", dataset=HF_SPEECH), tmp_path / "data2")
    assert [r["speaker"] for r in without["test"]] == [r["id"] for r in without["test"]]


def test_bad_utterances_are_skipped_with_their_reasons(tmp_path):
    audio = [{"bytes": wav(0.2), "path": None}, {"bytes": b"RIFF not audio", "path": "x.wav"}, None,
             {"bytes": wav(0.2), "path": None}]  # fmt: skip
    table = pa.table({"audio": pa.array(audio, type=AUDIO), "text": ["good one", "noise", "no audio", ""]})
    (tmp_path / "ds").mkdir()
    pq.write_table(table, tmp_path / "ds" / "train.parquet")
    for split in ("dev", "test"):
        pq.write_table(table.slice(0, 1), tmp_path / "ds" / f"{split}.parquet")
    rows = prepare(HfSpeech(tmp_path / "audio", dataset=tmp_path / "ds"), tmp_path / "data")
    assert [r["text"] for r in rows["train"]] == ["good one"] and rows["train"][0]["duration"] == pytest.approx(0.2)
    assert rows["train"][0]["audio"].endswith(".wav")
    reasons = [line.split("\t")[3] for line in (tmp_path / "data" / "skipped.tsv").read_text().splitlines()[1:]]
    path = tmp_path / "ds" / "train.parquet"
    assert reasons[0].startswith(f"{path}: row 1: the audio cannot be read")
    assert reasons[1:] == [f"{path}: row 2: no audio", f"{path}: row 3: no transcription"]


def test_ids_come_from_the_id_column_and_one_id_in_two_rows_is_refused(tmp_path):
    audio = pa.array([{"bytes": wav(0.2), "path": None}] * 3, type=AUDIO)
    ids = {
        "train": ["1272-128104-0000", "1272-128104-0001", None],
        "dev": ["84-121123-0000"],
        "test": ["174-50561-0000"],
    }
    for split, names in ids.items():
        table = pa.table({"audio": audio.slice(0, len(names)), "text": ["a b"] * len(names), "id": names})
        pq.write_table(table, tmp_path / f"{split}.parquet")
    rows = prepare(HfSpeech(tmp_path / "audio", dataset=tmp_path, id_column="id"), tmp_path / "data")
    assert [r["id"] for r in rows["train"]] == ["1272-128104-0000", "1272-128104-0001", "train-000002"]
    assert rows["dev"][0]["id"] == "84-121123-0000" and rows["dev"][0]["audio"].endswith("/dev/000000.wav")
    table = pa.table({"audio": audio.slice(0, 1), "text": ["a"], "id": ["1272-128104-0000"]})
    pq.write_table(table, tmp_path / "test.parquet")
    with pytest.raises(CorpusError) as err:
        HfSpeech(tmp_path / "audio", dataset=tmp_path, id_column="id").prepare(tmp_path / "again", "skip")
    assert str(err.value) == (f"{tmp_path / 'test.parquet'}: row 0: the id '1272-128104-0000' is also row 0 of "
                              f"{tmp_path / 'train.parquet'} (data.corpus.id_column)")  # fmt: skip


def test_missing_and_mistyped_columns_are_named(tmp_path):
    table = pa.table({"audio": pa.array([1, 2]), "sentence": ["a", "b"]})
    for split in ("train", "validation", "test"):
        pq.write_table(table, tmp_path / f"{split}.parquet")
    with pytest.raises(CorpusError) as err:
        HfSpeech(tmp_path / "audio", dataset=tmp_path, speaker_column="client_id").prepare(tmp_path / "data", "skip")
    message = str(err.value)
    assert message.startswith("3 problems")
    assert (f"{tmp_path / 'train.parquet'}: no text column 'text' (data.corpus.text_column; its columns: audio, "
            f"sentence); no speaker column 'client_id' (data.corpus.speaker_column; its columns: audio, sentence); "
            f"its column 'audio' is int64, not an Audio feature or audio bytes") in message  # fmt: skip


def test_without_pyarrow_the_corpus_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(CorpusError, match=r"data=hf_speech reads .* with pyarrow, .* pip install 'asr-lstm\[arrow\]'"):
        HfSpeech(tmp_path, dataset=tmp_path)


def test_the_preparation_command(tmp_path, capsys):
    main(["--dataset", str(HF_SPEECH), "--speaker-column", "speaker_id", "--out", str(tmp_path / "data")])
    rows = [json.loads(x) for x in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    assert [r["speaker"] for r in rows] == ["19", "19", "26"]
    with pytest.raises(SystemExit) as err:
        main(["--dataset", str(tmp_path / "none"), "--out", str(tmp_path / "other")])
    assert err.value.code == 2 and "hf_speech data: " in capsys.readouterr().err
