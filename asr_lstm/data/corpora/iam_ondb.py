"""IAM On-Line Handwriting Database (IAM-OnDB) text lines, for the writer-independent line
recognition task (IAM-OnDB-t2).

Layout read (as distributed by the FKI, University of Bern):

    <root>/lineStrokes/a01/a01-000/a01-000u-01.xml   pen strokes of line 1 of form a01-000u:
                                  <WhiteboardCaptureSession><StrokeSet><Stroke><Point x y time/>...
    <root>/ascii/a01/a01-000/a01-000u.txt            the form's text: an ``OCR:`` section, then
                                  ``CSR:`` and one line of text a written line (line 1 first)
    <split_dir>/trainset.txt, testset_v.txt, testset_t.txt, testset_f.txt
                                  the task's lists of form ids (or line ids); ``split_dir``
                                  defaults to ``<root>``

Protocol (Liwicki & Bunke 2005; Graves et al. 2009): ``train`` = trainset (5364 lines), ``dev`` =
testset_v (1438 lines; ``dev_lists`` can add testset_t, 1518), ``test`` = testset_f (3859 lines).
The lineStrokes files carry no writer id, so the form stands for its writer in the manifests (the
task lists themselves are writer-disjoint). Labels: the characters of the CSR text, spaces written
as ``|`` (:mod:`asr_lstm.data.corpora.handwriting`).

Usage: ``python -m asr_lstm.data.corpora.iam_ondb --root /corpora/IAM-OnDB --out data/iam_ondb``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.handwriting import WORD_SEPARATOR, HandwritingCorpus, form_of
from asr_lstm.data.strokes import read_stroke_xml

VALIDATION_LISTS = ("testset_v", "testset_t")
STANDARD_SIZES = {"trainset": 5364, "testset_v": 1438, "testset_t": 1518, "testset_f": 3859}


def read_csr(path: Path) -> list[str]:
    """The text lines of the ``CSR:`` section of an IAM-OnDB ascii file, line 1 first."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [k for k, line in enumerate(lines) if line.strip() == "CSR:"]
    if not starts:
        raise CorpusError(f"{path}: no 'CSR:' section (expected IAM-OnDB ascii text)")
    text = [line.strip() for line in lines[starts[0] + 1 :]]
    while text and not text[0]:
        text.pop(0)
    while text and not text[-1]:
        text.pop()
    if not text or any(not line for line in text):
        raise CorpusError(f"{path}: the CSR section must be one non-empty line of text a written line")
    return text


class IamOnDB(HandwritingCorpus):
    """IAM-OnDB pen-stroke lines at ``root`` with the IAM-OnDB-t2 splits.

    Args:
        root: directory holding ``lineStrokes/`` and ``ascii/``.
        split_dir: directory of ``trainset.txt``, ``testset_v.txt``, ... (default ``root``).
        dev_lists: the lists that make ``dev`` (``testset_v``, ``testset_t`` or both).
    """

    name = "iam_ondb"
    task = "IAM-OnDB-t2"
    standard_sizes = STANDARD_SIZES

    def __init__(
        self,
        root: str | Path,
        split_dir: str | Path | None = None,
        dev_lists: tuple[str, ...] | list[str] = ("testset_v",),
    ):
        if not dev_lists or any(name not in VALIDATION_LISTS for name in dev_lists):
            raise ValueError(f"dev_lists must name testset_v and/or testset_t, got {list(dev_lists)}")
        root = Path(root)
        super().__init__(
            root, split_dir or root, {"train": ("trainset",), "dev": tuple(dev_lists), "test": ("testset_f",)}
        )
        self._strokes: dict[str, Path] = {}
        self._texts: dict[str, Path] = {}
        self._csr: dict[str, list[str]] = {}

    def line_ids(self) -> set[str]:
        for folder in ("lineStrokes", "ascii"):
            if not (self.root / folder).is_dir():
                raise CorpusError(f"{self.root}: no {folder}/ (expected the IAM-OnDB layout lineStrokes/, ascii/)")
        self._strokes = {p.stem: p for p in sorted((self.root / "lineStrokes").glob("*/*/*.xml"))}
        self._texts = {p.stem: p for p in sorted((self.root / "ascii").glob("*/*/*.txt"))}
        if not self._strokes:
            raise CorpusError(f"{self.root}/lineStrokes: no stroke files under <a01>/<a01-000>/")
        return set(self._strokes)

    def row(self, line_id: str) -> dict:
        form = form_of(line_id)
        if form not in self._texts:
            raise CorpusError(f"{self._strokes[line_id]}: no transcription {form}.txt under {self.root / 'ascii'}")
        if form not in self._csr:
            self._csr[form] = read_csr(self._texts[form])
        csr = self._csr[form]
        number = line_id.rsplit("-", 1)[1]
        if not number.isdigit() or not 1 <= int(number) <= len(csr):
            raise CorpusError(
                f"{self._strokes[line_id]}: line {number} of form {form}, whose CSR text has {len(csr)} lines"
            )
        text = " ".join(csr[int(number) - 1].split())
        strokes = read_stroke_xml(self._strokes[line_id])
        return {
            "id": line_id,
            "strokes": str(self._strokes[line_id].resolve()),
            "chars": list(text.replace(" ", WORD_SEPARATOR)),
            "text": text,
            "writer": form,
            "form": form,
            "num_points": sum(len(s) for s in strokes),
            "duration": float(strokes[-1][-1, 2] - strokes[0][0, 2]),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare IAM-OnDB line manifests (IAM-OnDB-t2 train/dev/test).")
    parser.add_argument("--root", required=True, help="directory holding lineStrokes/ and ascii/")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl and tokens.txt")
    parser.add_argument(
        "--split-dir", default=None, help="directory of trainset.txt, testset_v.txt, ... (default <root>)"
    )
    parser.add_argument(
        "--dev-lists", nargs="+", default=["testset_v"], choices=VALIDATION_LISTS, help="testset_v and/or testset_t"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_from_command_line("iam-ondb", lambda: IamOnDB(args.root, args.split_dir, args.dev_lists).prepare(args.out))


if __name__ == "__main__":
    main()
