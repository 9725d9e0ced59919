"""PyLaia's text tables and image folders: rows as PyLaia reads them, every bad line named in one
pass, layout problems with file and line."""

import json

import pytest

from asr_lstm.data.bad_items import read_bad_items
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.pylaia import PylaiaTables, find_image, words_of
from asr_lstm.data.corpora.pylaia import main as prepare_pylaia
from tests.line_folder_fixture import PYLAIA_LINES, pylaia_layout, write_line


def test_symbols_spell_words_and_a_symbol_of_several_characters_is_named():
    assert words_of("f o r <space> d e t".split(), "<space>") == (["for", "det"], None)
    assert words_of("<space> a <space> <space> b".split(), "<space>") == (["a", "b"], None)
    assert words_of("a <unk> b <gap>".split(), "<space>")[1] == (
        "symbols of more than one character ['<gap>', '<unk>']: labels here are characters"
    )
    assert words_of([], "<space>")[1] == "no transcription"
    assert words_of("a | b".split(), "<space>")[1] == "the word separator '|' inside 'a|b'"


def test_an_image_is_found_by_its_id_with_any_suffix_in_the_first_folder_holding_it(tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder / "a").mkdir(parents=True)
    (tmp_path / "two" / "a" / "x.png").write_bytes(b"")
    (tmp_path / "one" / "a" / "x.TIF").write_bytes(b"")
    dirs = [tmp_path / "one", tmp_path / "two"]
    assert find_image("a/x", dirs) == tmp_path / "one" / "a" / "x.TIF"
    assert find_image("a/x.png", dirs) == tmp_path / "two" / "a" / "x.png"
    assert find_image("a/y", dirs) is None


def test_tables_and_images_become_rows_as_pylaia_reads_them(tmp_path):
    tables = pylaia_layout(tmp_path)
    PylaiaTables(tables, [str(tmp_path / "images")]).prepare(tmp_path / "data")
    rows = {
        s: [json.loads(r) for r in (tmp_path / "data" / f"{s}.jsonl").read_text().splitlines()] for s in PYLAIA_LINES
    }
    assert [r["id"] for r in rows["train"]] == ["train/im01", "train/im02", "train/im03"]
    second = rows["train"][1]
    assert second["text"] == "at sende" and "".join(second["chars"]) == "at|sende" and second["writer"] == "train"
    assert second["image"] == str((tmp_path / "images" / "train" / "im02.jpg").resolve()) and second["height"] == 32
    assert rows["test"][0]["text"] == "af expl:"


def test_every_bad_line_is_named_in_one_pass_and_skip_keeps_the_others(tmp_path):
    tables = pylaia_layout(tmp_path)
    with tables["train"].open("a", encoding="utf-8") as f:
        f.write("train/im04 a <unk> b\ntrain/im05\ntrain/nowhere a b\ntrain/im06 a | b\ntrain/damaged x\n")
    for name in ("im04", "im05", "im06"):
        write_line(tmp_path / "images" / "train", name, "a b")
    (tmp_path / "images" / "train" / "damaged.png").write_bytes(b"\x89PNG damaged")
    corpus = PylaiaTables(tables, str(tmp_path / "images"))
    with pytest.raises(CorpusError) as err:
        corpus.prepare(tmp_path / "data", on_error="raise")
    message = str(err.value)
    assert message.startswith("5 bad lines")
    for expected in (f"{tables['train']}:4: symbols of more than one character ['<unk>']",
                     f"{tables['train']}:5: no transcription",
                     f"{tables['train']}:6: no image train/nowhere.png (or .jpg, ...) in {tmp_path / 'images'}",
                     f"{tables['train']}:7: the word separator '|' inside 'a|b'",
                     "damaged.png: the line image cannot be read"):  # fmt: skip
        assert expected in message
    corpus.prepare(tmp_path / "data", on_error="skip")
    assert len(read_bad_items(tmp_path / "data" / "skipped.tsv")) == 5


def test_a_missing_table_or_folder_and_an_id_in_two_places_stop_preparation_all_named(tmp_path):
    tables = pylaia_layout(tmp_path)
    tables["test"].write_text("test/im01 a f\ntrain/im01 f o r\n", encoding="utf-8")
    tables["dev"] = tmp_path / "nowhere.txt"
    with pytest.raises(CorpusError) as err:
        PylaiaTables(tables, [str(tmp_path / "images"), str(tmp_path / "gone")]).split_rows()
    message = str(err.value)
    assert message.startswith("3 problems")
    assert f"{tmp_path / 'gone'}: no such folder of line images (data.corpus.img_dirs)" in message
    assert f"{tmp_path / 'nowhere.txt'}: missing text table of the dev lines" in message
    assert f"{tables['test']}:2: 'train/im01' is also at {tables['train']}:1" in message
    with pytest.raises(ValueError, match="data.corpus.tables must name a text table for each of"):
        PylaiaTables({}, "images")


def test_the_preparation_command(tmp_path):
    tables = pylaia_layout(tmp_path)
    prepare_pylaia([*(f"--{s}={t}" for s, t in tables.items()), "--img-dirs", str(tmp_path / "images"),
                    "--out", str(tmp_path / "data")])  # fmt: skip
    assert len((tmp_path / "data" / "train.jsonl").read_text().splitlines()) == 3


def test_one_table_for_two_splits_is_refused(tmp_path):
    tables = pylaia_layout(tmp_path)
    tables["test"] = tables["dev"]
    with pytest.raises(CorpusError, match=r"dev.txt: the text table of both dev and test; each split needs its own"):
        PylaiaTables(tables, str(tmp_path / "images")).split_rows()
