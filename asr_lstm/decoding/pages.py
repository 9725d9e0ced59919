"""Decoding transcribed pages: the lines of a PAGE-XML or ALTO file are cut from its page image, recognised
as line images, and written back into a copy of the file (:func:`~asr_lstm.data.corpora.page_xml.write_hypotheses`),
so the result opens in Transkribus, eScriptorium or any PAGE / ALTO tool."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.page import is_transcribed_page, open_page_image, save_line
from asr_lstm.data.corpora.page_xml import TranscribedPage, read_transcribed_page, write_hypotheses
from asr_lstm.data.line_cut import polygon_problem


def is_page_file(name: str, kind: str) -> bool:
    """Whether an input of ``asr-lstm decode`` is a page file: an ``.xml`` PAGE or ALTO file, for a
    line-image model (an ``.xml`` input of a pen-stroke model is IAM-OnDB's stroke XML)."""
    path = Path(name)
    return kind == "image" and path.suffix.lower() == ".xml" and path.is_file() and is_transcribed_page(path)


@dataclass
class PageJob:
    """A page being decoded: its file, where its copy goes, and its lines' input ids (id -> line id)."""

    page: TranscribedPage
    out: Path
    lines: dict[str, str] = field(default_factory=dict)


def cut_pages(files: list[str], out_dir: Path) -> tuple[list[tuple[str, Path]], list[PageJob], list[str]]:
    """Cuts every line of every page file into ``out_dir/lines/<page>/<line>.png``.

    Returns:
        the ``(id, image)`` inputs (id ``<page>-<line>``), a job per readable page, and a message per
        page or line that cannot be decoded (the file and why).
    """
    inputs, jobs, problems = [], [], []
    for name in files:
        try:
            page = read_transcribed_page(name)
            image = open_page_image(page)
        except CorpusError as err:
            problems.append(str(err))
            continue
        job = PageJob(page, out_dir / page.path.name)
        for line in page.lines:
            reason = polygon_problem(line.polygon, image.size)
            if reason is not None:
                problems.append(f"{page.path}: line {line.line_id}: {reason}")
                continue
            out = out_dir / "lines" / page.path.stem / f"{line.line_id}.png"
            save_line(image, line, out)
            item_id = f"{page.path.stem}-{line.line_id}"
            inputs.append((item_id, out))
            job.lines[item_id] = line.line_id
        jobs.append(job)
    return inputs, jobs, problems


def write_pages(jobs: list[PageJob], hypotheses: dict[str, tuple[str, float]]) -> list[Path]:
    """Each job's copy of its page file with the hypotheses (input id -> (text, confidence)) of its lines."""
    return [
        write_hypotheses(job.page, {line: hypotheses[i] for i, line in job.lines.items() if i in hypotheses}, job.out)
        for job in jobs
    ]
