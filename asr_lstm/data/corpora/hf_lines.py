"""A handwriting or print corpus of your own as a Hugging Face dataset of line images.

The line-recognition datasets of the Hugging Face Hub (Teklia's ``IAM-line``, ``RIMES-2011-line``,
``NorHand-v1-line`` and ``Belfort-line``, and the many made with the ``datasets`` library) are
Parquet files whose rows hold a line image in an ``image`` column and its transcription in a
``text`` column. A folder downloaded from the Hub or saved by the ``datasets`` library
(``save_to_disk``: Arrow files), or the files of each split, train as they are
(:mod:`~asr_lstm.data.corpora.hf_tables`: the split rule, the columns, images as bytes or paths).

A line's image is written unchanged to ``lines_dir/<file>/<row>.png`` (the row of its file, counted
from 0). Labels are the line's characters with ``|`` between words: CER and WER are scored. A line
whose transcription is empty or holds ``|``, and one whose image is missing or cannot be decoded, is
a bad item (``data.on_error``). A file that is missing or not Parquet (or Arrow), a file without the image or
text column, a file of the folder that names no split or two, and a split without files stop
preparation, every one named.

Usage: ``python -m asr_lstm.data.corpora.hf_lines --dataset DIR --out data/hf_lines``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.bidi import add_bidi_option
from asr_lstm.data.corpora import line_tables
from asr_lstm.data.corpora.base import prepare_from_command_line
from asr_lstm.data.corpora.handwriting import LineCorpus
from asr_lstm.data.corpora.hf_tables import HfTables, add_table_options, table_files_of
from asr_lstm.data.unicode_forms import add_form_option


class HfLines(LineCorpus):
    """The text lines of a Hugging Face dataset's Parquet or Arrow files.

    Args:
        lines_dir: where each line's image is written.
        dataset: a folder of Parquet or Arrow files, assigned to splits by their names (or ``None``).
        files: ``{split: file or files}`` for each of train, dev and test (when ``dataset`` is ``None``).
        image_column: the column of the line images (an ``Image`` feature, or image bytes).
        text_column: the column of the transcriptions.
        id_column: the column of the lines' ids, or ``None``: ``<file>-<row>``.
    """

    def __init__(
        self,
        lines_dir: str | Path,
        dataset: str | Path | None = None,
        files: Mapping | None = None,
        image_column: str = "image",
        text_column: str = "text",
        id_column: str | None = None,
    ):
        reader = "data=hf_lines reads Hugging Face datasets' Parquet and Arrow files"
        columns = {"image_column": image_column, "text_column": text_column}
        self.parquet = HfTables(reader, dataset, files, "image", columns, id_column)
        self.lines_dir = Path(lines_dir)

    def params(self) -> dict:
        return {"corpus": "hf_lines", **self.parquet.params(), "lines_dir": str(self.lines_dir.resolve())}

    def describe_root(self) -> str:
        return self.parquet.describe()

    def split_rows(self) -> dict[str, list[dict]]:
        return self.parquet.manifest_rows(self.row)

    def row(self, split: str, path: Path, file_id: str, r: int, line_id: str, cells: tuple) -> dict | None:
        """The manifest row of row ``r`` of ``path`` (``cells``: image, text), its image written under
        ``lines_dir``; or ``None`` with the reason in :attr:`bad_items`."""
        words, data = self.parquet.words_and_bytes(*cells, path)
        reason = data if isinstance(data, str) else None
        if reason is None:
            try:
                image = line_tables.write_line_image(data, self.lines_dir / file_id / f"{r:06d}")
            except line_tables.UndecodableImage as err:
                reason = str(err)
        if reason is not None:
            self.bad_items.append(BadItem(split, line_id, str(path), f"{path}: row {r}: {reason}"))
            return None
        return line_tables.line_row(line_id, words, image, parquet=str(path.resolve()), row=r)

    def describe(self, split: str, rows: list[dict]) -> str:
        return f"{split}: {len(rows)} lines of {len({r['parquet'] for r in rows})} files"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Prepare text-line manifests from a Hugging Face dataset's Parquet or Arrow files."
    )
    add_table_options(parser)
    parser.add_argument("--image-column", default="image", help="the column of the line images (default image)")
    parser.add_argument("--text-column", default="text", help="the column of the transcriptions (default text)")
    parser.add_argument("--id-column", help="the column of the lines' ids (default: none, <file>-<row>)")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl, tokens.txt and lines/")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="skip")
    add_form_option(parser)
    add_bidi_option(parser)
    args = parser.parse_args(argv)
    files = table_files_of(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def prepare() -> None:
        corpus = HfLines(Path(args.out) / "lines", args.dataset, files, args.image_column, args.text_column,
                         args.id_column)  # fmt: skip
        corpus.prepare(args.out, args.on_error, normalization=args.normalization, bidi=args.bidi)

    prepare_from_command_line("hf_lines data", prepare)


if __name__ == "__main__":
    main()
