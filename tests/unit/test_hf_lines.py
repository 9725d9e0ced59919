"""Hugging Face datasets' Parquet files as a corpus: a folder the ``datasets`` library wrote, its
split rule, images given by bytes or by path, and every refusal named at once.

``tests/data/hf-datasets-5.2.0-lines/data/{train,validation,test}-00000-of-00001.parquet`` were written by
the ``datasets`` library 5.2.0 (``Dataset.to_parquet`` of an ``Image()`` and a ``Value("string")``
feature, the images given as bytes with their file names, as a dataset on the Hub holds them) from
the six generated lines of ``kraken-7.1.1-path.arrow``: three train, one validation, two test.
``tests/data/hf-datasets-5.2.0-saved/`` is the same ``DatasetDict`` as ``save_to_disk`` wrote it:
``<split>/data-00000-of-00001.arrow`` (Arrow IPC streams) with the library's JSON records.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.hf_lines import HfLines, main
from asr_lstm.data.corpora.hf_tables import split_of_file
from tests.line_folder_fixture import line_png

pa = pytest.importorskip("pyarrow")  # the `arrow` extra, which `make install` installs
import pyarrow.parquet as pq  # noqa: E402

HF_DATASET = Path(__file__).parents[1] / "data" / "hf-datasets-5.2.0-lines"
HF_SAVED = Path(__file__).parents[1] / "data" / "hf-datasets-5.2.0-saved"
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def write_parquet(path: Path, images: list, texts: list, image_type=IMAGE, names=("image", "text")) -> Path:
    """A Parquet file of ``images`` (Image-feature cells, or bytes with ``image_type=pa.binary()``) and ``texts``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {names[0]: pa.array(images, type=image_type), names[1]: pa.array(texts, type=pa.string())}
    pq.write_table(pa.table(columns), path)
    return path


def cells(texts: list[str]) -> list[dict]:
    return [{"bytes": line_png(t), "path": f"{k}.png"} for k, t in enumerate(texts)]


def prepare(corpus: HfLines, out: Path, on_error: str = "skip") -> dict[str, list[dict]]:
    corpus.prepare(out, on_error)
    return {s: [json.loads(x) for x in (out / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "dev", "test")}


def test_a_folder_the_datasets_library_wrote_is_read_with_its_splits(tmp_path):
    rows = prepare(HfLines(tmp_path / "lines", dataset=HF_DATASET), tmp_path / "data")
    assert {s: len(r) for s, r in rows.items()} == {"train": 3, "dev": 1, "test": 2}
    assert rows["dev"][0]["text"] == "Fake stones shine but cost little ."
    assert rows["test"][1]["id"] == "test-00000-of-00001-000001" and rows["test"][1]["row"] == 1
    assert rows["dev"][0]["chars"] == list("Fake|stones|shine|but|cost|little|.")
    parquet = HF_DATASET / "data" / "test-00000-of-00001.parquet"
    stored = pq.read_table(parquet).column("image")[1].as_py()["bytes"]
    assert Path(rows["test"][1]["image"]).read_bytes() == stored
    with Image.open(rows["test"][1]["image"]) as image:
        assert image.mode == "1" and image.size == (rows["test"][1]["width"], rows["test"][1]["height"])
    given = {"train": [str(parquet.with_name("train-00000-of-00001.parquet"))],
             "dev": str(parquet.with_name("validation-00000-of-00001.parquet")), "test": [str(parquet)]}  # fmt: skip
    again = prepare(HfLines(tmp_path / "lines2", files=given), tmp_path / "data2")
    assert [[r["text"] for r in again[s]] for s in again] == [[r["text"] for r in rows[s]] for s in rows]


def test_a_folder_save_to_disk_wrote_is_read_as_the_hubs_parquet_files_are(tmp_path):
    saved = prepare(HfLines(tmp_path / "lines", dataset=HF_SAVED), tmp_path / "data")
    parquet = prepare(HfLines(tmp_path / "lines2", dataset=HF_DATASET), tmp_path / "data2")
    for split in ("train", "dev", "test"):
        assert [r["text"] for r in saved[split]] == [r["text"] for r in parquet[split]]
        assert [Path(r["image"]).read_bytes() for r in saved[split]] == [
            Path(r["image"]).read_bytes() for r in parquet[split]
        ]
    assert saved["test"][0]["id"] == "test_data-00000-of-00001-000000"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.arrow").write_text("not arrow", encoding="utf-8")
    files = {"train": str(tmp_path / "bad" / "train.arrow"), "dev": [], "test": []}
    with pytest.raises(CorpusError, match=r"train.arrow: not an Arrow stream, as the datasets library writes"):
        HfLines(tmp_path / "lines3", files=files).prepare(tmp_path / "data3", "skip")


@pytest.mark.parametrize(
    "relative, splits",
    [
        ("data/train-00000-of-00002.parquet", {"train"}),
        ("default/validation/0000.parquet", {"dev"}),
        ("eval.parquet", {"test"}),
        ("my_val_set.parquet", {"dev"}),
        ("training/part-3.parquet", {"train"}),
        ("test/shard/train-0.parquet", {"train"}),  # the file's own name comes first
        ("trainval.parquet", set()),
        ("data/lines.parquet", set()),
        ("train_test.parquet", {"train", "test"}),
    ],
)
def test_files_are_assigned_to_splits_by_the_rule_of_the_datasets_library(relative, splits):
    assert split_of_file(Path(relative)) == splits


def test_every_problem_of_a_folder_is_named_in_one_error(tmp_path):
    write_parquet(tmp_path / "ds" / "train.parquet", cells(["a", "b"]), ["a", "b"])
    write_parquet(tmp_path / "ds" / "lines.parquet", cells(["a"]), ["a"])
    write_parquet(tmp_path / "ds" / "train_test.parquet", cells(["a"]), ["a"])
    (tmp_path / "ds" / "validation.parquet").write_text("not parquet", encoding="utf-8")
    write_parquet(tmp_path / "ds" / "val2.parquet", cells(["a"]), ["a"], names=("img", "transcription"))
    with pytest.raises(CorpusError) as err:
        HfLines(tmp_path / "lines", dataset=tmp_path / "ds").prepare(tmp_path / "data", "skip")
    message = str(err.value)
    assert message.startswith("5 problems")
    assert f"{tmp_path / 'ds' / 'lines.parquet'}: names no split" in message
    assert f"{tmp_path / 'ds' / 'train_test.parquet'}: names test and train" in message
    assert (
        "no Parquet or Arrow file of the test split (a file or folder named test, testing, eval, evaluation)" in message
    )
    assert f"{tmp_path / 'ds' / 'validation.parquet'}: not a Parquet file" in message
    assert (f"{tmp_path / 'ds' / 'val2.parquet'}: no image column 'image' (data.corpus.image_column; its "
            f"columns: img, transcription); no text column 'text'") in message  # fmt: skip
    assert not (tmp_path / "data").exists()


def test_a_damaged_file_is_named_after_the_others_are_read(tmp_path):
    folder = tmp_path / "ds" / "data"
    folder.mkdir(parents=True)
    for parquet in (HF_DATASET / "data").iterdir():
        (folder / parquet.name).write_bytes(parquet.read_bytes())
    damaged = folder / "train-00000-of-00001.parquet"
    data = bytearray(damaged.read_bytes())
    data[3000:9000] = b"\xff" * 6000  # inside the image column's pages; the footer is intact
    damaged.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=rf"{damaged}: damaged, its rows cannot be read \(.*\)"):
        HfLines(tmp_path / "lines", dataset=tmp_path / "ds").prepare(tmp_path / "data", "skip")
    assert (tmp_path / "lines" / "test-00000-of-00001" / "000001.png").is_file()  # the others were read
    assert not (tmp_path / "data" / ".prepare.done").exists()


def test_wrong_columns_files_and_splits_are_refused_by_name(tmp_path):
    good = write_parquet(tmp_path / "good.parquet", cells(["a"]), ["a"])
    typed = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"image": pa.array([1]), "text": pa.array([2])}), typed)
    files = {"train": [str(good)], "dev": [str(good)], "test": [str(typed), str(tmp_path / "none.parquet")]}
    with pytest.raises(CorpusError) as err:
        HfLines(tmp_path / "lines", files=files).prepare(tmp_path / "data", "skip")
    message = str(err.value)
    assert f"{good}: a file of both train and dev; each split needs its own" in message
    assert (
        f"{typed}: its column 'image' is int64, not an Image feature or image bytes; its column 'text' is int64"
        in message
    )
    assert f"{tmp_path / 'none.parquet'}: no such file of the dataset" in message
    with pytest.raises(CorpusError, match=r"ds: no such folder of a dataset's files \(data.corpus.dataset\)"):
        HfLines(tmp_path / "lines", dataset=tmp_path / "ds").prepare(tmp_path / "data", "skip")


def test_images_given_by_path_bytes_alone_and_other_columns(tmp_path):
    Path(tmp_path / "ds" / "img").mkdir(parents=True)
    (tmp_path / "ds" / "img" / "a.png").write_bytes(line_png("by relative path"))
    (tmp_path / "elsewhere.png").write_bytes(line_png("by absolute path"))
    images = [{"bytes": None, "path": "img/a.png"}, {"bytes": None, "path": str(tmp_path / "elsewhere.png")},
              {"bytes": None, "path": "img/gone.png"}]  # fmt: skip
    names = ("img", "transcription")
    train = write_parquet(tmp_path / "ds" / "train.parquet", images, ["relative", "absolute", "gone"], names=names)
    raw = [line_png("plain bytes"), line_png("more bytes")]
    dev = write_parquet(tmp_path / "ds" / "dev.parquet", raw, ["plain", "more"], pa.binary(), ("img", "transcription"))
    test = write_parquet(
        tmp_path / "ds" / "test.parquet", raw, ["plain", "more"], pa.binary(), ("img", "transcription")
    )
    rows = prepare(HfLines(tmp_path / "lines", files={"train": str(train), "dev": str(dev), "test": str(test)},
                           image_column="img", text_column="transcription"), tmp_path / "data")  # fmt: skip
    assert [r["text"] for r in rows["train"]] == ["relative", "absolute"]
    assert Path(rows["train"][0]["image"]).read_bytes() == (tmp_path / "ds" / "img" / "a.png").read_bytes()
    assert Path(rows["train"][1]["image"]).read_bytes() == (tmp_path / "elsewhere.png").read_bytes()
    assert [Path(r["image"]).read_bytes() for r in rows["dev"]] == raw and rows["dev"][1]["id"] == "dev-000001"
    skipped = (tmp_path / "data" / "skipped.tsv").read_text().splitlines()[1:]
    assert [line.split("\t")[3] for line in skipped] == [
        f"{train}: row 2: no image bytes, and its path img/gone.png is not there (nor beside train.parquet)"
    ]


def test_bad_lines_are_skipped_with_their_reasons_or_all_named(tmp_path):
    images = [*cells(["good"]), *cells(["x", "x"]), None, {"bytes": line_png("x")[:40], "path": None}]
    texts = ["good", "", "a|b", "no image", "broken"]
    path = write_parquet(tmp_path / "ds" / "train.parquet", images, texts)
    write_parquet(tmp_path / "ds" / "dev.parquet", cells(["d"]), ["d"])
    write_parquet(tmp_path / "ds" / "test.parquet", cells(["t"]), ["t"])
    rows = prepare(HfLines(tmp_path / "lines", dataset=tmp_path / "ds"), tmp_path / "data")
    assert [r["text"] for r in rows["train"]] == ["good"]
    skipped = (tmp_path / "data" / "skipped.tsv").read_text().splitlines()[1:]
    reasons = {line.split("\t")[1]: line.split("\t")[3] for line in skipped}
    assert reasons == {
        "train-000001": f"{path}: row 1: no transcription",
        "train-000002": f"{path}: row 2: the word separator '|' inside 'a|b'",
        "train-000003": f"{path}: row 3: no image",
        "train-000004": reasons["train-000004"],
    }
    assert reasons["train-000004"].startswith(f"{path}: row 4: the line image cannot be decoded")
    with pytest.raises(CorpusError) as err:
        HfLines(tmp_path / "lines", dataset=tmp_path / "ds").prepare(tmp_path / "raise", "raise")
    assert all(f"row {r}:" in str(err.value) for r in range(1, 5))


def test_wrong_options_and_a_missing_pyarrow_are_refused_by_name(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"give data.corpus.dataset .* or data.corpus.files, one of them"):
        HfLines(tmp_path)
    with pytest.raises(ValueError, match=r"give data.corpus.dataset"):
        HfLines(tmp_path, dataset=tmp_path, files={"train": "a", "dev": "b", "test": "c"})
    with pytest.raises(ValueError, match=r"must name files for each of \('train', 'dev', 'test'\), got \['train'\]"):
        HfLines(tmp_path, files={"train": "a"})
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(CorpusError, match=r"data=hf_lines reads .* with pyarrow, .* pip install 'asr-lstm\[arrow\]'"):
        HfLines(tmp_path, dataset=tmp_path)


def test_the_preparation_command(tmp_path, capsys):
    main(["--dataset", str(HF_DATASET), "--out", str(tmp_path / "data")])
    assert len((tmp_path / "data" / "test.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in (tmp_path / "data" / "lines" / "validation-00000-of-00001").iterdir()) == [
        "000000.png"
    ]
    with pytest.raises(SystemExit) as err:
        main(["--dataset", str(tmp_path / "none"), "--out", str(tmp_path / "other")])
    assert err.value.code == 2 and "hf_lines data: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--train", "a.parquet", "--out", str(tmp_path / "other")])
    assert "--train, --dev and --test go together" in capsys.readouterr().err
