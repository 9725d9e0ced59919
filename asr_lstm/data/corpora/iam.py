"""IAM Handwriting Database text lines, prepared for the Large Writer Independent Text Line
Recognition Task (LWITLRT).

Layout read (as distributed by the FKI, University of Bern):

    <root>/ascii/lines.txt         one line a text line: ``a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop``
                                   (id, word segmentation ok|er, grey level, components, x y w h of the
                                   bounding box, transcription with ``|`` between words); ``#`` starts a comment
    <root>/ascii/forms.txt         optional; ``a01-000u 000 2 prt 7 5 52 36``: the second field is the writer
    <root>/lines/a01/a01-000u/a01-000u-00.png
    <split_dir>/trainset.txt, validationset1.txt, validationset2.txt, testset.txt
                                   the task's lists of line ids (a form id selects all its lines);
                                   ``split_dir`` defaults to ``<root>/largeWriterIndependentTextLineRecognitionTask``

Protocol: ``train`` = trainset (6161 lines, 283 writers), ``dev`` = validationset1 (900 lines;
``dev_lists`` can add validationset2, 940 lines), ``test`` = testset (1861 lines, 128 writers). Every
writer is in one set only; preparation checks it. Labels are characters with IAM's own word
separator ``|`` as the space (:mod:`asr_lstm.data.corpora.handwriting`), so a CTC output reads as the
transcription field of lines.txt.

Usage: ``python -m asr_lstm.data.corpora.iam --root /corpora/IAM --out data/iam``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.handwriting import WORD_SEPARATOR, HandwritingCorpus, form_of
from asr_lstm.data.units import Characters
from asr_lstm.text_files import numbered_lines

SPLIT_DIR = "largeWriterIndependentTextLineRecognitionTask"
VALIDATION_LISTS = ("validationset1", "validationset2")
STANDARD_SIZES = {"trainset": 6161, "validationset1": 900, "validationset2": 940, "testset": 1861}
SEGMENTATION_RESULTS = ("ok", "er")


def read_lines_txt(path: Path) -> dict[str, dict]:
    """``{line id: {"segmentation", "threshold", "bbox", "transcription"}}`` from ``ascii/lines.txt``.

    Raises:
        CorpusError: naming every malformed, repeated or empty line by its line number.
    """
    lines: dict[str, dict] = {}
    problems = []
    for lineno, line in numbered_lines(path, problems):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split(" ", 8)
        if len(cols) != 9 or cols[1] not in SEGMENTATION_RESULTS or not all(c.lstrip("-").isdigit() for c in cols[2:8]):
            problems.append(f"{path}:{lineno}: expected 'id ok|er grey components x y w h word|word|...', got {line!r}")
        elif cols[0] in lines:
            problems.append(f"{path}:{lineno}: line {cols[0]} appears twice")
        elif not cols[8].strip().strip(WORD_SEPARATOR):
            problems.append(f"{path}:{lineno}: line {cols[0]} has an empty transcription")
        else:
            lines[cols[0]] = {
                "segmentation": cols[1],
                "threshold": int(cols[2]),
                "bbox": [int(c) for c in cols[4:8]],
                "transcription": cols[8].strip(),
            }
    CorpusError.raise_all(problems)
    if not lines:
        raise CorpusError(f"{path}: no text lines")
    return lines


def read_writers(path: Path) -> dict[str, str]:
    """``{form id: writer id}`` from ``ascii/forms.txt``; empty when the file is absent.

    Raises:
        CorpusError: naming every line without a writer.
    """
    if not path.is_file():
        return {}
    writers, problems = {}, []
    for lineno, line in numbered_lines(path, problems):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split()
        if len(cols) < 2:
            problems.append(f"{path}:{lineno}: expected 'form writer ...', got {line!r}")
        else:
            writers[cols[0]] = cols[1]
    CorpusError.raise_all(problems)
    return writers


def line_image(root: Path, line_id: str) -> Path:
    """``<root>/lines/a01/a01-000u/a01-000u-00.png``."""
    form = form_of(line_id)
    return root / "lines" / form.split("-")[0] / form / f"{line_id}.png"


def image_size(path: Path, line_id: str) -> tuple[int, int]:
    """``(width, height)`` of a line image, read from its header; errors name the line and file."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise CorpusError(f"{path}: missing image of line {line_id}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise CorpusError(f"{path}: image of line {line_id} cannot be read ({err})") from None


class IamLines(HandwritingCorpus):
    """IAM text lines at ``root`` with the LWITLRT writer-independent splits.

    Args:
        root: directory holding ``ascii/`` and ``lines/``.
        split_dir: directory of the task's split lists (default ``<root>/largeWriterIndependentTextLineRecognitionTask``).
        dev_lists: the lists that make ``dev`` (``validationset1``, ``validationset2`` or both).
    """

    name = "iam"
    task = "Large Writer Independent Text Line Recognition"
    standard_sizes = STANDARD_SIZES

    def __init__(
        self,
        root: str | Path,
        split_dir: str | Path | None = None,
        dev_lists: tuple[str, ...] | list[str] = ("validationset1",),
    ):
        if not dev_lists or any(name not in VALIDATION_LISTS for name in dev_lists):
            raise ValueError(f"dev_lists must name validationset1 and/or validationset2, got {list(dev_lists)}")
        root = Path(root)
        super().__init__(
            root, split_dir or root / SPLIT_DIR, {"train": ("trainset",), "dev": tuple(dev_lists), "test": ("testset",)}
        )
        self._lines: dict[str, dict] = {}
        self._writers: dict[str, str] = {}

    def line_ids(self) -> set[str]:
        lines_txt = self.root / "ascii" / "lines.txt"
        if not lines_txt.is_file():
            raise CorpusError(f"{self.root}: no ascii/lines.txt (expected the IAM layout ascii/, lines/)")
        self._lines = read_lines_txt(lines_txt)
        self._writers = read_writers(self.root / "ascii" / "forms.txt")
        return set(self._lines)

    def row(self, line_id: str) -> dict:
        line = self._lines[line_id]
        image = line_image(self.root, line_id)
        width, height = image_size(image, line_id)
        chars = list(line["transcription"])
        return {
            "id": line_id,
            "image": str(image.resolve()),
            "chars": chars,
            "text": " ".join(Characters(WORD_SEPARATOR).words(chars)),
            "writer": self._writers.get(form_of(line_id), form_of(line_id)),
            "form": form_of(line_id),
            "segmentation": line["segmentation"],
            "width": width,
            "height": height,
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare IAM text-line manifests (LWITLRT train/dev/test).")
    parser.add_argument("--root", required=True, help="directory holding ascii/ and lines/")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl and tokens.txt")
    parser.add_argument(
        "--split-dir", default=None, help=f"directory of the task's split lists (default <root>/{SPLIT_DIR})"
    )
    parser.add_argument(
        "--dev-lists",
        nargs="+",
        default=["validationset1"],
        choices=VALIDATION_LISTS,
        help="validationset1 and/or validationset2",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_from_command_line("iam", lambda: IamLines(args.root, args.split_dir, args.dev_lists).prepare(args.out))


if __name__ == "__main__":
    main()
