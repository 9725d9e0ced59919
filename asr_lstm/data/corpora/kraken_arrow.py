"""A handwriting or print corpus of your own as kraken's binary datasets: the Arrow files of ``ketos compile``.

kraken compiles its ground truth (PAGE or ALTO pages, or line images with ``.gt.txt`` files) into
one Arrow IPC file (``ketos compile -f page *.xml -o dataset.arrow``), from which ``ketos train -f
binary`` trains; ``--random-split 0.8 0.1 0.1`` draws a split into it. The table, as
``kraken.lib.arrow_dataset.build_binary_dataset`` writes it (checked against kraken 7.1.1): a column ``lines`` of
structs whose ``text`` is a line's transcription and ``im`` its image as a PNG file's bytes
(kraken 7 adds ``language``); boolean columns ``train``, ``validation`` and ``test``, the drawn
split (all false without ``--random-split``); and under the schema's metadata key ``lines`` a JSON
record whose ``type`` is ``kraken_recognition_baseline`` (lines cut from pages along their
baselines) or ``kraken_recognition_bbox`` (line images as they were). Those files train here as
they are, read with pyarrow (``pip install 'asr-lstm[arrow]'``).

Splits (``split``): ``stored``, the files' own ``train``, ``validation`` (dev) and ``test`` columns,
as ``ketos train`` reads them (lines in none are left out, and counted in the log); ``fractions``,
a seeded random split of all their lines, as kraken partitions its training data; or, when
``datasets`` maps each of train, dev and test to its own files (``ketos train -e val.arrow``),
every line of a split's files.

A line's image is written unchanged to ``lines_dir/<dataset>/<row>.png`` (the row of its file,
counted from 0), whence the line-image features read it. Labels are the line's characters with
``|`` between words: CER and WER are scored. A line whose transcription is empty or holds ``|``, and
one whose image is missing or cannot be decoded, is a bad item (``data.on_error``). A file that is
missing, is not an Arrow file, has no ``lines`` column of ``text`` and ``im``, or is a kraken
dataset of another type, stops preparation, every one named.

Usage: ``python -m asr_lstm.data.corpora.kraken_arrow --datasets dataset.arrow --out data/kraken``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.bidi import add_bidi_option
from asr_lstm.data.corpora import line_tables
from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.handwriting import LineCorpus
from asr_lstm.data.corpora.speech import transcription_problem
from asr_lstm.data.corpora.splits import SPLITS, split_by_fraction
from asr_lstm.data.unicode_forms import add_form_option

log = logging.getLogger(__name__)

RECOGNITION_TYPES = ("kraken_recognition_baseline", "kraken_recognition_bbox")
SPLIT_COLUMNS = {"train": "train", "dev": "validation", "test": "test"}
SPLIT_CHOICES = ("stored", "fractions")
ALL = "all"

Datasets = str | os.PathLike | list | tuple | Mapping


def import_pyarrow():
    """The ``pyarrow`` module, or a :class:`CorpusError` with the install line."""
    return line_tables.import_pyarrow("data=kraken reads kraken's Arrow datasets")


def lines_field_problem(schema, types) -> str | None:
    """What keeps an Arrow schema from being a kraken recognition dataset's, or ``None`` (``types``:
    ``pyarrow.types``)."""
    if "lines" not in schema.names or not types.is_struct(schema.field("lines").type):
        return f"no column 'lines' of line structs (its columns: {', '.join(schema.names) or 'none'})"
    struct = schema.field("lines").type
    fields = {struct.field(i).name: struct.field(i).type for i in range(struct.num_fields)}
    if not line_tables.is_text(types, fields.get("text")):
        return "its 'lines' have no string field 'text'"
    if not line_tables.is_bytes(types, fields.get("im")):
        return "its 'lines' have no binary field 'im' (kraken's image_type 'raw')"
    record = json.loads((schema.metadata or {}).get(b"lines", b"{}"))
    kind = record.get("type") if isinstance(record, dict) else None
    if kind is not None and kind not in RECOGNITION_TYPES:
        return f"a kraken dataset of type {kind!r}, not of line recognition ({', '.join(RECOGNITION_TYPES)})"
    return None


class KrakenArrow(LineCorpus):
    """The text lines of kraken's binary datasets (Arrow IPC files of ``ketos compile``).

    Args:
        datasets: a dataset file or a list of them, split by ``split``; or ``{split: file or files}``
            for each of train, dev and test.
        lines_dir: where each line's image is written.
        split: ``stored`` (the files' ``train``, ``validation`` and ``test`` columns) or
            ``fractions`` (a seeded random split of the lines); not used with a file per split.
        fractions: the train, dev and test shares of the lines, with ``split: fractions``.
        seed: the shuffle of the lines before they are split by ``fractions``.
    """

    def __init__(
        self,
        datasets: Datasets,
        lines_dir: str | Path,
        split: str = "stored",
        fractions: list[float] | tuple[float, ...] = (0.8, 0.1, 0.1),
        seed: int = 0,
    ):
        self.pyarrow = import_pyarrow()
        if isinstance(datasets, Mapping):
            if set(datasets) != set(SPLITS):
                raise ValueError(f"data.corpus.datasets must name files for each of {SPLITS}, got {sorted(datasets)}")
            self.files = {split_: self.paths(datasets[split_]) for split_ in SPLITS}
        else:
            self.files = {ALL: self.paths(datasets)}
        if split not in SPLIT_CHOICES:
            raise ValueError(f"data.corpus.split must be one of {SPLIT_CHOICES}, got {split!r}")
        if split == "fractions" and ALL not in self.files:
            raise ValueError("data.corpus.split=fractions splits a list of datasets; with the files of each split "
                             "named in data.corpus.datasets, there is nothing to split")  # fmt: skip
        self.lines_dir = Path(lines_dir)
        self.split = split
        self.fractions = [float(f) for f in fractions]
        self.seed = seed

    @staticmethod
    def paths(files: str | os.PathLike | list | tuple) -> list[Path]:
        paths = [Path(files)] if isinstance(files, str | os.PathLike) else [Path(f) for f in files]
        if not paths:
            raise ValueError("data.corpus.datasets names no dataset file")
        return paths

    @property
    def splitting(self) -> str:
        """How the lines are split: ``stored``, ``fractions`` or ``files`` (a file per split)."""
        return self.split if ALL in self.files else "files"

    def params(self) -> dict:
        stamps = {key: line_tables.file_stamps(paths) for key, paths in self.files.items()}
        by_fraction = self.splitting == "fractions"
        return {
            "corpus": "kraken",
            "datasets": stamps,
            "lines_dir": str(self.lines_dir.resolve()),
            "split": self.splitting,
            "fractions": self.fractions if by_fraction else None,
            "seed": self.seed if by_fraction else None,
        }

    def describe_root(self) -> str:
        return ", ".join(str(p) for paths in self.files.values() for p in paths)

    def open(self, path: Path):
        """An Arrow IPC file reader of ``path`` (memory-mapped), which :meth:`check` has accepted."""
        return self.pyarrow.ipc.open_file(self.pyarrow.memory_map(str(path)))

    def check(self, path: Path) -> str | None:
        """What keeps ``path`` from being read as a kraken recognition dataset, or ``None``."""
        if not path.is_file():
            return f"{path}: no such kraken dataset (data.corpus.datasets)"
        try:
            reader = self.open(path)
        except (self.pyarrow.ArrowInvalid, OSError) as err:
            return f"{path}: not an Arrow IPC file, as kraken's ketos compile writes ({err})"
        try:
            problem = lines_field_problem(reader.schema, self.pyarrow.types)
        except json.JSONDecodeError as err:
            problem = f"its metadata record 'lines' is not JSON ({err})"
        if problem is None and sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches)) == 0:
            problem = "it holds no lines"
        return None if problem is None else f"{path}: {problem}"

    def stored_splits(self, path: Path, problems: list[str]) -> list[str | None]:
        """Each row's split by the file's ``train``, ``validation`` and ``test`` columns (``None`` for
        none); a row in two goes to ``problems``."""
        reader = self.open(path)
        columns = [(split, column) for split, column in SPLIT_COLUMNS.items() if column in reader.schema.names]
        splits: list[str | None] = []
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            flags = {split: batch.column(column).to_pylist() for split, column in columns}
            for r in range(batch.num_rows):
                marked = [split for split, values in flags.items() if values[r]]
                if len(marked) > 1:
                    columns_named = " and ".join(SPLIT_COLUMNS[s] for s in marked)
                    problems.append(f"{path}: row {len(splits)} is in both {columns_named}")
                splits.append(marked[0] if len(marked) == 1 else None)
        return splits

    def assign(self, ids: dict[Path, str], problems: list[str]) -> dict[Path, list[str | None]]:
        """``{file: each row's split}`` (``None``: in no split) for the way the lines are split."""
        if self.splitting == "files":
            return {path: [split] * self.row_count(path) for split, paths in self.files.items() for path in paths}
        paths = self.files[ALL]
        if self.splitting == "fractions":
            keys = [(path, r) for path in paths for r in range(self.row_count(path))]
            chosen = split_by_fraction([f"{ids[p]}-{r}" for p, r in keys], self.fractions, self.seed, "lines")
            split_of = {line: split for split, lines in chosen.items() for line in lines}
            assigned: dict[Path, list[str | None]] = {path: [] for path in paths}
            for path, r in keys:
                assigned[path].append(split_of[f"{ids[path]}-{r}"])
            return assigned
        assigned = {path: self.stored_splits(path, problems) for path in paths}
        counts = Counter(split for splits in assigned.values() for split in splits)
        if not any(counts[split] for split in SPLITS):
            problems.append(
                f"{self.describe_root()}: no line is in a stored split (the columns 'train', 'validation' and "
                f"'test' are all false: compiled without ketos compile --random-split); split the lines here "
                f"with data.corpus.split=fractions, or name the files of each split in data.corpus.datasets"
            )  # fmt: skip
            return assigned
        if counts[None]:
            log.info("%s: %d lines are in none of the stored splits, left out", self.describe_root(), counts[None])
        for split in SPLITS:
            if not counts[split]:
                problems.append(
                    f"{self.describe_root()}: no line is in the {split} split (column {SPLIT_COLUMNS[split]!r}); "
                    f"kraken's columns are drawn by ketos compile --random-split: split the lines here with "
                    f"data.corpus.split=fractions, or name the files of each split in data.corpus.datasets"
                )  # fmt: skip
        return assigned

    def row_count(self, path: Path) -> int:
        reader = self.open(path)
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))

    def lines(self, path: Path) -> Iterator[dict | None]:
        """Each row's ``{text, im}`` struct (``None`` for a null one), in file order."""
        reader = self.open(path)
        for i in range(reader.num_record_batches):
            yield from reader.get_batch(i).column("lines").to_pylist()

    def repeated_files(self) -> list[str]:
        """A problem for each file named more than once (its lines would be read twice)."""
        named: dict[Path, list[str]] = {}
        for key, paths in self.files.items():
            for path in paths:
                named.setdefault(path.resolve(), []).append(key)
        return [f"{path}: named {len(keys)} times in data.corpus.datasets"
                + ("" if ALL in keys else f" (for {' and '.join(keys)})") + "; each file once"
                for path, keys in named.items() if len(keys) > 1]  # fmt: skip

    def split_rows(self) -> dict[str, list[dict]]:
        paths = [p for ps in self.files.values() for p in ps]
        problems = self.repeated_files()
        problems += [problem for path in dict.fromkeys(paths) if (problem := self.check(path)) is not None]
        CorpusError.raise_all(problems)
        ids = line_tables.file_ids(paths)
        assigned = self.assign(ids, problems)
        CorpusError.raise_all(problems)
        splits: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for path, row_splits in assigned.items():
            try:
                for r, line in enumerate(self.lines(path)):
                    split = row_splits[r]
                    if split is not None and (row := self.row(split, path, ids[path], r, line)) is not None:
                        splits[split].append(row)
            except self.pyarrow.ArrowException as err:
                problems.append(line_tables.damaged(path, err))
        CorpusError.raise_all(problems)
        for split, rows in splits.items():
            log.info("%s: %d lines", split, len(rows))
        return splits

    def row(self, split: str, path: Path, dataset_id: str, r: int, line: dict | None) -> dict | None:
        """The manifest row of row ``r`` of ``path``, its image written under ``lines_dir``; or
        ``None`` with the reason in :attr:`bad_items`."""
        line_id = f"{dataset_id}-{r:06d}"
        words = ((line or {}).get("text") or "").split()
        data = (line or {}).get("im")
        reason = transcription_problem(words) or (None if data else "no image")
        if reason is None:
            try:
                image = line_tables.write_line_image(data, self.lines_dir / dataset_id / f"{r:06d}")
            except line_tables.UndecodableImage as err:
                reason = str(err)
        if reason is not None:
            self.bad_items.append(BadItem(split, line_id, str(path), f"{path}: row {r}: {reason}"))
            return None
        return line_tables.line_row(line_id, words, image, dataset=str(path.resolve()), row=r)

    def describe(self, split: str, rows: list[dict]) -> str:
        return f"{split}: {len(rows)} lines of {len({r['dataset'] for r in rows})} datasets"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare text-line manifests from kraken's binary datasets (.arrow).")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--datasets", nargs="+", help="dataset files, split by --split")
    given.add_argument("--train", nargs="+", help="the train split's dataset files (then --dev and --test too)")
    parser.add_argument("--dev", nargs="+", help="the dev split's dataset files (with --train)")
    parser.add_argument("--test", nargs="+", help="the test split's dataset files (with --train)")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="stored",
                        help="stored: the files' train/validation/test columns; fractions: a seeded split of the lines")  # fmt: skip
    parser.add_argument("--fractions", nargs=3, type=float, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "DEV", "TEST"))
    parser.add_argument("--seed", type=int, default=0, help="the shuffle of a split by --fractions")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl, tokens.txt and lines/")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="skip")
    add_form_option(parser)
    add_bidi_option(parser)
    args = parser.parse_args(argv)
    if args.train is not None and (args.dev is None or args.test is None):
        parser.error("--train needs --dev and --test")
    if args.train is None and (args.dev is not None or args.test is not None):
        parser.error("--dev and --test go with --train, not --datasets")
    if args.train is not None and args.split == "fractions":
        parser.error("--split fractions splits --datasets; --train, --dev and --test name each split's files")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    datasets = args.datasets or {"train": args.train, "dev": args.dev, "test": args.test}

    def prepare() -> None:
        corpus = KrakenArrow(datasets, Path(args.out) / "lines", args.split, args.fractions, args.seed)
        corpus.prepare(args.out, args.on_error, normalization=args.normalization, bidi=args.bidi)

    prepare_from_command_line("kraken data", prepare)


if __name__ == "__main__":
    main()
