"""A model trains on PAGE-XML and ALTO pages, and its exported file reads the cut lines as evaluate does."""

import json

from asr_lstm.cli.export import main as export_main
from asr_lstm.cli.train import run
from tests.conftest import FAST, compose_train, decode_and_evaluate_through_one_path
from tests.page_fixture import PAGE_2019, page_schema, write_pages

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


def test_decoding_a_page_file_writes_its_lines_text_back_into_a_copy(tmp_path, capsys):
    from lxml import etree

    from asr_lstm.cli.decode import main as decode_main
    from asr_lstm.data.corpora.page_xml import read_transcribed_page

    files = write_pages(tmp_path / "pages", 4, TEXTS, alto_every=2, namespace=PAGE_2019)
    schema = page_schema()
    assert schema.validate(etree.parse(str(files[0]))), schema.error_log  # the input is a valid PAGE 2019 file
    cfg = compose_train(tmp_path / "run", ["data=page", "features=image", f"data.corpus.pages={tmp_path / 'pages'}",
                                           "data.corpus.fractions=[0.5,0.25,0.25]", f"data.work_dir={tmp_path / 'data'}",
                                           *FAST, "features.image_height=16", "trainer.max_epochs=1"])  # fmt: skip
    run(cfg)
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    capsys.readouterr()
    decode_main([str(tmp_path / "model.asrlstm"), str(files[0]), str(files[1]), "--page-out", str(tmp_path / "out")])
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert sorted(printed) == ["page00-r1l1", "page00-r1l2", "page00-r1l3", "page01-eSc_line_0", "page01-eSc_line_1",
                               "page01-eSc_line_2"]  # fmt: skip
    page = read_transcribed_page(tmp_path / "out" / "page00.xml")  # PAGE: the line's TextEquiv replaced
    assert [line.text for line in page.lines] == [printed[f"page00-r1l{i}"] or None for i in (1, 2, 3)]
    confs = etree.parse(str(tmp_path / "out" / "page00.xml")).xpath(
        "//*[local-name()='TextLine']/*[local-name()='TextEquiv']/@conf"
    )
    assert len(confs) == 3 and all(0 <= float(c) <= 1 for c in confs)
    assert schema.validate(etree.parse(str(tmp_path / "out" / "page00.xml"))), schema.error_log
    alto = read_transcribed_page(tmp_path / "out" / "page01.xml")  # ALTO: its Strings replaced
    assert [line.text for line in alto.lines] == [printed[f"page01-eSc_line_{i}"] or None for i in range(3)]
    assert (tmp_path / "out" / "lines" / "page00" / "r1l1.png").is_file()
