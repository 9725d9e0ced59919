"""The embedded demo of the page recipe: mini-IAM's lines composed into page images with PAGE-XML.

Each form of an IAM-layout corpus (the generated mini-IAM by default) becomes one page: its line
images, each turned by a small seeded angle (at most ``max_angle`` degrees either way, as lines
drift on a real page), stacked on a white page with margins, and a PAGE-XML 2019 file beside it, as
eScriptorium exports one: a ``TextRegion`` of the lines, each ``TextLine`` with its ``Coords``
polygon (the turned line image's corners), a ``Baseline`` (the line's lower quarter, turned the
same way) and its transcription's words as ``TextEquiv/Unicode``. The split lists
``splits/{train,dev,test}.lst`` name each page by the task list its form's lines are in (mini-IAM's
LWITLRT lists: no writer in two splits).

Usage: ``python -m asr_lstm.data.generators.page_demo --iam data/mini_iam --out data/page_demo``.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree
from PIL import Image

from asr_lstm.atomic import atomic_path
from asr_lstm.data.corpora.iam import IamLines
from asr_lstm.data.done import is_done, mark_done

log = logging.getLogger(__name__)

PAGE_2019 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
MARGIN = 40  # pixels around the lines
GAP = 24  # pixels between two lines
BASELINE_AT = 0.75  # of a line image's height from its top: where its baseline is taken to run

Point = tuple[int, int]


def turned_line(image: Image.Image, angle: float) -> tuple[Image.Image, list[Point], list[Point]]:
    """A line image turned clockwise by ``angle`` degrees (the canvas grown to hold it, paper around
    it), with its outline's four corners and its baseline's two ends in the turned image."""
    turned = image.rotate(-angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)
    t = math.radians(angle)
    w, h = image.size

    def turn(x: float, y: float) -> Point:
        dx, dy = x - w / 2, y - h / 2
        return (round(turned.width / 2 + dx * math.cos(t) - dy * math.sin(t)),
                round(turned.height / 2 + dx * math.sin(t) + dy * math.cos(t)))  # fmt: skip

    corners = [turn(0, 0), turn(w, 0), turn(w, h), turn(0, h)]
    return turned, corners, [turn(0, BASELINE_AT * h), turn(w, BASELINE_AT * h)]


def points(pairs: list[Point]) -> str:
    return " ".join(f"{x},{y}" for x, y in pairs)


def page_xml(image_name: str, size: tuple[int, int], lines: list[tuple[str, list[Point], list[Point], str]]) -> bytes:
    """A PAGE 2019 document of one region holding ``lines`` (id, polygon, baseline, text)."""
    ns = f"{{{PAGE_2019}}}"
    root = etree.Element(f"{ns}PcGts", nsmap={None: PAGE_2019})
    metadata = etree.SubElement(root, f"{ns}Metadata")
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    for name, value in (("Creator", "asr-lstm page_demo"), ("Created", now), ("LastChange", now)):
        etree.SubElement(metadata, f"{ns}{name}").text = value
    page = etree.SubElement(
        root, f"{ns}Page", imageFilename=image_name, imageWidth=str(size[0]), imageHeight=str(size[1])
    )
    region = etree.SubElement(page, f"{ns}TextRegion", id="r1", type="paragraph")
    xs = [x for _, polygon, _, _ in lines for x, _ in polygon]
    ys = [y for _, polygon, _, _ in lines for _, y in polygon]
    box = [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]
    etree.SubElement(region, f"{ns}Coords", points=points(box))
    for line_id, polygon, baseline, text in lines:
        line = etree.SubElement(region, f"{ns}TextLine", id=line_id)
        etree.SubElement(line, f"{ns}Coords", points=points(polygon))
        etree.SubElement(line, f"{ns}Baseline", points=points(baseline))
        etree.SubElement(etree.SubElement(line, f"{ns}TextEquiv"), f"{ns}Unicode").text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def compose_page(rows: list[dict], out: Path, rng: random.Random, max_angle: float) -> None:
    """``out.png`` and ``out.xml``: the rows' line images, each turned, one under the other."""
    placed, y, width = [], MARGIN, 0
    for row in rows:
        with Image.open(row["image"]) as image:
            turned, corners, baseline = turned_line(image.convert("L"), rng.uniform(-max_angle, max_angle))
        placed.append((row, turned, corners, baseline, y))
        y += turned.height + GAP
        width = max(width, turned.width)
    canvas = Image.new("L", (width + 2 * MARGIN, y - GAP + MARGIN), 255)
    lines = []
    for row, turned, corners, baseline, top in placed:
        canvas.paste(turned, (MARGIN, top))
        shift = [(x + MARGIN, yy + top) for x, yy in corners], [(x + MARGIN, yy + top) for x, yy in baseline]
        lines.append((f"tl_{len(lines) + 1}", *shift, row["text"]))
    with atomic_path(out.with_suffix(".png")) as tmp:
        canvas.save(tmp, format="PNG")
    with atomic_path(out.with_suffix(".xml")) as tmp:
        tmp.write_bytes(page_xml(out.with_suffix(".png").name, canvas.size, lines))


def generate(iam: str | Path, out: str | Path, seed: int = 0, max_angle: float = 2.0) -> Path:
    """Writes a page per form of the corpus at ``iam`` and the split lists under ``out``; skipped when done."""
    out = Path(out)
    params = {"iam": str(Path(iam).resolve()), "seed": seed, "max_angle": max_angle, "gap": GAP, "margin": MARGIN}
    if is_done(out / ".done", params):
        log.info("%s: pages already written, skipping", out)
        return out
    rng = random.Random(seed)
    lists: dict[str, list[str]] = {}
    for split, rows in IamLines(iam).split_rows().items():
        forms: dict[str, list[dict]] = {}
        for row in rows:
            forms.setdefault(row["form"], []).append(row)
        for form, form_rows in sorted(forms.items()):
            compose_page(sorted(form_rows, key=lambda r: r["id"]), out / "pages" / form, rng, max_angle)
            lists.setdefault(split, []).append(f"{form}.xml")
        log.info("%s: %d pages of %s", out / "pages", len(forms), split)
    (out / "splits").mkdir(parents=True, exist_ok=True)
    for split, names in lists.items():
        with atomic_path(out / "splits" / f"{split}.lst") as tmp:
            tmp.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    mark_done(out / ".done", params)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compose an IAM-layout corpus's lines into pages with PAGE-XML.")
    parser.add_argument("--iam", required=True, help="the corpus (ascii/, lines/ and the LWITLRT split lists)")
    parser.add_argument("--out", required=True, help="where pages/ and splits/ go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-angle", type=float, default=2.0, help="lines turn by up to this many degrees")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate(args.iam, args.out, args.seed, args.max_angle)


if __name__ == "__main__":
    main()
