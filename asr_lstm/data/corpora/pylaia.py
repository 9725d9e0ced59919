"""A handwriting corpus of your own as PyLaia keeps it: text tables and folders of line images.

PyLaia's ``pylaia-htr-train-ctc`` reads, per split, a text table of ``ID t o k e n s`` lines (each
symbol of the line separated by a blank, ``<space>`` between words) and finds the image ``ID.jpg``
(``.png``, ...) in one of its ``img_dirs``; an ``ID`` may hold folders (``train/im01``). Those tables
and folders train here as they are: ``tables`` names the train, dev and test tables (PyLaia's
``train.txt`` and ``val.txt``, and a test table), ``img_dirs`` the folders searched in order.

Labels are the line's characters with ``|`` between words (PyLaia's space symbol), so CER and WER
are scored as on the other line corpora. A line whose image is missing or cannot be read, whose
transcription is empty, or that uses a symbol of more than one character (other than the space
symbol) or ``|``, is a bad item (``data.on_error``). A table that is missing or not UTF-8, a line
without an ``ID``, and an ``ID`` in two places stop preparation, every one named with file and line.

Usage: ``python -m asr_lstm.data.corpora.pylaia --train train.txt --dev val.txt --test test.txt
--img-dirs images --out data/pylaia``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.bidi import add_bidi_option
from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.handwriting import LineCorpus
from asr_lstm.data.corpora.speech import transcription_problem
from asr_lstm.data.corpora.splits import SPLITS, check_split_lists, files_to_read
from asr_lstm.data.images import IMAGE_SUFFIXES
from asr_lstm.data.unicode_forms import add_form_option
from asr_lstm.data.units import WORD_SEPARATOR
from asr_lstm.text_files import numbered_lines

log = logging.getLogger(__name__)

SPACE = "<space>"


def find_image(line_id: str, img_dirs: list[Path]) -> Path | None:
    """The image of ``line_id``: ``DIR/ID`` with an image suffix, or ``DIR/ID`` itself when the ID
    has one, in the first of ``img_dirs`` that holds it."""
    for folder in img_dirs:
        exact = folder / line_id
        if exact.suffix.lower() in IMAGE_SUFFIXES and exact.is_file():
            return exact
        for suffix in sorted(IMAGE_SUFFIXES):
            for candidate in (folder / f"{line_id}{suffix}", folder / f"{line_id}{suffix.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def words_of(symbols: list[str], space: str) -> tuple[list[str], str | None]:
    """The words a PyLaia symbol sequence spells, and what keeps them from being character labels."""
    long = sorted({s for s in symbols if len(s) > 1 and s != space})
    if long:
        return [], f"symbols of more than one character {long}: labels here are characters"
    words = "".join(" " if s == space else s for s in symbols).split()
    return words, transcription_problem(words)


class PylaiaTables(LineCorpus):
    """The lines of PyLaia text tables, their images in ``img_dirs``.

    Args:
        tables: ``{split: file}`` for train, dev and test, each of ``ID t o k e n s`` lines.
        img_dirs: the folders where ``ID.<image suffix>`` is searched, in order.
        space: the symbol between words (PyLaia's ``<space>``).
    """

    def __init__(self, tables: dict[str, str], img_dirs: list[str] | str, space: str = SPACE):
        checked = check_split_lists(tables)
        if checked is None:
            raise ValueError(f"data.corpus.tables must name a text table for each of {SPLITS}")
        self.tables = {split: Path(path) for split, path in checked.items()}
        self.img_dirs = [Path(d) for d in ([img_dirs] if isinstance(img_dirs, str) else img_dirs)]
        self.space = space

    def params(self) -> dict:
        stamps = {split: [str(path.resolve()), path.stat().st_mtime_ns if path.is_file() else None]
                  for split, path in self.tables.items()}  # fmt: skip
        return {"corpus": "pylaia", "tables": stamps, "img_dirs": [str(d.resolve()) for d in self.img_dirs],
                "space": self.space}  # fmt: skip

    def split_rows(self) -> dict[str, list[dict]]:
        problems = [
            f"{d}: no such folder of line images (data.corpus.img_dirs)" for d in self.img_dirs if not d.is_dir()
        ]
        where: dict[str, str] = {}
        entries: dict[str, list[tuple[str, list[str]]]] = {split: [] for split in self.tables}
        for split, table in files_to_read(self.tables, "text table", "lines", problems):
            for lineno, line in numbered_lines(table, problems):
                fields = line.split()
                if not fields:
                    continue
                here = f"{table}:{lineno}"
                if (first := where.setdefault(fields[0], here)) != here:
                    problems.append(f"{here}: {fields[0]!r} is also at {first}")
                else:
                    entries[split].append((fields[0], fields[1:]))
        CorpusError.raise_all(problems)
        splits = {}
        for split, lines in entries.items():
            splits[split] = [
                row for line_id, symbols in lines if (row := self.row(split, line_id, symbols, where)) is not None
            ]
        return splits

    def row(self, split: str, line_id: str, symbols: list[str], where: dict[str, str]) -> dict | None:
        """The manifest row of a line, or ``None`` with the reason in :attr:`bad_items`."""
        words, reason = words_of(symbols, self.space)
        image = find_image(line_id, self.img_dirs)
        if reason is None and image is None:
            reason = f"no image {line_id}.png (or .jpg, ...) in {', '.join(str(d) for d in self.img_dirs)}"
        if reason is None:
            try:
                with Image.open(image) as opened:
                    width, height = opened.size
            except (UnidentifiedImageError, OSError) as err:
                reason = f"{image}: the line image cannot be read ({err})"
        if reason is not None:
            self.bad_items.append(
                BadItem(split, line_id, where[line_id].rsplit(":", 1)[0], f"{where[line_id]}: {reason}")
            )
            return None
        return {
            "id": line_id,
            "image": str(image.resolve()),
            "chars": list(WORD_SEPARATOR.join(words)),
            "text": " ".join(words),
            "writer": line_id.rsplit("/", 1)[0] if "/" in line_id else split,
            "width": width,
            "height": height,
        }

    def describe_root(self) -> str:
        return ", ".join(str(t) for t in self.tables.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare manifests from PyLaia text tables and line images.")
    for split in SPLITS:
        parser.add_argument(f"--{split}", required=True, help=f"the {split} text table ('ID t o k e n s' a line)")
    parser.add_argument("--img-dirs", nargs="+", required=True, help="folders of the line images (ID.jpg, ID.png, ...)")
    parser.add_argument("--space", default=SPACE, help=f"the symbol between words (default {SPACE})")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl and tokens.txt")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="skip")
    add_form_option(parser)
    add_bidi_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    tables = {split: getattr(args, split) for split in SPLITS}
    corpus = PylaiaTables(tables, args.img_dirs, args.space)
    prepare_from_command_line(
        "pylaia data", lambda: corpus.prepare(args.out, args.on_error, normalization=args.normalization, bidi=args.bidi)
    )


if __name__ == "__main__":
    main()
