"""kraken's binary datasets (the Arrow files of ``ketos compile``) as a corpus: a file kraken itself
wrote, the three ways of splitting, the generated demo, and every refusal named at once.

``tests/data/kraken-7.1.1-path.arrow`` was written by kraken 7.1.1's
``kraken.lib.arrow_dataset.build_binary_dataset(format_type="path", random_split=(0.5, 0.25, 0.25))``
(after ``numpy.random.seed(3)``) from six generated mini-IAM lines scaled to 20 pixels high, the last
two made bitonal (kraken stores those as 1-bit PNGs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.iam import IamLines
from asr_lstm.data.corpora.kraken_arrow import KrakenArrow, main
from asr_lstm.data.corpora.line_tables import file_ids
from asr_lstm.data.generators.kraken_demo import generate, write_dataset
from tests.iam_fixture import write_iam_tree
from tests.line_folder_fixture import kraken_lines, line_png

pa = pytest.importorskip("pyarrow")  # the `arrow` extra, which `make install` installs

KRAKEN_FILE = Path(__file__).parents[1] / "data" / "kraken-7.1.1-path.arrow"
KRAKEN_TEXTS = [
    "Jerk that dart from the cork target .",
    "A cloud of dust stung his tender eyes .",
    "It was a bad error on the part of the new judge .",
    "Fake stones shine but cost little .",
    "Crouch before you jump or miss the mark .",
    "The leaf drifts along with a slow spin .",
]


def prepare(corpus: KrakenArrow, out: Path, on_error: str = "skip") -> dict[str, list[dict]]:
    corpus.prepare(out, on_error)
    return {s: [json.loads(x) for x in (out / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "dev", "test")}


def test_a_dataset_kraken_wrote_is_read_with_its_stored_split(tmp_path):
    rows = prepare(KrakenArrow(str(KRAKEN_FILE), tmp_path / "lines"), tmp_path / "data")
    # kraken drew train [2], validation [0, 1, 3], test [4, 5]
    assert {s: [r["row"] for r in rs] for s, rs in rows.items()} == {"train": [2], "dev": [0, 1, 3], "test": [4, 5]}
    for row in (r for rs in rows.values() for r in rs):
        assert row["id"] == f"kraken-7.1.1-path-{row['row']:06d}" and row["text"] == KRAKEN_TEXTS[row["row"]]
        assert row["chars"] == list(KRAKEN_TEXTS[row["row"]].replace(" ", "|"))
        with Image.open(row["image"]) as image:
            assert image.height == row["height"] == 20 and image.mode == ("1" if row["row"] >= 4 else "L")
    table = pa.ipc.open_file(pa.memory_map(str(KRAKEN_FILE))).read_all()
    assert Path(rows["test"][0]["image"]).read_bytes() == table.column("lines")[4].as_py()["im"]


def test_the_demo_writes_an_iam_corpus_in_the_layout_kraken_writes(tmp_path):
    iam_root = write_iam_tree(tmp_path / "iam")
    out = generate(iam_root, tmp_path / "demo")
    reader = pa.ipc.open_file(pa.memory_map(str(out / "mini_iam.arrow")))
    kraken = pa.ipc.open_file(pa.memory_map(str(KRAKEN_FILE)))
    assert reader.schema.remove_metadata() == kraken.schema.remove_metadata()
    record, theirs = (json.loads(r.schema.metadata[b"lines"]) for r in (reader, kraken))
    assert set(record) == set(theirs) and record["type"] == theirs["type"] == "kraken_recognition_bbox"
    rows = prepare(KrakenArrow(out / "mini_iam.arrow", tmp_path / "lines"), tmp_path / "data")
    counts = {split: len(r) for split, r in rows.items()}
    assert record["counts"] == {"all": sum(counts.values()), "train": counts["train"],
                                "validation": counts["dev"], "test": counts["test"]}  # fmt: skip
    iam = IamLines(iam_root).split_rows()
    assert {s: [r["text"] for r in rs] for s, rs in rows.items()} == {
        s: [r["text"] for r in rs] for s, rs in iam.items()
    }
    assert Path(rows["dev"][0]["image"]).read_bytes() == Path(iam["dev"][0]["image"]).read_bytes()


def test_a_split_by_fractions_is_seeded_and_covers_every_line_of_every_file_once(tmp_path):
    texts = [f"line {i}" for i in range(20)]
    a = write_dataset(kraken_lines(texts[:12]), [None] * 12, tmp_path / "a.arrow")
    b = write_dataset(kraken_lines(texts[12:]), [None] * 8, tmp_path / "b.arrow")

    def split(seed: int, out: str) -> dict[str, list[str]]:
        rows = prepare(
            KrakenArrow([str(a), str(b)], tmp_path / out, "fractions", (0.5, 0.25, 0.25), seed), tmp_path / out
        )
        return {s: sorted(r["text"] for r in rs) for s, rs in rows.items()}

    first = split(0, "s0")
    assert [len(first[s]) for s in ("train", "dev", "test")] == [10, 5, 5]
    assert sorted(t for ts in first.values() for t in ts) == sorted(texts)
    assert split(0, "again") == first and split(1, "s1") != first


def test_a_file_per_split_gives_every_line_of_it_to_that_split(tmp_path):
    files = {s: write_dataset(kraken_lines([f"{s} {i}" for i in range(n)]), ["train"] * n, tmp_path / s / "data.arrow")
             for s, n in (("train", 3), ("dev", 2), ("test", 1))}  # fmt: skip
    rows = prepare(KrakenArrow({s: [str(f)] for s, f in files.items()}, tmp_path / "lines"), tmp_path / "data")
    assert {s: [r["text"] for r in rs] for s, rs in rows.items()} == {
        "train": ["train 0", "train 1", "train 2"], "dev": ["dev 0", "dev 1"], "test": ["test 0"]
    }  # fmt: skip
    assert rows["dev"][1]["id"] == "dev_data-000001" and "writer" not in rows["dev"][1]


def test_file_ids_are_unique_paths_below_the_common_folder():
    assert file_ids([Path("/b/x/data.arrow"), Path("/b/y/data.arrow")]) == {
        Path("/b/x/data.arrow"): "x_data", Path("/b/y/data.arrow"): "y_data"
    }  # fmt: skip
    assert file_ids([Path("/b/my set.arrow")]) == {Path("/b/my set.arrow"): "my_set"}


def test_every_unreadable_file_is_named_in_one_error(tmp_path):
    good = write_dataset(kraken_lines(["a b", "c d", "e f"]), ["train", "dev", "test"], tmp_path / "good.arrow")
    (tmp_path / "text.arrow").write_text("not arrow", encoding="utf-8")
    table = pa.table({"lines": pa.array([1, 2])})
    with pa.OSFile(str(tmp_path / "other.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write(table)
    write_dataset(kraken_lines(["x"]), ["train"], tmp_path / "segmentation.arrow", kind="kraken_segmentation")
    write_dataset([], [], tmp_path / "empty.arrow")
    names = ["missing", "text", "other", "segmentation", "empty"]
    files = [str(good), str(good), *(str(tmp_path / f"{n}.arrow") for n in names)]
    with pytest.raises(CorpusError) as err:
        KrakenArrow(files, tmp_path / "lines").prepare(tmp_path / "data", "skip")
    message = str(err.value)
    assert message.startswith("6 problems")
    assert f"{good}: named 2 times in data.corpus.datasets; each file once" in message
    assert f"{tmp_path / 'missing.arrow'}: no such kraken dataset" in message
    assert f"{tmp_path / 'text.arrow'}: not an Arrow IPC file" in message
    assert f"{tmp_path / 'other.arrow'}: no column 'lines' of line structs (its columns: lines)" in message
    assert "of type 'kraken_segmentation', not of line recognition" in message
    assert f"{tmp_path / 'empty.arrow'}: it holds no lines" in message
    assert not (tmp_path / "data").exists()


def test_a_file_whose_rows_cannot_be_read_is_named_after_the_others_are_read(tmp_path, monkeypatch):
    good = write_dataset(kraken_lines(["a b", "c d", "e f"]), ["train", "dev", "test"], tmp_path / "good.arrow")
    bad = write_dataset(kraken_lines(["g h", "i j"]), ["train", "train"], tmp_path / "bad.arrow")
    read = KrakenArrow.lines

    def failing(self, path):
        for k, line in enumerate(read(self, path)):
            if path == bad and k == 1:
                raise pa.ArrowInvalid("Buffer 1 did not start on 8-byte aligned offset")
            yield line

    monkeypatch.setattr(KrakenArrow, "lines", failing)
    with pytest.raises(CorpusError, match=rf"{bad}: damaged, its rows cannot be read \(Buffer 1 did not"):
        KrakenArrow([str(bad), str(good)], tmp_path / "lines").prepare(tmp_path / "data", "skip")
    assert (tmp_path / "lines" / "good" / "000002.png").is_file() and not (tmp_path / "data").exists()


def test_a_dataset_without_a_drawn_split_says_how_to_split_it(tmp_path):
    plain = write_dataset(kraken_lines(["a", "b", "c"]), [None] * 3, tmp_path / "plain.arrow")
    with pytest.raises(CorpusError, match=r"no line is in a stored split .* data.corpus.split=fractions"):
        KrakenArrow(plain, tmp_path / "lines").prepare(tmp_path / "data", "skip")
    no_test = write_dataset(kraken_lines(["a", "b", "c"]), ["train", "dev", None], tmp_path / "no_test.arrow")
    with pytest.raises(CorpusError, match=r"no line is in the test split \(column 'test'\)"):
        KrakenArrow(no_test, tmp_path / "lines").prepare(tmp_path / "data", "skip")


def test_a_row_marked_for_two_splits_is_refused(tmp_path):
    path = write_dataset(kraken_lines(["a", "b", "c"]), ["train", "dev", "test"], tmp_path / "d.arrow")
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    table = table.set_column(2, "validation", pa.array([True, True, False]))
    with pa.OSFile(str(tmp_path / "two.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write(table)
    with pytest.raises(CorpusError, match=r"two.arrow: row 0 is in both train and validation"):
        KrakenArrow(tmp_path / "two.arrow", tmp_path / "lines").prepare(tmp_path / "data", "skip")


def test_an_older_kraken_layout_without_language_test_column_or_metadata_is_read(tmp_path):
    struct = pa.struct([("text", pa.string()), ("im", pa.binary())])
    lines = pa.array(kraken_lines(["a b", "c d", "e f"]), type=struct)
    table = pa.table({"lines": lines, "train": [True, False, False], "validation": [False, True, False]})
    with pa.OSFile(str(tmp_path / "old.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write(table)
    rows = prepare(
        KrakenArrow(tmp_path / "old.arrow", tmp_path / "lines", "fractions", (0.34, 0.33, 0.33)), tmp_path / "d"
    )
    assert sorted(r["text"] for rs in rows.values() for r in rs) == ["a b", "c d", "e f"]


def test_bad_lines_are_skipped_with_their_reasons_or_all_named(tmp_path):
    lines = [*kraken_lines(["good one", "good two", "good three"]), {"text": "", "im": line_png("x")},
             {"text": "a|b", "im": line_png("x")}, {"text": "no image", "im": None},
             {"text": "broken", "im": line_png("x")[:40]}, None]  # fmt: skip
    path = write_dataset(
        lines, ["train", "dev", "test", "train", "train", "dev", "test", "train"], tmp_path / "d.arrow"
    )
    rows = prepare(KrakenArrow(path, tmp_path / "lines"), tmp_path / "data")
    assert [len(rows[s]) for s in ("train", "dev", "test")] == [1, 1, 1]
    skipped = (tmp_path / "data" / "skipped.tsv").read_text().splitlines()[1:]
    reasons = {line.split("\t")[1]: line.split("\t")[3] for line in skipped}
    assert reasons == {
        "d-000003": f"{path}: row 3: no transcription",
        "d-000004": f"{path}: row 4: the word separator '|' inside 'a|b'",
        "d-000005": f"{path}: row 5: no image",
        "d-000006": reasons["d-000006"],
        "d-000007": f"{path}: row 7: no transcription",
    }
    assert reasons["d-000006"].startswith(f"{path}: row 6: the line image cannot be decoded")
    with pytest.raises(CorpusError) as err:
        KrakenArrow(path, tmp_path / "lines").prepare(tmp_path / "raise", "raise")
    assert all(f"row {r}:" in str(err.value) for r in range(3, 8))


def test_wrong_options_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"data.corpus.split must be one of \('stored', 'fractions'\), got 'random'"):
        KrakenArrow("a.arrow", tmp_path, split="random")
    with pytest.raises(
        ValueError, match=r"must name files for each of \('train', 'dev', 'test'\), got \['dev', 'train'\]"
    ):
        KrakenArrow({"train": "a.arrow", "dev": "b.arrow"}, tmp_path)
    with pytest.raises(ValueError, match=r"with the files of each split named in data.corpus.datasets, there is"):
        KrakenArrow({"train": "a.arrow", "dev": "b.arrow", "test": "c.arrow"}, tmp_path, split="fractions")


def test_without_pyarrow_the_corpus_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(
        CorpusError, match=r"data=kraken reads kraken's Arrow datasets with pyarrow, .* pip install 'asr-lstm\[arrow\]'"
    ):
        KrakenArrow("a.arrow", tmp_path)


def test_the_preparation_command(tmp_path, capsys):
    main(["--datasets", str(KRAKEN_FILE), "--out", str(tmp_path / "data")])
    assert len((tmp_path / "data" / "dev.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in (tmp_path / "data" / "lines" / "kraken-7.1.1-path").iterdir())[0] == "000000.png"
    with pytest.raises(SystemExit) as err:
        main(["--datasets", str(tmp_path / "none.arrow"), "--out", str(tmp_path / "other")])
    assert err.value.code == 2 and "kraken data: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--train", str(KRAKEN_FILE), "--out", str(tmp_path / "other")])
    assert "--train needs --dev and --test" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--train", "a", "--dev", "b", "--test", "c", "--split", "fractions", "--out", str(tmp_path / "other")])
    assert "--split fractions splits --datasets" in capsys.readouterr().err
