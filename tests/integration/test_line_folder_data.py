"""A model trains on a folder of line images with .gt.txt files, and its exported file reads the
lines as evaluate does."""

import json
from pathlib import Path

import pytest

from asr_lstm.cli.decode import main as decode_main
from asr_lstm.cli.export import main as export_main
from asr_lstm.cli.train import run
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.line_folder import main as prepare_lines
from asr_lstm.export import read_package
from tests.conftest import FAST, compose_train, decode_and_evaluate_through_one_path
from tests.line_folder_fixture import kraken_lines, pylaia_layout, write_line, write_line_folder


def test_a_model_trains_on_a_folder_of_transcribed_lines_and_decodes_them(tmp_path, monkeypatch, capsys):
    write_line_folder(tmp_path / "lines", folders=4, per_folder=3)
    cfg = compose_train(tmp_path / "run", ["data=lines", "features=image", f"data.corpus.lines={tmp_path / 'lines'}",
                                           "data.corpus.group_by=folder", "data.corpus.fractions=[0.5,0.25,0.25]",
                                           f"data.work_dir={tmp_path / 'data'}", *FAST, "features.image_height=16",
                                           "trainer.max_epochs=2", "data.normalization=NFKC"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 6 and summary["metric"] == "cer"  # 2 folders of 3 lines, batches of 2
    assert 0 <= summary["test_cer"] and 0 <= summary["test_wer"]
    rows = [json.loads(line) for line in (tmp_path / "data" / "test.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and len({row["writer"] for row in rows}) == 1
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )
    book = tmp_path / "lines" / rows[0]["writer"]
    decode_main([str(tmp_path / "model.asrlstm"), str(book), "--text-beside", ".pred.txt", "-o", str(tmp_path / "hyp")])
    printed = dict(line.split("\t") for line in (tmp_path / "hyp").read_text().splitlines())
    assert len(printed) == 3
    for gt in sorted(book.glob("*.gt.txt")):
        name = gt.name.removesuffix(".gt.txt")
        assert (book / f"{name}.pred.txt").read_text() == printed[name] + "\n"
    with pytest.raises(SystemExit) as err:
        decode_main([str(tmp_path / "model.asrlstm"), str(book), "--text-beside", ".gt.txt"])
    assert err.value.code == 2
    assert all(gt.read_text() != "" for gt in book.glob("*.gt.txt"))
    # one book prepared for testing alone (fractions 0 0 1), scored with the model file; it cannot train
    prepare_lines(["--lines", str(book), "--out", str(tmp_path / "book_test"), "--fractions", "0", "0", "1"])
    assert [(tmp_path / f"book_test/{s}.jsonl").read_text() == "" for s in ("train", "dev")] == [True, True]
    decode_main(
        [str(tmp_path / "model.asrlstm"), str(tmp_path / "book_test/test.jsonl"), "--score", str(tmp_path / "s")]
    )
    scored = json.loads((tmp_path / "s/metrics.json").read_text())
    assert scored["num_utts"] == 3
    # the book's folder scored directly, against the .gt.txt beside each line: the same references and counts
    decode_main([str(tmp_path / "model.asrlstm"), str(book), "--score", str(tmp_path / "direct")])
    direct = json.loads((tmp_path / "direct/metrics.json").read_text())
    counts = ("metric", "num_utts", "ref_len", "sub", "dels", "ins", "missing_hypotheses")
    assert [direct[k] for k in counts] == [scored[k] for k in counts] and direct["metric"] == "cer"
    for name in ("ref.txt", "hyp.txt", "errs.txt", "wer/ref.txt", "wer/errs.txt"):
        assert (tmp_path / "direct" / name).read_text() == (tmp_path / "s" / name).read_text()
    # a reference is brought to the model's Unicode form (NFKC: the ligature U+FB01 is "fi"); every input
    # without a usable one is named before anything is decoded
    assert read_package(tmp_path / "model.asrlstm")["normalization"] == "NFKC"
    write_line(tmp_path / "more", "fine", "\ufb01ne")
    write_line(tmp_path / "more", "bar", "a|b")
    write_line(tmp_path / "more", "none", "x").unlink()
    write_line(tmp_path / "again", "fine", "fine")
    with pytest.raises(SystemExit) as err:
        decode_main([str(tmp_path / "model.asrlstm"), str(tmp_path / "more"), str(tmp_path / "again"), "--score",
                     str(tmp_path / "more_s")])  # fmt: skip
    assert err.value.code == 2
    told = capsys.readouterr().err
    assert f"id 'fine' names both {tmp_path / 'more/fine.png'} and {tmp_path / 'again/fine.png'}" in told
    assert f"{tmp_path / 'more/bar.gt.txt'}: the word separator '|' inside 'a|b'" in told
    assert f"{tmp_path / 'more/none.png'}: no .gt.txt beside it (such as none.gt.txt) holds its reference" in told
    assert not (tmp_path / "more_s/metrics.json").exists()
    for name in ("bar", "none"):
        (tmp_path / f"more/{name}.png").unlink()
    decode_main([str(tmp_path / "model.asrlstm"), str(tmp_path / "more"), "--score", str(tmp_path / "more_s")])
    assert (tmp_path / "more_s/ref.txt").read_text() == "fine\tf i n e\n"
    only_test = compose_train(tmp_path / "no_run", ["data=lines", "features=image", f"data.corpus.lines={book}",
                                                    "data.corpus.fractions=[0,0,1]", f"data.work_dir={tmp_path / 'book_test'}",
                                                    *FAST])  # fmt: skip
    with pytest.raises(CorpusError, match=r"train.jsonl and .*dev.jsonl: no lines to train on or validate with"):
        run(only_test)


def test_a_model_trains_on_pylaia_tables_and_decodes_their_lines(tmp_path, monkeypatch):
    tables = pylaia_layout(tmp_path)
    cfg = compose_train(tmp_path / "run", ["data=pylaia", "features=image", f"data.corpus.img_dirs=[{tmp_path / 'images'}]",
                                           f"data.corpus.tables={{train: {tables['train']}, dev: {tables['dev']}, test: {tables['test']}}}",
                                           f"data.work_dir={tmp_path / 'data'}", *FAST, "features.image_height=16",
                                           "trainer.max_epochs=2"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 4 and summary["metric"] == "cer"  # 3 lines, batches of 2
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )


def test_a_model_trains_on_kraken_datasets_a_file_per_split(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    from asr_lstm.data.generators.kraken_demo import write_dataset

    texts = {"train": ["a move to stop", "Mr Gaitskell from", "nominating any more"], "dev": ["Labour life peers"],
             "test": ["a move to stop", "Labour life peers"]}  # fmt: skip
    files = {s: write_dataset(kraken_lines(t), [None] * len(t), tmp_path / f"{s}.arrow") for s, t in texts.items()}
    datasets = "{" + ", ".join(f"{s}: [{f}]" for s, f in files.items()) + "}"
    cfg = compose_train(tmp_path / "run", ["data=kraken", "features=image", f"data.corpus.datasets={datasets}",
                                           f"data.work_dir={tmp_path / 'data'}", *FAST, "features.image_height=16",
                                           "trainer.max_epochs=2"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 4 and summary["metric"] == "cer"  # 3 lines, batches of 2
    rows = [json.loads(line) for line in (tmp_path / "data" / "test.jsonl").read_text().splitlines()]
    assert [row["text"] for row in rows] == texts["test"] and rows[1]["id"] == "test-000001"
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )


def test_a_model_trains_on_a_hugging_face_dataset_folder(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    written_by_datasets = Path(__file__).parents[1] / "data" / "hf-datasets-5.2.0-lines"
    cfg = compose_train(tmp_path / "run", ["data=hf_lines", "features=image", f"data.corpus.dataset={written_by_datasets}",
                                           f"data.work_dir={tmp_path / 'data'}", *FAST, "features.image_height=16",
                                           "trainer.max_epochs=2"])  # fmt: skip
    summary = run(cfg)
    assert summary["global_step"] == 4 and summary["metric"] == "cer"  # 3 lines, batches of 2
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    decode_and_evaluate_through_one_path(
        monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", tmp_path / "data/test.jsonl"
    )


def test_a_model_of_right_to_left_lines_labels_them_in_display_order_and_prints_them_in_reading_order(
    tmp_path, monkeypatch
):
    from asr_lstm.data.bidi import logical_words
    from asr_lstm.data.units import Characters
    from asr_lstm.export import load
    from asr_lstm.lexicon import main as lexicon_main
    from asr_lstm.lm import main as lm_main
    from asr_lstm.onnx_export import metadata

    texts = ["שלום עולם", "עולם 1948", "(שלום) לכם"]
    for f in range(4):
        for k, text in enumerate(texts):
            write_line(tmp_path / "lines" / f"book{f}", f"{k:04d}", text)
    data = tmp_path / "data"
    cfg = compose_train(tmp_path / "run", ["data=lines", "features=image", f"data.corpus.lines={tmp_path / 'lines'}",
                                           "data.corpus.group_by=folder", "data.corpus.fractions=[0.5,0.25,0.25]",
                                           "data.bidi=R", f"data.work_dir={data}", *FAST, "features.image_height=16",
                                           "trainer.max_epochs=2"])  # fmt: skip
    assert run(cfg)["metric"] == "cer"
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    recognizer = load(tmp_path / "model.asrlstm")
    assert recognizer.units.state()["display_order"] == metadata(recognizer)["asr_lstm.display_order"] == "R"
    decode_and_evaluate_through_one_path(monkeypatch, tmp_path / "run", tmp_path / "model.asrlstm", data / "test.jsonl")
    lexicon_main(["--manifest", str(data / "train.jsonl"), "--tokens", str(data / "tokens.txt"),
                  "-o", str(tmp_path / "lexicon.txt")])  # fmt: skip
    lm_main(["--manifest", str(data / "train.jsonl"), "--lexicon", str(tmp_path / "lexicon.txt"),
             "-o", str(tmp_path / "words.arpa")])  # fmt: skip
    for search in ([], ["--lexicon", str(tmp_path / "lexicon.txt"), "--lm", str(tmp_path / "words.arpa")]):
        decode_main([str(tmp_path / "model.asrlstm"), str(data / "test.jsonl"), "--json", *search,
                     "-o", str(tmp_path / "hyp.jsonl")])  # fmt: skip
        records = [json.loads(line) for line in (tmp_path / "hyp.jsonl").read_text().splitlines()]
        assert len(records) == 3 and any(record["tokens"] for record in records)
        assert all(bool(record.get("words")) == bool(search) for record in records)  # the lexicon's words
        for record in records:  # the tokens as the image shows them, the text as it is read
            words = record.get("words", Characters().words(record["tokens"]))
            assert record["text"] == " ".join(logical_words(words, "R"))
            assert recognizer.displayed_text(record["tokens"], record.get("words")) == " ".join(words)
