"""IAM text-line preparation on fixtures in the real layout, and the generated mini-IAM."""

import json
import logging

import pytest

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.handwriting import read_split_list
from asr_lstm.data.corpora.iam import IamLines, read_lines_txt
from asr_lstm.data.generators.mini_iam import MiniIamConfig, generate, iam_transcription
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.tokens import Vocabulary
from tests.iam_fixture import LINES_HEADER, write_iam_tree


def test_lines_txt_fields_and_header(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text(
        LINES_HEADER + "a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to\nr06-143-04 er 180 3 10 -2 300 70 Tired|.\n"
    )
    lines = read_lines_txt(path)
    assert lines == {
        "a01-000u-00": {
            "segmentation": "ok",
            "threshold": 154,
            "bbox": [408, 746, 1661, 89],
            "transcription": "A|MOVE|to",
        },
        "r06-143-04": {"segmentation": "er", "threshold": 180, "bbox": [10, -2, 300, 70], "transcription": "Tired|."},
    }


@pytest.mark.parametrize(
    "body, bad_line, problem",
    [
        ("a01-000u-00 ok 154 19 408 746 1661 A|MOVE\n", 1, "expected 'id ok|er grey components x y w h"),
        ("a01-000u-00 maybe 154 19 408 746 1661 89 A|MOVE\n", 1, "expected 'id ok|er grey components x y w h"),
        (
            "a01-000u-00 ok 154 19 408 746 1661 89 A\na01-000u-00 ok 154 19 408 746 1661 89 B\n",
            2,
            "line a01-000u-00 appears twice",
        ),
        ("a01-000u-00 ok 154 19 408 746 1661 89 ||\n", 1, "line a01-000u-00 has an empty transcription"),
    ],
)
def test_lines_txt_refusals_name_file_and_line(tmp_path, body, bad_line, problem):
    path = tmp_path / "lines.txt"
    path.write_text(LINES_HEADER + body)
    with pytest.raises(CorpusError, match=problem) as err:
        read_lines_txt(path)
    assert str(err.value).startswith(f"{path}:{LINES_HEADER.count(chr(10)) + bad_line}: ")


def test_every_bad_line_of_lines_txt_is_named_at_once(tmp_path):
    path = tmp_path / "lines.txt"
    body = ("a01-000u-00 ok 154 19 408 746 1661 A|MOVE\n"
            "a01-000u-01 ok 154 19 408 746 1661 89 fine\n"
            "a01-000u-01 ok 154 19 408 746 1661 89 again\n"
            "a01-000u-02 ok 154 19 408 746 1661 89 ||\n")  # fmt: skip
    path.write_text(LINES_HEADER + body)
    with pytest.raises(CorpusError) as err:
        read_lines_txt(path)
    first = LINES_HEADER.count(chr(10)) + 1
    assert str(err.value).splitlines() == [
        "3 problems in the corpus layout:",
        f"  {path}:{first}: expected 'id ok|er grey components x y w h word|word|...', got "
        "'a01-000u-00 ok 154 19 408 746 1661 A|MOVE'",
        f"  {path}:{first + 2}: line a01-000u-01 appears twice",
        f"  {path}:{first + 3}: line a01-000u-02 has an empty transcription",
    ]


def test_unknown_list_entries_a_missing_list_and_shared_writers_are_named_in_one_error(tmp_path):
    lists = {"trainset": ["a01-000u-00", "z99-999"], "validationset1": ["a01-000u-01", "y88-888-00"],
             "validationset2": [], "testset": ["c03-007"]}  # fmt: skip
    root = write_iam_tree(tmp_path / "IAM", lists=lists)
    (root / "largeWriterIndependentTextLineRecognitionTask/testset.txt").unlink()
    with pytest.raises(CorpusError) as err:
        IamLines(root).prepare(tmp_path / "data")
    message = str(err.value)
    assert message.startswith("4 problems in the corpus layout:")
    assert "trainset.txt:2: 'z99-999' is neither a line nor a form" in message
    assert "validationset1.txt:2: 'y88-888-00' is neither a line nor a form" in message
    assert "testset.txt: missing split list" in message
    assert "writer 000 (line a01-000u-01) is in both train and dev" in message
    assert not (tmp_path / "data").exists()


def test_split_lists_take_line_ids_and_form_ids(tmp_path):
    lines = {"a01-000u-00", "a01-000u-01", "b02-013-00", "b02-013-01"}
    path = tmp_path / "testset.txt"
    path.write_text("b02-013\na01-000u-01\n\n")
    assert read_split_list(path, lines, "LWITLRT") == ["b02-013-00", "b02-013-01", "a01-000u-01"]
    path.write_text("a01-000u-01\nz99-999\n")
    with pytest.raises(CorpusError, match=r"testset.txt:2: 'z99-999' is neither a line nor a form"):
        read_split_list(path, lines, "LWITLRT")
    with pytest.raises(CorpusError, match="missing split list .from the task 'LWITLRT'."):
        read_split_list(tmp_path / "validationset1.txt", lines, "LWITLRT")


def test_prepare_writes_character_manifests_and_skips_when_done(tmp_path, caplog):
    root = write_iam_tree(tmp_path / "IAM")
    corpus = IamLines(root)
    corpus.prepare(tmp_path / "data")
    rows = {split: read_manifest(tmp_path / "data" / f"{split}.jsonl") for split in ("train", "dev", "test")}
    assert [r["id"] for r in rows["train"]] == ["a01-000u-00", "a01-000u-01"]
    assert [r["id"] for r in rows["dev"]] == ["b02-013-00"]  # the list names the form
    first = rows["train"][0]
    assert first["chars"] == list("A|MOVE|to|stop|Mr.|Gaitskell|from")
    assert first["text"] == "A MOVE to stop Mr. Gaitskell from"
    assert first["writer"] == "000" and first["form"] == "a01-000u" and first["segmentation"] == "ok"
    assert (first["width"], first["height"]) == (100, 30)
    assert first["image"] == str((root / "lines/a01/a01-000u/a01-000u-00.png").resolve())
    assert rows["train"][1]["segmentation"] == "er"  # kept, as the task lists keep them
    assert rows["dev"][0]["text"] == '" Yes , it\'s a 3 - 2 win "'
    vocab = Vocabulary.load(tmp_path / "data" / "tokens.txt")
    assert vocab.tokens[0] == "<blk>" and "|" in vocab and "#" in vocab and " " not in vocab.tokens
    assert vocab.tokens[1:] == sorted(vocab.tokens[1:])
    assert IamLines(root).vocabulary().tokens == vocab.tokens
    with caplog.at_level(logging.INFO):
        corpus.prepare(tmp_path / "data")
    assert "manifests already prepared, skipping" in caplog.text


def test_prepare_refuses_shared_writers_and_missing_images(tmp_path):
    lists = {
        "trainset": ["a01-000u-00"],
        "validationset1": ["a01-000u-01"],
        "validationset2": [],
        "testset": ["c03-007"],
    }
    root = write_iam_tree(tmp_path / "IAM", lists=lists)
    with pytest.raises(CorpusError, match="writer 000 .line a01-000u-01. is in both train and dev"):
        IamLines(root).prepare(tmp_path / "data")
    root = write_iam_tree(tmp_path / "IAM2")
    missing = root / "lines/c03/c03-007/c03-007-01.png"
    missing.unlink()
    with pytest.raises(CorpusError, match=f"{missing}: missing image of line c03-007-01"):
        IamLines(root).prepare(tmp_path / "data2")
    with pytest.raises(CorpusError, match="no ascii/lines.txt"):
        IamLines(tmp_path).prepare(tmp_path / "data3")
    with pytest.raises(ValueError, match="dev_lists must name validationset1 and/or validationset2"):
        IamLines(root, dev_lists=["testset"])


def test_dev_can_merge_both_validation_sets(tmp_path):
    lists = {
        "trainset": ["a01-000u"],
        "validationset1": ["b02-013"],
        "validationset2": ["c03-007-01"],
        "testset": ["c03-007-00"],
    }
    forms = (("a01-000u", "000"), ("b02-013", "150"), ("c03-007", "300"))
    root = write_iam_tree(tmp_path / "IAM", lists=lists, forms=forms)
    with pytest.raises(CorpusError, match="writer 300"):  # c03-007 spans dev and test
        IamLines(root, dev_lists=["validationset1", "validationset2"]).prepare(tmp_path / "data")
    lists["testset"] = []
    root = write_iam_tree(tmp_path / "IAM2", lists=lists, forms=forms)
    IamLines(root, dev_lists=["validationset1", "validationset2"]).prepare(tmp_path / "data2")
    assert [r["id"] for r in read_manifest(tmp_path / "data2/dev.jsonl")] == ["b02-013-00", "c03-007-01"]


def test_iam_tokenisation_of_sentences():
    assert (
        iam_transcription("The birch canoe slid on the smooth planks.") == "The|birch|canoe|slid|on|the|smooth|planks|."
    )
    assert iam_transcription("It's easy, isn't it?") == "It's|easy|,|isn't|it|?"
    assert iam_transcription("Wait...") == "Wait|..."


def test_mini_iam_is_read_by_the_iam_preparation(tmp_path):
    cfg = MiniIamConfig(
        train_writers=3, validation1_writers=1, validation2_writers=1, test_writers=2, lines_per_writer=2, seed=3
    )
    root = generate(tmp_path / "mini_iam", cfg)
    IamLines(root).prepare(tmp_path / "data")
    rows = {split: read_manifest(tmp_path / "data" / f"{split}.jsonl") for split in ("train", "dev", "test")}
    assert [len(rows[s]) for s in ("train", "dev", "test")] == [6, 2, 4]
    writers = {s: {r["writer"] for r in rows[s]} for s in rows}
    assert (
        len(writers["train"]) == 3 and not writers["train"] & writers["test"] and not writers["dev"] & writers["test"]
    )
    train_text = {r["text"] for r in rows["train"]}
    assert not train_text & {
        r["text"] for r in rows["test"] + rows["dev"]
    }  # LMs from training text never see test lines
    assert all(r["height"] > 40 and r["width"] > 4 * r["height"] for r in rows["train"])
    assert all("|" in r["chars"] and r["chars"][-1] in ".?!" for r in rows["train"])
    # deterministic for a seed, and a second run is skipped
    again = generate(tmp_path / "again", cfg)
    assert (again / "ascii/lines.txt").read_text() == (root / "ascii/lines.txt").read_text()
    first_image = root / "lines/g00/g00-000/g00-000-00.png"
    assert first_image.read_bytes() == (again / "lines/g00/g00-000/g00-000-00.png").read_bytes()
    stamp = first_image.stat().st_mtime_ns
    generate(tmp_path / "mini_iam", cfg)
    assert first_image.stat().st_mtime_ns == stamp
    assert json.loads((root / ".generate.done").read_text())["seed"] == 3
