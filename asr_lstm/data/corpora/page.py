"""A handwriting corpus of your own: page images with their PAGE-XML or ALTO transcriptions.

Every ``*.xml`` below ``pages`` that is a PAGE or ALTO file is a page (others, such as Transkribus'
``mets.xml``, are ignored and counted in the log). Its image is found beside the file or in the
folder above it (Transkribus' ``page/`` sub-folder). Each text line is cut from its page by its
polygon and levelled along its baseline (:mod:`asr_lstm.data.line_cut`), written as a PNG under
``lines_dir`` and fed to the line-image features like an IAM line. Labels are the line's characters
with ``|`` between words (:mod:`asr_lstm.data.corpora.handwriting`): CER and WER are scored.

Splits are by page, so no page has lines in two splits: either ``split_lists`` (a file per split
naming page files, relative to ``pages``, one a line; a name without its ``.xml`` also matches) or
a seeded random ``fractions`` of the pages (train, dev, test).

A line without text, with a degenerate polygon or with a ``|`` in its text is a bad item: the data
policy (``data.on_error``) refuses or skips it, and skipped ones are listed and counted. A page file
that cannot be read, or whose image is missing, stops preparation with every such page named.

Usage: ``python -m asr_lstm.data.corpora.page --pages DIR --out data/page``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lxml import etree
from PIL import Image, UnidentifiedImageError

from asr_lstm.atomic import atomic_path
from asr_lstm.data.bad_items import BadItem
from asr_lstm.data.bidi import add_bidi_option
from asr_lstm.data.corpora.base import CorpusError, prepare_from_command_line
from asr_lstm.data.corpora.handwriting import WORD_SEPARATOR, LineCorpus
from asr_lstm.data.corpora.page_xml import (
    ALTO_NAMESPACE,
    PAGE_NAMESPACE,
    TextLine,
    TranscribedPage,
    read_transcribed_page,
)
from asr_lstm.data.corpora.speech import transcription_problem
from asr_lstm.data.corpora.splits import (
    add_split_options,
    check_split_lists,
    read_split_lists,
    split_by_fraction,
    split_lists_of,
)
from asr_lstm.data.line_cut import cut_line, polygon_problem
from asr_lstm.data.unicode_forms import add_form_option

log = logging.getLogger(__name__)


def is_transcribed_page(path: Path) -> bool:
    """Whether an XML file's root element is PAGE's or ALTO's (read from its first bytes only)."""
    try:
        for _, element in etree.iterparse(str(path), events=("start",)):
            namespace = etree.QName(element).namespace or ""
            return bool(PAGE_NAMESPACE.match(namespace) or ALTO_NAMESPACE.match(namespace))
    except etree.XMLSyntaxError:
        return True  # a page file all the same: reading it names the damage
    return False


def page_id(pages: Path, xml: Path) -> str:
    """``pages/doc1/page/0001.xml`` -> ``doc1_page_0001``: unique below ``pages``, no white space."""
    return "_".join(xml.relative_to(pages).with_suffix("").parts).replace(" ", "_")


def open_page_image(page: TranscribedPage) -> Image.Image:
    """The grey page image a page file names, beside the file or in the folder above it (Transkribus'
    ``page/`` sub-folder).

    Raises:
        CorpusError: it is missing or cannot be read, naming the page file.
    """
    path = next((p for p in (page.image, page.path.parent.parent / page.image.name) if p.is_file()), None)
    if path is None:
        raise CorpusError(f"{page.path}: its page image {page.image} is missing")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("L")
    except (UnidentifiedImageError, OSError) as err:
        raise CorpusError(f"{path}: the page image of {page.path} cannot be read ({err})") from None


def save_line(page_image: Image.Image, line: TextLine, out: Path) -> Image.Image:
    """Cuts ``line`` (whose polygon :func:`~asr_lstm.data.line_cut.polygon_problem` accepts) from its
    page, levelled, and writes it to ``out`` as a PNG, atomically."""
    cut = cut_line(page_image, line.polygon, line.baseline)
    with atomic_path(out) as tmp:
        cut.save(tmp, format="PNG")
    return cut


class PageCorpus(LineCorpus):
    """Text lines of the PAGE-XML / ALTO pages below ``pages``.

    Args:
        pages: the folder of page files and their images.
        lines_dir: where the cut line images are written.
        split_lists: ``{split: file}`` naming each split's page files, or ``None`` to split by ``fractions``.
        fractions: the train, dev and test shares of the pages.
        seed: the shuffle of the pages before they are split by ``fractions``.
    """

    def __init__(
        self,
        pages: str | Path,
        lines_dir: str | Path,
        split_lists: dict[str, str] | None = None,
        fractions: list[float] | tuple[float, ...] = (0.8, 0.1, 0.1),
        seed: int = 0,
    ):
        self.root = Path(pages)
        self.lines_dir = Path(lines_dir)
        self.split_lists = check_split_lists(split_lists)
        self.fractions = [float(f) for f in fractions]
        self.seed = seed

    def params(self) -> dict:
        lists = {s: str(Path(f).resolve()) for s, f in self.split_lists.items()} if self.split_lists else None
        return {
            "corpus": "page",
            "pages": str(self.root.resolve()),
            "lines_dir": str(self.lines_dir.resolve()),
            "split_lists": lists,
            "fractions": None if self.split_lists else self.fractions,
            "seed": None if self.split_lists else self.seed,
        }

    def page_files(self) -> dict[str, Path]:
        """``{page id: file}`` of every PAGE or ALTO file below ``pages``.

        Raises:
            CorpusError: the folder is missing or holds no page file.
        """
        if not self.root.is_dir():
            raise CorpusError(f"{self.root}: no such folder of page files")
        candidates = sorted(self.root.rglob("*.xml"))
        files = {page_id(self.root, xml): xml for xml in candidates if is_transcribed_page(xml)}
        if len(files) < len(candidates):
            log.info("%s: %d XML files are neither PAGE nor ALTO, ignored", self.root, len(candidates) - len(files))
        if not files:
            raise CorpusError(f"{self.root}: no PAGE-XML or ALTO file below it")
        return files

    def assign_splits(self, files: dict[str, Path]) -> dict[str, list[str]]:
        """Page ids of each split, from the split lists or the seeded fractions; refuses unknown or shared pages."""
        if self.split_lists is None:
            return split_by_fraction(list(files), self.fractions, self.seed)
        by_name = {}
        for pid, xml in files.items():
            relative = xml.relative_to(self.root)
            by_name[str(relative)] = by_name[str(relative.with_suffix(""))] = pid
        unknown = f"no PAGE or ALTO file below {self.root}"
        return read_split_lists(
            self.split_lists, lambda entry: [by_name[entry]] if entry in by_name else None, unknown, "page"
        )

    def split_rows(self) -> dict[str, list[dict]]:
        files = self.page_files()
        assignment = self.assign_splits(files)
        pages, problems = {}, []
        for pid in sorted({p for ids in assignment.values() for p in ids}):
            try:
                pages[pid] = read_transcribed_page(files[pid])
            except CorpusError as err:
                problems.append(str(err))
        splits = {}
        for split, ids in assignment.items():
            rows = []
            for pid in filter(pages.__contains__, ids):
                rows.extend(self.page_rows(split, pid, pages[pid], problems))
            splits[split] = rows
            log.info("%s: %d pages, %d lines", split, len(ids), len(rows))
        CorpusError.raise_all(problems)
        return splits

    def page_rows(self, split: str, pid: str, page: TranscribedPage, problems: list[str]) -> list[dict]:
        """The rows of a page's usable lines, their images cut into ``lines_dir/<page id>/``; the
        others go to :attr:`bad_items`, a missing or unreadable page image to ``problems``."""
        try:
            image = open_page_image(page)
        except CorpusError as err:
            problems.append(str(err))
            return []
        rows = []
        for line in page.lines:
            line_id = f"{pid}-{line.line_id}"
            where = f"{page.path}: line {line.line_id}"
            words = (line.text or "").split()
            reason = polygon_problem(line.polygon, image.size) or transcription_problem(words)
            if reason is not None:
                self.bad_items.append(BadItem(split, line_id, str(page.path), f"{where}: {reason}"))
                continue
            out = self.lines_dir / pid / f"{line.line_id}.png"
            cut = save_line(image, line, out)
            chars = list(WORD_SEPARATOR.join(words))
            rows.append({
                "id": line_id,
                "image": str(out.resolve()),
                "chars": chars,
                "text": " ".join(words),
                "writer": pid,
                "page": str(page.path.resolve()),
                "line": line.line_id,
                "element": line.element_path,
                "width": cut.width,
                "height": cut.height,
            })  # fmt: skip
        return rows

    def describe(self, split: str, rows: list[dict]) -> str:
        return f"{split}: {len(rows)} lines of {len({r['writer'] for r in rows})} pages"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare text-line manifests from PAGE-XML / ALTO pages.")
    parser.add_argument("--pages", required=True, help="folder of page files (PAGE-XML or ALTO) and their images")
    parser.add_argument("--out", required=True, help="output directory for <split>.jsonl, tokens.txt and lines/")
    add_split_options(parser, "pages")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="skip")
    add_form_option(parser)
    add_bidi_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    corpus = PageCorpus(args.pages, Path(args.out) / "lines", split_lists_of(args), args.fractions, args.seed)
    prepare_from_command_line(
        "page data", lambda: corpus.prepare(args.out, args.on_error, normalization=args.normalization, bidi=args.bidi)
    )


if __name__ == "__main__":
    main()
