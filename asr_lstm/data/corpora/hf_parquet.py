"""A handwriting or print corpus of your own as a Hugging Face dataset: the Parquet files of its splits.

The line-recognition datasets of the Hugging Face Hub (Teklia's ``IAM-line``, ``RIMES-2011-line``,
``NorHand-v1-line`` and ``Belfort-line``, and the many made with the ``datasets`` library) are Parquet
files, one or several shards per split, whose rows hold a line image in an ``image`` column and its
transcription in a ``text`` column. The image column is the ``datasets`` library's ``Image``
feature, a struct of the image file's ``bytes`` and its ``path``: the bytes when the dataset was uploaded (or built from images in
memory), only the path when it was built from local files. A folder downloaded from the Hub
(``huggingface-cli download Teklia/IAM-line --repo-type dataset --local-dir DIR``) trains as it is.

Splits: either ``dataset``, a folder whose Parquet files are assigned to splits by the rule of the
``datasets`` library, a split's keyword as a word of the file's name (``data/train-00000-of-00002.parquet``)
or else of a folder's (``default/validation/0000.parquet``): ``train``/``training`` for train,
``validation``/``valid``/``dev``/``val`` for dev, ``test``/``testing``/``eval``/``evaluation`` for
test; or ``files``, ``{split: file or files}`` for each of train, dev and test.

A line's image is written unchanged to ``lines_dir/<file>/<row>.png`` (the row of its file, counted
from 0); an image given by its path only is read from that path, or from the Parquet file's folder
when relative. Labels are the line's characters with ``|`` between words: CER and WER are scored. A
line whose transcription is empty or holds ``|``, and one whose image is missing or cannot be
decoded, is a bad item (``data.on_error``). A file that is missing or not Parquet, a file without
the image or text column, a file of the folder that names no split or two, and a split without
files stop preparation, every one named.

Usage: ``python -m asr_lstm.data.corpora.hf_parquet --dataset DIR --out data/hf_lines``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.bidi import add_bidi_option
from asr_lstm.data.corpora import line_tables
from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.handwriting import LineCorpus
from asr_lstm.data.corpora.speech import transcription_problem
from asr_lstm.data.corpora.splits import SPLITS
from asr_lstm.data.unicode_forms import add_form_option

log = logging.getLogger(__name__)

# The split keywords of the ``datasets`` library (``datasets.data_files.SPLIT_KEYWORDS``), our names first.
SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "dev": ("validation", "valid", "dev", "val"),
    "test": ("test", "testing", "eval", "evaluation"),
}
NON_WORD = re.compile(r"[-._ 0-9]+")
BATCH_ROWS = 256


def splits_named(name: str) -> set[str]:
    """The splits whose keyword is a word of ``name`` (words: what ``-._``, spaces and digits separate)."""
    words = set(NON_WORD.split(name.lower()))
    return {split for split, keywords in SPLIT_KEYWORDS.items() if words & set(keywords)}


def split_of_file(relative: Path) -> set[str]:
    """The splits a Parquet file below a dataset folder belongs to, as the ``datasets`` library reads
    its layout: those its file name names, or else those the nearest folder naming one names."""
    named = splits_named(relative.stem)
    for folder in reversed(relative.parent.parts):
        if named:
            break
        named = splits_named(folder)
    return named


def import_pyarrow():
    """The ``pyarrow`` module, or a :class:`CorpusError` with the install line."""
    return line_tables.import_pyarrow("data=hf_lines reads Hugging Face datasets' Parquet files")


class HfLines(LineCorpus):
    """The text lines of a Hugging Face dataset's Parquet files.

    Args:
        dataset: a folder of Parquet files, assigned to splits by their names (or ``None``).
        files: ``{split: file or files}`` for each of train, dev and test (when ``dataset`` is ``None``).
        lines_dir: where each line's image is written.
        image_column: the column of the line images (an ``Image`` feature, or binary).
        text_column: the column of the transcriptions.
    """

    def __init__(
        self,
        lines_dir: str | Path,
        dataset: str | Path | None = None,
        files: Mapping | None = None,
        image_column: str = "image",
        text_column: str = "text",
    ):
        self.pa = import_pyarrow()
        if (dataset is None) == (files is None):
            raise ValueError("give data.corpus.dataset (a folder of Parquet files) or data.corpus.files, one of them")
        if files is not None and set(files) != set(SPLITS):
            raise ValueError(f"data.corpus.files must name files for each of {SPLITS}, got {sorted(files)}")
        self.dataset = None if dataset is None else Path(dataset)
        self.given = None if files is None else {s: self.paths(files[s]) for s in SPLITS}
        self.lines_dir = Path(lines_dir)
        self.image_column = image_column
        self.text_column = text_column

    @staticmethod
    def paths(files: str | os.PathLike | list | tuple) -> list[Path]:
        return [Path(files)] if isinstance(files, str | os.PathLike) else [Path(f) for f in files]

    def params(self) -> dict:
        files = self.split_files() if self.dataset is not None and self.dataset.is_dir() else self.given or {}
        return {
            "corpus": "hf_lines",
            "dataset": None if self.dataset is None else str(self.dataset.resolve()),
            "files": {split: line_tables.file_stamps(paths) for split, paths in files.items()},
            "lines_dir": str(self.lines_dir.resolve()),
            "columns": [self.image_column, self.text_column],
        }

    def describe_root(self) -> str:
        if self.dataset is not None:
            return str(self.dataset)
        return ", ".join(str(p) for paths in (self.given or {}).values() for p in paths)

    def split_files(self, problems: list[str] | None = None) -> dict[str, list[Path]]:
        """The Parquet files of each split: the given ones, or those of the folder by their names.
        A folder's file naming no split or two, and a split without files, go to ``problems``."""
        if self.given is not None:
            return self.given
        problems = [] if problems is None else problems
        if not self.dataset.is_dir():
            problems.append(f"{self.dataset}: no such folder of Parquet files (data.corpus.dataset)")
            return {}
        files: dict[str, list[Path]] = {split: [] for split in SPLITS}
        for path in sorted(self.dataset.rglob("*.parquet")):
            named = split_of_file(path.relative_to(self.dataset))
            if len(named) == 1:
                files[named.pop()].append(path)
            else:
                which = f"names {' and '.join(sorted(named))}" if named else "names no split"
                problems.append(f"{path}: {which} (train, validation, test); name the files in data.corpus.files")
        for split, paths in files.items():
            if not paths:
                keywords = ", ".join(SPLIT_KEYWORDS[split])
                problems.append(
                    f"{self.dataset}: no Parquet file of the {split} split (a file or folder named {keywords})"
                )
        return files

    def check(self, path: Path) -> str | None:
        """What keeps ``path`` from being read as a Parquet file with the two columns, or ``None``."""
        if not path.is_file():
            return f"{path}: no such Parquet file"
        try:
            schema = self.pa.parquet.ParquetFile(path).schema_arrow
        except (self.pa.ArrowInvalid, OSError) as err:
            return f"{path}: not a Parquet file ({err})"
        columns = ", ".join(schema.names)
        types = self.pa.types
        problems = []
        if self.image_column not in schema.names:
            problems.append(f"no image column {self.image_column!r} (data.corpus.image_column; its columns: {columns})")
        else:
            kind = schema.field(self.image_column).type
            struct_bytes = types.is_struct(kind) and kind.get_field_index("bytes") >= 0
            if not (struct_bytes or line_tables.is_bytes(types, kind)):
                problems.append(f"its column {self.image_column!r} is {kind}, not an Image feature or image bytes")
        if self.text_column not in schema.names:
            problems.append(f"no text column {self.text_column!r} (data.corpus.text_column; its columns: {columns})")
        elif not line_tables.is_text(types, schema.field(self.text_column).type):
            problems.append(f"its column {self.text_column!r} is {schema.field(self.text_column).type}, not text")
        return f"{path}: {'; '.join(problems)}" if problems else None

    def rows_of(self, path: Path) -> Iterator[tuple[object, str | None]]:
        """Each row's image cell and text, in file order, a record batch at a time."""
        parquet = self.pa.parquet.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[self.image_column, self.text_column]):
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)

    def image_bytes(self, cell: object, path: Path) -> bytes | str:
        """A row's image file bytes: the cell's ``bytes``, or the file its ``path`` names (relative:
        to the Parquet file's folder); or why there are none."""
        if isinstance(cell, bytes):
            return cell or "no image"
        if not isinstance(cell, dict) or not (cell.get("bytes") or cell.get("path")):
            return "no image"
        if cell.get("bytes"):
            return cell["bytes"]
        named = Path(cell["path"])
        found = next((p for p in (named, path.parent / named) if p.is_file()), None)
        if found is None:
            return f"no image bytes, and its path {cell['path']} is not there (nor beside {path.name})"
        return found.read_bytes()

    def split_rows(self) -> dict[str, list[dict]]:
        problems: list[str] = []
        files = self.split_files(problems)
        owner: dict[Path, str] = {}
        for split, paths in files.items():
            for path in paths:
                if (first := owner.setdefault(path.resolve(), split)) != split:
                    problems.append(f"{path}: a file of both {first} and {split}; each split needs its own")
        problems += [problem for path in dict.fromkeys(p for ps in files.values() for p in ps)
                     if (problem := self.check(path)) is not None]  # fmt: skip
        CorpusError.raise_all(problems)
        ids = line_tables.file_ids([p for ps in files.values() for p in ps])
        splits: dict[str, list[dict]] = {}
        for split, paths in files.items():
            splits[split] = [row for path in paths for r, (cell, text) in enumerate(self.rows_of(path))
                             if (row := self.row(split, path, ids[path], r, cell, text)) is not None]  # fmt: skip
            log.info("%s: %d lines of %d files", split, len(splits[split]), len(paths))
        return splits

    def row(self, split: str, path: Path, file_id: str, r: int, cell: object, text: str | None) -> dict | None:
        """The manifest row of row ``r`` of ``path``, its image written under ``lines_dir``; or
        ``None`` with the reason in :attr:`bad_items`."""
        line_id = f"{file_id}-{r:06d}"
        words = (text or "").split()
        reason = transcription_problem(words)
        if reason is None:
            data = self.image_bytes(cell, path)
            reason = data if isinstance(data, str) else None
        if reason is None:
            try:
                image = line_tables.write_line_image(data, self.lines_dir / file_id / f"{r:06d}")
            except line_tables.UndecodableImage as err:
                reason = str(err)
        if reason is not None:
            self.bad_items.append(BadItem(split, line_id, str(path), f"{path}: row {r}: {reason}"))
            return None
        return line_tables.line_row(line_id, words, image, file_id, parquet=str(path.resolve()), row=r)

    def describe(self, split: str, rows: list[dict]) -> str:
        return f"{split}: {len(rows)} lines of {len({r['writer'] for r in rows})} files"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Prepare text-line manifests from a Hugging Face dataset's Parquet files."
    )
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--dataset", help="a folder of Parquet files, assigned to splits by their names")
    given.add_argument("--train", nargs="+", help="the train split's Parquet files (then --dev and --test too)")
    parser.add_argument("--dev", nargs="+", help="the dev split's Parquet files (with --train)")
    parser.add_argument("--test", nargs="+", help="the test split's Parquet files (with --train)")
    parser.add_argument("--image-column", default="image", help="the column of the line images (default image)")
    parser.add_argument("--text-column", default="text", help="the column of the transcriptions (default text)")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl, tokens.txt and lines/")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="skip")
    add_form_option(parser)
    add_bidi_option(parser)
    args = parser.parse_args(argv)
    if (args.train is None) != (args.dev is None) or (args.train is None) != (args.test is None):
        parser.error("--train, --dev and --test go together, instead of --dataset")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    files = None if args.train is None else {"train": args.train, "dev": args.dev, "test": args.test}

    def prepare() -> None:
        corpus = HfLines(Path(args.out) / "lines", args.dataset, files, args.image_column, args.text_column)
        corpus.prepare(args.out, args.on_error, normalization=args.normalization, bidi=args.bidi)

    prepare_from_command_line("hf_lines data", prepare)


if __name__ == "__main__":
    main()
