"""Hugging Face datasets as tables: the Parquet files the Hub serves, one or several shards per split,
and the Arrow files the ``datasets`` library keeps (``save_to_disk``, its cache).

What the readers of line images (:mod:`~asr_lstm.data.corpora.hf_lines`) and of speech
(:mod:`~asr_lstm.data.corpora.hf_speech`) share. A folder (downloaded, ``huggingface-cli download
NAME --repo-type dataset --local-dir DIR``; or saved, ``DatasetDict.save_to_disk(DIR)``) is split by
the rule of the ``datasets`` library: a split's keyword as a word of the file's name
(``data/train-00000-of-00002.parquet``), or else of the nearest folder's name
(``default/validation/0000.parquet``, ``test/data-00000-of-00001.arrow``); or the files of each
split are named. A ``.arrow`` file is an Arrow IPC stream, as the ``datasets`` library writes them. An image or audio column is the ``datasets`` library's ``Image`` or ``Audio`` feature, a
struct of the file's ``bytes`` and its ``path`` (the bytes when the dataset was uploaded or built in
memory, only the path when it was built from local files), or plain bytes. Files are read a record
batch at a time, with pyarrow (the optional ``arrow`` extra).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from asr_lstm.data.corpora import line_tables
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.speech import transcription_problem
from asr_lstm.data.corpora.splits import SPLITS

# The split keywords of the ``datasets`` library (``datasets.data_files.SPLIT_KEYWORDS``), our names first.
SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "dev": ("validation", "valid", "dev", "val"),
    "test": ("test", "testing", "eval", "evaluation"),
}
NON_WORD = re.compile(r"[-._ 0-9]+")
BATCH_ROWS = 256
SUFFIXES = (".parquet", ".arrow")


def splits_named(name: str) -> set[str]:
    """The splits whose keyword is a word of ``name`` (words: what ``-._``, spaces and digits separate)."""
    words = set(NON_WORD.split(name.lower()))
    return {split for split, keywords in SPLIT_KEYWORDS.items() if words & set(keywords)}


def split_of_file(relative: Path) -> set[str]:
    """The splits a file below a dataset folder belongs to, as the ``datasets`` library reads
    its layout: those its file name names, or else those the nearest folder naming one names."""
    named = splits_named(relative.stem)
    for folder in reversed(relative.parent.parts):
        if named:
            break
        named = splits_named(folder)
    return named


def paths_of(files: str | os.PathLike | list | tuple) -> list[Path]:
    """A file, or a list of them, as paths."""
    return [Path(files)] if isinstance(files, str | os.PathLike) else [Path(f) for f in files]


class HfTables:
    """The Parquet or Arrow files of a Hugging Face dataset's splits, and the columns a corpus reads.

    Args:
        reader: what reads them, for the message without pyarrow (``data=hf_lines reads ...``).
        dataset: a folder of Parquet or Arrow files, assigned to splits by their names (or ``None``).
        files: ``{split: file or files}`` for each of train, dev and test (when ``dataset`` is ``None``).
        media: ``image`` or ``audio``, the kind of the first of ``columns``.
        columns: ``{option: column}``: the media column, the text column, then any other column read
            (``speaker_column``), named by the option that sets it.
        id_column: the column of the items' ids, or ``None``: ``<file>-<row>``.
    """

    def __init__(self, reader: str, dataset: str | Path | None, files: Mapping | None, media: str,
                 columns: dict[str, str], id_column: str | None = None):  # fmt: skip
        self.pa = line_tables.import_pyarrow(reader)
        if (dataset is None) == (files is None):
            raise ValueError(
                "give data.corpus.dataset (a folder of a dataset's files) or data.corpus.files, one of them"
            )
        if files is not None and set(files) != set(SPLITS):
            raise ValueError(f"data.corpus.files must name files for each of {SPLITS}, got {sorted(files)}")
        self.dataset = None if dataset is None else Path(dataset)
        self.given = None if files is None else {split: paths_of(files[split]) for split in SPLITS}
        self.media = media
        self.columns = {**columns, **({"id_column": id_column} if id_column is not None else {})}

    def params(self) -> dict:
        """What identifies the files read (each with its modification time) and the columns."""
        files = self.split_files() if self.dataset is None or self.dataset.is_dir() else {}
        return {
            "dataset": None if self.dataset is None else str(self.dataset.resolve()),
            "files": {split: line_tables.file_stamps(paths) for split, paths in files.items()},
            "columns": list(self.columns.values()),
        }

    def describe(self) -> str:
        if self.dataset is not None:
            return str(self.dataset)
        return ", ".join(str(p) for paths in (self.given or {}).values() for p in paths)

    def split_files(self, problems: list[str] | None = None) -> dict[str, list[Path]]:
        """The files of each split: the given ones, or the folder's Parquet or Arrow files by their names.
        A folder's file naming no split or two, and a split without files, go to ``problems``."""
        if self.given is not None:
            return self.given
        problems = [] if problems is None else problems
        if not self.dataset.is_dir():
            problems.append(f"{self.dataset}: no such folder of a dataset's files (data.corpus.dataset)")
            return {}
        files: dict[str, list[Path]] = {split: [] for split in SPLITS}
        for path in sorted(p for p in self.dataset.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
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
                    f"{self.dataset}: no Parquet or Arrow file of the {split} split (a file or folder named {keywords})"
                )
        return files

    def schema(self, path: Path):
        """The Arrow schema of a Parquet file, or of an Arrow IPC stream (any other suffix)."""
        if path.suffix == ".parquet":
            return self.pa.parquet.ParquetFile(path).schema_arrow
        return self.pa.ipc.open_stream(self.pa.memory_map(str(path))).schema

    def check(self, path: Path) -> str | None:
        """What keeps ``path`` from being read as a Parquet or Arrow file with the columns, or ``None``."""
        if not path.is_file():
            return f"{path}: no such file of the dataset"
        try:
            schema = self.schema(path)
        except (self.pa.ArrowInvalid, OSError) as err:
            kind = "a Parquet file" if path.suffix == ".parquet" else "an Arrow stream, as the datasets library writes"
            return f"{path}: not {kind} ({err})"
        types, problems = self.pa.types, []
        media, text = list(self.columns.values())[:2]
        for option, column in self.columns.items():
            if column not in schema.names:
                what = option.removesuffix("_column")
                problems.append(
                    f"no {what} column {column!r} (data.corpus.{option}; its columns: {', '.join(schema.names)})"
                )
        if media in schema.names:
            kind = schema.field(media).type
            if not (
                (types.is_struct(kind) and kind.get_field_index("bytes") >= 0) or line_tables.is_bytes(types, kind)
            ):
                feature = self.media.capitalize()
                problems.append(f"its column {media!r} is {kind}, not an {feature} feature or {self.media} bytes")
        if text in schema.names and not line_tables.is_text(types, schema.field(text).type):
            problems.append(f"its column {text!r} is {schema.field(text).type}, not text")
        return f"{path}: {'; '.join(problems)}" if problems else None

    def validated_files(self) -> tuple[dict[str, list[Path]], dict[Path, str]]:
        """The files of each split and each file's id (:func:`~line_tables.file_ids`).

        Raises:
            CorpusError: naming every file that cannot be read, is given for two splits, or (in a
                folder) names no split or two, and every split without files.
        """
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
        return files, line_tables.file_ids([p for ps in files.values() for p in ps])

    def manifest_rows(self, make_row: Callable[..., dict | None]) -> dict[str, list[dict]]:
        """The rows ``make_row(split, file, file id, row number, item id, cells)`` makes of every row
        of each split's files (``None``: a bad item, left out), once the files are validated; ``cells``
        are those of the columns but the id's.

        Raises:
            CorpusError: naming every file whose rows cannot be read (damaged), after the others are
                read, and every id that two rows share.
        """
        files, ids = self.validated_files()
        splits: dict[str, list[dict]] = {split: [] for split in files}
        problems: list[str] = []
        first_of: dict[str, tuple[Path, int]] = {}
        for split, paths in files.items():
            for path in paths:
                try:
                    for r, cells in enumerate(self.rows(path)):
                        item_id, cells = self.item_id(ids[path], r, cells)
                        if (first := first_of.setdefault(item_id, (path, r))) != (path, r):
                            problems.append(f"{path}: row {r}: the id {item_id!r} is also row {first[1]} of "
                                            f"{first[0]} (data.corpus.id_column)")  # fmt: skip
                        elif (row := make_row(split, path, ids[path], r, item_id, cells)) is not None:
                            splits[split].append(row)
                except self.pa.ArrowException as err:
                    problems.append(line_tables.damaged(path, err))
        CorpusError.raise_all(problems)
        return splits

    def item_id(self, file_id: str, r: int, cells: tuple) -> tuple[str, tuple]:
        """Row ``r``'s id, the id column's value (``<file>-<row>`` without one, or where it is empty),
        and its cells but the id's."""
        if "id_column" not in self.columns:
            return f"{file_id}-{r:06d}", cells
        *rest, value = cells
        return (str(value) if value not in (None, "") else f"{file_id}-{r:06d}"), tuple(rest)

    def rows(self, path: Path) -> Iterator[tuple]:
        """Each row's cells of the columns, in their order, in file order, a record batch at a time."""
        columns = list(self.columns.values())
        if path.suffix == ".parquet":
            batches = self.pa.parquet.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)
        else:
            batches = self.pa.ipc.open_stream(self.pa.memory_map(str(path)))
        for batch in batches:
            yield from zip(*(batch.column(name).to_pylist() for name in columns), strict=True)

    def words_and_bytes(self, cell: object, text: str | None, path: Path) -> tuple[list[str], bytes | str]:
        """A row's words and its media file bytes (:meth:`media_bytes`), or the reason the row
        cannot be used instead of the bytes (no transcription first)."""
        words = (text or "").split()
        reason = transcription_problem(words)
        return words, reason if reason is not None else self.media_bytes(cell, path)

    def media_bytes(self, cell: object, path: Path) -> bytes | str:
        """A row's image or audio file bytes: the cell's ``bytes``, or the file its ``path`` names
        (relative: to the Parquet file's folder); or why there are none."""
        if isinstance(cell, bytes):
            return cell or f"no {self.media}"
        if not isinstance(cell, dict) or not (cell.get("bytes") or cell.get("path")):
            return f"no {self.media}"
        if cell.get("bytes"):
            return cell["bytes"]
        named = Path(cell["path"])
        found = next((p for p in (named, path.parent / named) if p.is_file()), None)
        if found is None:
            return f"no {self.media} bytes, and its path {cell['path']} is not there (nor beside {path.name})"
        return found.read_bytes()


def add_table_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset DIR``, or ``--train``, ``--dev`` and ``--test`` files, of a preparation command;
    :func:`table_files_of` reads them back."""
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--dataset", help="a folder of Parquet or Arrow files, assigned to splits by their names")
    given.add_argument(
        "--train", nargs="+", help="the train split's Parquet or Arrow files (then --dev and --test too)"
    )
    parser.add_argument("--dev", nargs="+", help="the dev split's files (with --train)")
    parser.add_argument("--test", nargs="+", help="the test split's files (with --train)")


def table_files_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, list[str]] | None:
    """``{split: files}`` of ``--train``, ``--dev`` and ``--test``, or ``None`` with ``--dataset``;
    exits through ``parser`` unless the three come together."""
    if (args.train is None) != (args.dev is None) or (args.train is None) != (args.test is None):
        parser.error("--train, --dev and --test go together, instead of --dataset")
    return None if args.train is None else {"train": args.train, "dev": args.dev, "test": args.test}
