"""A model trains, is evaluated and exported on Kaldi data directories, segments included, on
SpeechBrain manifests and on a Hugging Face speech dataset."""

import json
from pathlib import Path

import pytest

from asr_lstm.cli.export import main as export_main
from asr_lstm.cli.train import run
from tests.conftest import FAST, compose_train, decode_and_evaluate_through_one_path
from tests.kaldi_fixture import write_data_dir, write_speechbrain_csv


def test_a_model_trains_on_kaldi_data_directories_and_decodes_their_segments(tmp_path, monkeypatch):
    dirs = [f"data.corpus.{s}={write_data_dir(tmp_path, s, segments=s != 'train', seed=i)}"
            for i, s in enumerate(("train", "dev", "test"))]  # fmt: skip
    cfg = compose_train(tmp_path / "run", ["data=kaldi", *dirs, f"data.work_dir={tmp_path / 'data'}", *FAST,
                                           "trainer.max_epochs=2"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 8 and summary["metric"] == "cer"  # 8 utterances in batches of 2
    assert 0 <= summary["test_cer"] and 0 <= summary["test_wer"]
    rows = [json.loads(line) for line in (tmp_path / "data" / "test.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(len(r["segment"]) == 2 for r in rows)
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    # the exported model decodes the manifest's segments as evaluate decodes their cached features
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )


def test_a_model_trains_on_speechbrain_manifests_and_decodes_them(tmp_path, monkeypatch):
    manifests = [f"data.corpus.{s}={write_speechbrain_csv(tmp_path, s, seed=i)}"
                 for i, s in enumerate(("train", "dev", "test"))]  # fmt: skip
    cfg = compose_train(tmp_path / "run", ["data=speechbrain", *manifests, f"data.corpus.replacements={{data_root: {tmp_path}}}",
                                           f"data.work_dir={tmp_path / 'data'}", *FAST, "trainer.max_epochs=2"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 8 and summary["metric"] == "cer"  # 8 utterances in batches of 2
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )


def test_a_model_trains_on_a_hugging_face_speech_dataset_and_decodes_it(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    written_by_datasets = Path(__file__).parents[1] / "data" / "hf-datasets-5.2.0-speech"
    cfg = compose_train(tmp_path / "run", ["data=hf_speech", f"data.corpus.dataset={written_by_datasets}",
                                           "data.corpus.speaker_column=speaker_id", f"data.work_dir={tmp_path / 'data'}",
                                           *FAST, "trainer.max_epochs=2"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 4 and summary["metric"] == "cer"  # 3 utterances in batches of 2
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )
