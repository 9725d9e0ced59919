"""A model trains on PAGE-XML and ALTO pages, and its exported file reads the cut lines as evaluate does."""

import json

from asr_lstm.cli.export import main as export_main
from asr_lstm.cli.train import run
from tests.conftest import FAST, compose_train, decode_and_evaluate_through_one_path
from tests.page_fixture import write_pages

TEXTS = ["a move to stop", "Mr Gaitskell from", "nominating any more", "Labour life peers"]


def test_a_model_trains_on_transcribed_pages_and_decodes_their_cut_lines(tmp_path, monkeypatch):
    write_pages(tmp_path / "pages", 5, TEXTS, alto_every=2)
    cfg = compose_train(tmp_path / "run", ["data=page", "features=image", f"data.corpus.pages={tmp_path / 'pages'}",
                                           "data.corpus.fractions=[0.6,0.2,0.2]", f"data.work_dir={tmp_path / 'data'}",
                                           *FAST, "features.image_height=16", "trainer.max_epochs=2"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 10 and summary["metric"] == "cer"  # 3 pages of 3 lines, batches of 2
    assert 0 <= summary["test_cer"] and 0 <= summary["test_wer"]
    rows = [json.loads(line) for line in (tmp_path / "data" / "test.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(row["image"].startswith(str(tmp_path / "data" / "lines")) for row in rows)
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )
