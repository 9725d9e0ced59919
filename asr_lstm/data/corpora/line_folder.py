"""A handwriting or print corpus of your own as a folder of line images, each with a ``.gt.txt`` file.

This is the ground-truth layout of kraken's ``ketos train -f path``, OCRopus, Calamari and tesstrain,
and of the published sets made for them (GT4HistOCR, the OCR-D ground truth): below ``lines``, every
``NAME.gt.txt`` holds the transcription of the line image beside it, ``NAME.png`` (or ``.jpg``,
``.tif``, ...). OCRopus writes a binarised and a normalised image of each line, ``NAME.bin.png`` and
``NAME.nrm.png``, beside one ``NAME.gt.txt``: ``image_suffix`` (``.bin.png``) chooses which one
trains. Images without a ``.gt.txt`` are ignored and counted in the log.

Splits: either ``split_lists`` (a file per split naming lines, relative to ``lines``, as ``NAME``,
its image or its ``.gt.txt``, or folders, each meaning every line below it), or a seeded random
``fractions`` of the lines (``group_by: line``, as kraken partitions them) or of the folders holding
them (``group_by: folder``: every line of a page's or a book's folder in one split).

Labels are the line's characters with ``|`` between words: CER and WER are scored. A line whose
``.gt.txt`` is empty, holds more than one line of text, is not UTF-8 or has ``|`` in its text, and a
line whose image cannot be read, is a bad item (``data.on_error``).

Usage: ``python -m asr_lstm.data.corpora.line_folder --lines DIR --out data/lines``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.bidi import add_bidi_option
from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.handwriting import LineCorpus
from asr_lstm.data.corpora.speech import transcription_problem
from asr_lstm.data.corpora.splits import (
    SPLITS,
    add_split_options,
    check_split_lists,
    read_split_lists,
    split_by_fraction,
    split_lists_of,
)
from asr_lstm.data.images import IMAGE_SUFFIXES
from asr_lstm.data.unicode_forms import add_form_option
from asr_lstm.data.units import WORD_SEPARATOR
from asr_lstm.text_files import numbered_lines

log = logging.getLogger(__name__)

TRANSCRIPTION_SUFFIX = ".gt.txt"
GROUPS = ("line", "folder")


def line_key(image: Path, transcribed: set[Path]) -> Path | None:
    """The ``NAME`` (a path without suffix) whose ``.gt.txt`` transcribes ``image``: its name cut at
    one of its dots, the last first (``a.b.png`` -> ``a.b``, then ``a``), or ``None``."""
    name, cut = image.name, len(image.name)
    while (cut := name.rfind(".", 0, cut)) > 0:
        if (key := image.parent / name[:cut]) in transcribed:
            return key
    return None


def transcription_of(image: Path) -> Path | None:
    """The ``NAME.gt.txt`` beside ``image`` that transcribes it (``010001.bin.png`` ->
    ``010001.gt.txt``; see :func:`line_key`), or ``None``."""
    candidates = {image.parent / image.name[:cut] for cut in range(1, len(image.name)) if image.name[cut] == "."}
    key = line_key(image, {c for c in candidates if c.with_name(c.name + TRANSCRIPTION_SUFFIX).is_file()})
    return None if key is None else key.with_name(key.name + TRANSCRIPTION_SUFFIX)


def text_beside(image: Path, suffix: str) -> Path:
    """Where a line's recognised text goes beside its image: ``NAME<suffix>`` for the ``NAME`` of the
    ``.gt.txt`` there (``010001.bin.png`` -> ``010001.pred.txt``), else the image's name without its
    last suffix."""
    transcription = transcription_of(image)
    if transcription is None:
        return image.with_suffix(suffix)
    return transcription.with_name(transcription.name.removesuffix(TRANSCRIPTION_SUFFIX) + suffix)


def read_transcription(path: Path) -> tuple[list[str], str | None]:
    """The words of a ``.gt.txt`` file, and what keeps them from labelling the line, or ``None``."""
    problems: list[str] = []
    lines = [text for _, text in numbered_lines(path, problems) if text.strip()]
    if problems:
        return [], problems[0]
    if len(lines) > 1:
        return [], f"{path}: {len(lines)} lines of text; a line image's transcription is one line"
    words = lines[0].split() if lines else []
    reason = transcription_problem(words)
    return words, None if reason is None else f"{path}: {reason}"


class LineFolder(LineCorpus):
    """The transcribed line images below ``lines``.

    Args:
        lines: the folder of line images and their ``.gt.txt`` files (searched recursively).
        split_lists: ``{split: file}`` naming each split's lines or folders, or ``None`` to split by ``fractions``.
        fractions: the train, dev and test shares of the lines or folders.
        seed: the shuffle before the split by ``fractions``.
        group_by: ``line`` or ``folder``: what a split by ``fractions`` keeps together.
        image_suffix: which image of a line trains when there are several (``.bin.png``), or ``None``.
    """

    def __init__(
        self,
        lines: str | Path,
        split_lists: dict[str, str] | None = None,
        fractions: list[float] | tuple[float, ...] = (0.8, 0.1, 0.1),
        seed: int = 0,
        group_by: str = "line",
        image_suffix: str | None = None,
    ):
        if group_by not in GROUPS:
            raise ValueError(f"data.corpus.group_by must be one of {GROUPS}, got {group_by!r}")
        self.root = Path(lines)
        self.split_lists = check_split_lists(split_lists)
        self.fractions = [float(f) for f in fractions]
        self.seed, self.group_by, self.image_suffix = seed, group_by, image_suffix

    def params(self) -> dict:
        lists = {s: str(Path(f).resolve()) for s, f in self.split_lists.items()} if self.split_lists else None
        return {
            "corpus": "line_folder",
            "lines": str(self.root.resolve()),
            "split_lists": lists,
            "fractions": None if self.split_lists else self.fractions,
            "seed": None if self.split_lists else self.seed,
            "group_by": None if self.split_lists else self.group_by,
            "image_suffix": self.image_suffix,
        }

    def line_id(self, key: Path) -> str:
        """``lines/book1/0001`` -> ``book1_0001``: unique below ``lines``, no white space."""
        return "_".join(key.relative_to(self.root).parts).replace(" ", "_")

    def folder_of(self, key: Path) -> str:
        """The folder of a line, relative to ``lines`` (``.`` at the top)."""
        return key.parent.relative_to(self.root).as_posix()

    def find_lines(self) -> dict[Path, list[Path]]:
        """``{NAME: its images}`` of every ``NAME.gt.txt`` below ``lines``.

        Raises:
            CorpusError: the folder is missing or holds no ``.gt.txt`` file, two lines would share
                an id, or lines have several images and no ``image_suffix`` chooses.
        """
        if not self.root.is_dir():
            raise CorpusError(f"{self.root}: no such folder of line images")
        keys = {gt.with_name(gt.name[: -len(TRANSCRIPTION_SUFFIX)])
                for gt in self.root.rglob(f"?*{TRANSCRIPTION_SUFFIX}")}  # fmt: skip
        if not keys:
            raise CorpusError(f"{self.root}: no {TRANSCRIPTION_SUFFIX} file below it (a line image's transcription)")
        images: dict[Path, list[Path]] = {key: [] for key in keys}
        unpaired = 0
        for path in sorted(self.root.rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            key = line_key(path, keys)
            if key is None:
                unpaired += 1
            elif self.image_suffix is None or path.name == key.name + self.image_suffix:
                images[key].append(path)
        if unpaired:
            log.info("%s: %d images without a %s file, ignored", self.root, unpaired, TRANSCRIPTION_SUFFIX)
        problems = []
        ids: dict[str, Path] = {}
        for key in sorted(keys):
            if (other := ids.setdefault(self.line_id(key), key)) != key:
                problems.append(f"{key}{TRANSCRIPTION_SUFFIX} and {other}{TRANSCRIPTION_SUFFIX} make the same line id")
        several = sorted(key for key, found in images.items() if len(found) > 1)
        if several:
            names = ", ".join(p.name for p in images[several[0]])
            problems.append(
                f"{self.root}: {len(several)} lines have several images (such as {names}): choose one with "
                f"data.corpus.image_suffix (--image-suffix), e.g. {images[several[0]][0].name[len(several[0].name) :]}"
            )
        CorpusError.raise_all(problems)
        return images

    def assign_splits(self, lines: list[Path]) -> dict[str, list[str]]:
        """Line ids of each split, from the split lists or the seeded fractions."""
        by_id = {self.line_id(key): key for key in lines}
        if self.split_lists is not None:
            return read_split_lists(
                self.split_lists, self.resolver(lines), f"no line or folder below {self.root}", "line"
            )
        if self.group_by == "line":
            return split_by_fraction(list(by_id), self.fractions, self.seed, "lines")
        folders = split_by_fraction(
            sorted({self.folder_of(key) for key in lines}), self.fractions, self.seed, "folders"
        )
        split_of = {folder: split for split, chosen in folders.items() for folder in chosen}
        return {
            split: [i for i, key in sorted(by_id.items()) if split_of[self.folder_of(key)] == split] for split in SPLITS
        }

    def resolver(self, lines: list[Path]) -> Callable[[str], list[str] | None]:
        """What a split list's entry names: a line (``NAME``, its image or its ``.gt.txt``, relative to
        ``lines``) or a folder (its lines)."""
        named: dict[str, list[str]] = {}
        for key in sorted(lines):
            line_id, relative = self.line_id(key), key.relative_to(self.root)
            named[relative.as_posix()] = named[relative.as_posix() + TRANSCRIPTION_SUFFIX] = [line_id]
            for folder in relative.parents:
                if folder != Path("."):
                    named.setdefault(folder.as_posix(), []).append(line_id)
        keys = set(lines)

        def resolve(entry: str) -> list[str] | None:
            entry = entry.rstrip("/")
            if entry in named:
                return named[entry]
            key = line_key(self.root / entry, keys)
            return None if key is None else named[key.relative_to(self.root).as_posix()]

        return resolve

    def split_rows(self) -> dict[str, list[dict]]:
        images = self.find_lines()
        by_id = {self.line_id(key): key for key in images}
        splits = {}
        for split, ids in self.assign_splits(list(images)).items():
            splits[split] = [
                row for line_id in ids if (row := self.row(split, line_id, by_id[line_id], images)) is not None
            ]
        return splits

    def row(self, split: str, line_id: str, key: Path, images: dict[Path, list[Path]]) -> dict | None:
        """The manifest row of a line, or ``None`` with the reason in :attr:`bad_items`."""
        transcription = key.with_name(key.name + TRANSCRIPTION_SUFFIX)
        words, reason = read_transcription(transcription)
        if reason is None and not images[key]:
            wanted = f"{key.name}{self.image_suffix}" if self.image_suffix else f"{key.name}.png (or .jpg, .tif, ...)"
            reason = f"{transcription}: no line image {wanted} beside it"
        if reason is None:
            try:
                with Image.open(images[key][0]) as image:
                    width, height = image.size
            except (UnidentifiedImageError, OSError) as err:
                reason = f"{images[key][0]}: the line image cannot be read ({err})"
        if reason is not None:
            self.bad_items.append(BadItem(split, line_id, str(transcription), reason))
            return None
        return {
            "id": line_id,
            "image": str(images[key][0].resolve()),
            "chars": list(WORD_SEPARATOR.join(words)),
            "text": " ".join(words),
            "writer": self.folder_of(key),
            "width": width,
            "height": height,
        }

    def describe(self, split: str, rows: list[dict]) -> str:
        return f"{split}: {len(rows)} lines in {len({r['writer'] for r in rows})} folders"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare manifests from a folder of line images with .gt.txt files.")
    parser.add_argument("--lines", required=True, help="folder of line images, each with its NAME.gt.txt")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl and tokens.txt")
    add_split_options(parser, "lines or folders")
    parser.add_argument("--group-by", choices=GROUPS, default="line", help="what a split by --fractions keeps together")
    parser.add_argument("--image-suffix", help="the image of a line that trains when it has several (.bin.png)")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="skip")
    add_form_option(parser)
    add_bidi_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    lists = split_lists_of(args)
    corpus = LineFolder(args.lines, lists, args.fractions, args.seed, args.group_by, args.image_suffix)
    prepare_from_command_line(
        "line folder", lambda: corpus.prepare(args.out, args.on_error, normalization=args.normalization, bidi=args.bidi)
    )


if __name__ == "__main__":
    main()
