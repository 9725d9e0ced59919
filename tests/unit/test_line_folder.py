"""A folder of line images with .gt.txt transcriptions: pairing, OCRopus' several images, splits,
and every bad line named in one pass."""

import json
import logging
from pathlib import Path

import pytest

from asr_lstm.data.bad_items import read_bad_items
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.line_folder import LineFolder, line_key
from asr_lstm.data.corpora.line_folder import main as prepare_lines
from asr_lstm.data.corpora.splits import split_by_fraction
from asr_lstm.data.tokens import Vocabulary
from tests.line_folder_fixture import TEXTS, write_line, write_line_folder


def rows(out: Path) -> dict[str, list[dict]]:
    return {split: [json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
            for split in ("train", "dev", "test")}  # fmt: skip


def test_a_name_is_found_at_any_dot_of_its_image_the_last_first(tmp_path):
    names = {tmp_path / "010001", tmp_path / "line.001", tmp_path / "line"}
    assert line_key(tmp_path / "010001.bin.png", names) == tmp_path / "010001"
    assert line_key(tmp_path / "010001.png", names) == tmp_path / "010001"
    assert line_key(tmp_path / "line.001.png", names) == tmp_path / "line.001"
    assert line_key(tmp_path / "line.002.png", names) == tmp_path / "line"
    assert line_key(tmp_path / "other.png", names) is None and line_key(tmp_path / ".png", names) is None


def test_each_transcription_labels_the_image_beside_it(tmp_path, caplog):
    write_line_folder(tmp_path / "lines", folders=3, per_folder=4)
    (tmp_path / "lines" / "book0" / "cover.jpg").write_bytes(b"not a line")  # no .gt.txt: ignored
    with caplog.at_level(logging.INFO):
        LineFolder(tmp_path / "lines", fractions=[0.5, 0.25, 0.25], seed=2).prepare(tmp_path / "data")
    assert "1 images without a .gt.txt file, ignored" in caplog.text
    splits = rows(tmp_path / "data")
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [6, 3, 3]
    row = next(r for r in splits["train"] + splits["dev"] + splits["test"] if r["id"] == "book1_0002")
    assert row["text"] == TEXTS[3] and "".join(row["chars"]) == TEXTS[3].replace(" ", "|")
    assert row["image"] == str((tmp_path / "lines" / "book1" / "0002.png").resolve()) and row["writer"] == "book1"
    assert row["height"] == 32 and row["width"] == 12 * len(TEXTS[3]) + 16
    tokens = Vocabulary.load(tmp_path / "data" / "tokens.txt").tokens
    assert "|" in tokens and "G" in tokens


def test_a_seeded_split_by_line_or_by_folder(tmp_path):
    write_line_folder(tmp_path / "lines", folders=5, per_folder=4)
    by_line = LineFolder(tmp_path / "lines", seed=1).split_rows()
    assert [len(by_line[s]) for s in ("train", "dev", "test")] == [16, 2, 2]
    assert LineFolder(tmp_path / "lines", seed=1).split_rows() == by_line
    assert LineFolder(tmp_path / "lines", seed=2).split_rows() != by_line
    by_folder = LineFolder(tmp_path / "lines", fractions=[0.6, 0.2, 0.2], group_by="folder").split_rows()
    folders = {s: {r["writer"] for r in by_folder[s]} for s in ("train", "dev", "test")}
    assert [len(folders[s]) for s in ("train", "dev", "test")] == [3, 1, 1]
    assert [len(by_folder[s]) for s in ("train", "dev", "test")] == [12, 4, 4]
    with pytest.raises(CorpusError, match="train, dev and test need three folders at least, and there are 1"):
        LineFolder(tmp_path / "lines" / "book0", group_by="folder").split_rows()
    with pytest.raises(ValueError, match="data.corpus.group_by must be one of"):
        LineFolder(tmp_path / "lines", group_by="page")


@pytest.mark.parametrize(
    "fractions, sizes", [((0, 0, 1), [0, 0, 20]), ((0, 0.5, 0.5), [0, 10, 10]), ((0.9, 0, 0.1), [18, 0, 2])]
)
def test_a_split_whose_fraction_is_zero_gets_no_line(tmp_path, fractions, sizes):
    """``0 0 1``: every line in test, a corpus prepared to test a model on; the others still get one at least."""
    write_line_folder(tmp_path / "lines", folders=5, per_folder=4)
    split = LineFolder(tmp_path / "lines", fractions=fractions).split_rows()
    assert [len(split[s]) for s in ("train", "dev", "test")] == sizes
    with pytest.raises(CorpusError, match="test needs one line at least, and there are none"):
        split_by_fraction([], [0, 0, 1], 0, "lines")
    with pytest.raises(CorpusError, match="dev and test need two lines at least, and there are 1"):
        split_by_fraction(["a"], [0, 0.5, 0.5], 0, "lines")


def test_split_lists_name_lines_their_files_or_folders_and_every_bad_entry_is_named(tmp_path):
    write_line_folder(tmp_path / "lines", folders=4, per_folder=2)
    lists = {s: tmp_path / f"{s}.lst" for s in ("train", "dev", "test")}
    lists["train"].write_text("book0\nbook1/\n", encoding="utf-8")
    lists["dev"].write_text("book2/0000\nbook2/0001.png\n", encoding="utf-8")
    lists["test"].write_text("book3/0000.gt.txt\nbook3/0001\nbook3/0001\n", encoding="utf-8")
    splits = LineFolder(tmp_path / "lines", split_lists=lists).split_rows()
    assert [r["id"] for r in splits["train"]] == ["book0_0000", "book0_0001", "book1_0000", "book1_0001"]
    assert [r["id"] for r in splits["dev"]] == ["book2_0000", "book2_0001"]
    assert [r["id"] for r in splits["test"]] == ["book3_0000", "book3_0001"]  # named twice, taken once
    lists["test"].write_text("book3\nbook0/0001\nnothing\n", encoding="utf-8")
    with pytest.raises(CorpusError) as err:
        LineFolder(tmp_path / "lines", split_lists=lists).split_rows()
    assert f"{lists['test']}:2: line 'book0/0001' is in both train and test" in str(err.value)
    assert f"{lists['test']}:3: 'nothing' is no line or folder below {tmp_path / 'lines'}" in str(err.value)
    with pytest.raises(ValueError, match="must name a file for each of"):
        LineFolder(tmp_path / "lines", split_lists={"train": lists["train"]})


def test_ocropus_lines_with_two_images_need_a_suffix_to_choose(tmp_path):
    write_line_folder(tmp_path / "lines", image_suffixes=(".bin.png", ".nrm.png"))
    with pytest.raises(CorpusError, match=r"9 lines have several images \(such as 0000.bin.png, 0000.nrm.png\): "
                                          r"choose one with data.corpus.image_suffix .*e.g. .bin.png"):  # fmt: skip
        LineFolder(tmp_path / "lines").split_rows()
    splits = LineFolder(tmp_path / "lines", image_suffix=".nrm.png").split_rows()
    assert all(row["image"].endswith(".nrm.png") for rows in splits.values() for row in rows)
    assert sum(len(r) for r in splits.values()) == 9


def test_every_bad_line_is_named_in_one_pass_and_skip_keeps_the_others(tmp_path):
    write_line_folder(tmp_path / "lines", folders=3, per_folder=3)
    book = tmp_path / "lines" / "book0"
    (book / "0000.gt.txt").write_text("\n", encoding="utf-8")
    (book / "0001.gt.txt").write_text("two\nlines\n", encoding="utf-8")
    (book / "0002.gt.txt").write_bytes("caf\u00e9\n".encode("latin-1"))
    (tmp_path / "lines" / "book1" / "0000.gt.txt").write_text("a|b\n", encoding="utf-8")
    (tmp_path / "lines" / "book1" / "0001.png").unlink()
    (tmp_path / "lines" / "book1" / "0002.png").write_bytes(b"\x89PNG damaged")
    corpus = LineFolder(tmp_path / "lines", fractions=[0.34, 0.33, 0.33])
    with pytest.raises(CorpusError) as err:
        corpus.prepare(tmp_path / "data", on_error="raise")
    message = str(err.value)
    assert message.startswith("6 bad lines")
    for expected in (f"{book / '0000.gt.txt'}: no transcription",
                     f"{book / '0001.gt.txt'}: 2 lines of text; a line image's transcription is one line",
                     f"{book / '0002.gt.txt'}: 1 line is not UTF-8",
                     "the word separator '|' inside 'a|b'",
                     "0001.gt.txt: no line image 0001.png (or .jpg, .tif, ...) beside it",
                     "0002.png: the line image cannot be read"):  # fmt: skip
        assert expected in message
    assert not (tmp_path / "data" / "train.jsonl").exists()
    corpus.prepare(tmp_path / "data", on_error="skip")
    assert len(read_bad_items(tmp_path / "data" / "skipped.tsv")) == 6
    assert sum(len(r) for r in rows(tmp_path / "data").values()) == 3


def test_a_missing_or_empty_folder_and_clashing_ids_are_refused(tmp_path):
    with pytest.raises(CorpusError, match="no such folder of line images"):
        LineFolder(tmp_path / "nowhere").split_rows()
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match=r"no .gt.txt file below it"):
        LineFolder(tmp_path / "empty").split_rows()
    write_line_folder(tmp_path / "lines")
    write_line(tmp_path / "lines" / "a b", "c", "one")
    write_line(tmp_path / "lines" / "a_b", "c", "two")
    with pytest.raises(CorpusError, match=r"a_b/c.gt.txt and .*a b/c.gt.txt make the same line id"):
        LineFolder(tmp_path / "lines").split_rows()


def test_the_preparation_command_takes_the_layout_options(tmp_path):
    write_line_folder(tmp_path / "lines", folders=3, image_suffixes=(".bin.png", ".nrm.png"))
    prepare_lines(["--lines", str(tmp_path / "lines"), "--out", str(tmp_path / "data"), "--group-by", "folder",
                   "--image-suffix", ".bin.png", "--seed", "3"])  # fmt: skip
    splits = rows(tmp_path / "data")
    assert all(len({r["writer"] for r in splits[s]}) == 1 for s in ("train", "dev", "test"))
    assert all(r["image"].endswith(".bin.png") for s in splits.values() for r in s)


def test_the_demo_is_an_iam_corpus_as_a_line_folder_that_prepares_the_same_lines(tmp_path):
    from asr_lstm.data.corpora.iam import IamLines
    from asr_lstm.data.generators.line_folder_demo import generate
    from tests.iam_fixture import write_iam_tree

    iam = write_iam_tree(tmp_path / "iam")
    demo = generate(iam, tmp_path / "demo")
    assert (demo / "splits" / "dev.lst").read_text(encoding="utf-8") == "b02-013\n"
    lists = {s: demo / "splits" / f"{s}.lst" for s in ("train", "dev", "test")}
    ours = LineFolder(demo / "lines", split_lists=lists).split_rows()
    theirs = IamLines(iam).split_rows()
    for split in ("train", "dev", "test"):
        assert [r["id"].split("_")[-1] for r in ours[split]] == [r["id"] for r in theirs[split]]
        assert [r["chars"] for r in ours[split]] == [r["chars"] for r in theirs[split]]
        assert [Path(r["image"]).read_bytes() for r in ours[split]] == [
            Path(r["image"]).read_bytes() for r in theirs[split]
        ]


def test_a_recognised_text_goes_beside_its_image_under_the_name_of_its_ground_truth(tmp_path):
    from asr_lstm.data.corpora.line_folder import text_beside

    write_line(tmp_path, "010001", "a", image_suffixes=(".bin.png",))
    write_line(tmp_path, "line.001", "b")
    (tmp_path / "loose.v2.png").write_bytes(b"")
    assert text_beside(tmp_path / "010001.bin.png", ".pred.txt") == tmp_path / "010001.pred.txt"
    assert text_beside(tmp_path / "line.001.png", ".pred.txt") == tmp_path / "line.001.pred.txt"
    assert text_beside(tmp_path / "loose.v2.png", ".pred.txt") == tmp_path / "loose.v2.pred.txt"


def test_the_right_to_left_demo_mirrors_each_line_and_enciphers_it_so_that_display_order_is_the_images(tmp_path):
    import unicodedata

    from PIL import Image, ImageOps

    from asr_lstm.data.corpora.iam import IamLines
    from asr_lstm.data.generators.line_folder_demo import cipher, generate
    from tests.iam_fixture import write_iam_tree

    table = cipher()
    assert len(set(table.values())) == len(table) == 62  # letters and digits, one Arabic letter each
    assert all(unicodedata.bidirectional(c) == "AL" and unicodedata.normalize("NFKD", c) == c for c in table.values())
    iam = write_iam_tree(tmp_path / "iam")
    demo = generate(iam, tmp_path / "demo", right_to_left=True)
    lists = {s: demo / "splits" / f"{s}.lst" for s in ("train", "dev", "test")}
    LineFolder(demo / "lines", split_lists=lists).prepare(tmp_path / "data", bidi="R")
    ours = {r["id"].split("_")[-1]: r for r in rows(tmp_path / "data")["train"]}
    mirrored = str.maketrans("()[]{}<>", ")(][}{><")
    for theirs in IamLines(iam).split_rows()["train"]:
        row = ours[theirs["id"]]
        assert row["text"] == theirs["text"].translate(str.maketrans(table))
        with Image.open(row["image"]) as image, Image.open(theirs["image"]) as original:
            assert image.tobytes() == ImageOps.mirror(original).tobytes()
        # the labels, left to right, are the mirrored line's characters: the original's, reversed
        assert "".join(row["units"]) == "".join(reversed(row["chars"])).translate(mirrored)
