"""Page images with PAGE-XML and ALTO files written as Transkribus (PAGE 2013), eScriptorium (PAGE 2019,
ALTO v4) and older tools (PAGE 2010 ``Point`` children) export them: namespaces, ``Coords points=``,
``Baseline``, ``TextEquiv/Unicode``, ``Shape/Polygon POINTS``, ``String CONTENT``."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PAGE_2013 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
PAGE_2019 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_V4 = "http://www.loc.gov/standards/alto/ns-v4#"
LINE_HEIGHT = 40
WIDTH = 600


def draw_page(path: Path, texts: list[str], angle: float = 0.0) -> list[dict]:
    """A white page with a line of black text every 60 pixels, the whole page then turned clockwise by
    ``angle`` degrees about its centre (so the lines descend to the right); returns each line's
    polygon and baseline, turned the same way."""
    font = ImageFont.load_default(size=28)
    page = Image.new("L", (WIDTH, 60 * len(texts) + 100), 255)
    draw = ImageDraw.Draw(page)
    lines = []
    for i, text in enumerate(texts):
        left, top, right = 20, 40 + 60 * i, WIDTH - 20
        draw.text((left + 4, top + 4), text, fill=0, font=font)
        lines.append({"polygon": [(left, top), (right, top), (right, top + LINE_HEIGHT), (left, top + LINE_HEIGHT)],
                      "baseline": [(left, top + LINE_HEIGHT - 8), (right, top + LINE_HEIGHT - 8)]})  # fmt: skip
    if angle:
        page = page.rotate(-angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
        cx, cy, t = page.width / 2, page.height / 2, math.radians(angle)

        def turn(x: float, y: float) -> tuple[int, int]:
            dx, dy = x - cx, y - cy
            return round(cx + dx * math.cos(t) - dy * math.sin(t)), round(cy + dx * math.sin(t) + dy * math.cos(t))

        lines = [{key: [turn(*p) for p in points] for key, points in line.items()} for line in lines]
    page.save(path)
    return lines


def _points(points: list[tuple[int, int]], pair: str = ",", sep: str = " ") -> str:
    return sep.join(f"{x}{pair}{y}" for x, y in points)


def write_page_xml(
    xml: Path, image_name: str, lines: list[dict], texts: list[str | None], namespace: str = PAGE_2013
) -> Path:
    """A PAGE file as Transkribus (2013) or eScriptorium (2019) writes it: lines in a region, each with
    Coords, Baseline, words with their own TextEquiv, and the line's TextEquiv last."""
    body = []
    for i, (line, text) in enumerate(zip(lines, texts)):
        words = "".join(
            f'<Word id="w{i}_{j}"><Coords points="{_points(line["polygon"])}"/><TextEquiv><Unicode>{w}x</Unicode></TextEquiv></Word>'
            for j, w in enumerate((text or "").split())
        )
        equiv = "" if text is None else f'<TextEquiv conf="0.9"><Unicode>{text}</Unicode></TextEquiv>'
        body.append(
            f'<TextLine id="r1l{i + 1}" custom="readingOrder {{index:{i};}}">'
            f'<Coords points="{_points(line["polygon"])}"/><Baseline points="{_points(line["baseline"])}"/>'
            f"{words}{equiv}</TextLine>"
        )
    xml.write_text(
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<PcGts xmlns="{namespace}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"<Metadata><Creator>Transkribus</Creator><Created>2026-01-01T00:00:00</Created><LastChange>2026-01-02T00:00:00</LastChange></Metadata>\n"
        f'<Page imageFilename="{image_name}" imageWidth="{WIDTH}" imageHeight="500">\n'
        f'<TextRegion id="r1" type="paragraph"><Coords points="0,0 {WIDTH},0 {WIDTH},500 0,500"/>\n'
        + "\n".join(body)
        + "\n<TextEquiv><Unicode>the region's text, not a line's</Unicode></TextEquiv></TextRegion>\n</Page>\n</PcGts>\n",
        encoding="utf-8",
    )
    return xml


def write_alto(xml: Path, image_name: str, lines: list[dict], texts: list[str | None], shapes: bool = True) -> Path:
    """An ALTO v4 file as eScriptorium writes it: ``Shape/Polygon POINTS="x y x y ..."``, ``BASELINE``
    points, ``String CONTENT`` words with ``SP`` between them; ``shapes=False``: bounding boxes only."""
    body = []
    for i, (line, text) in enumerate(zip(lines, texts)):
        xs, ys = [x for x, _ in line["polygon"]], [y for _, y in line["polygon"]]
        box = f'HPOS="{min(xs)}" VPOS="{min(ys)}" WIDTH="{max(xs) - min(xs)}" HEIGHT="{max(ys) - min(ys)}"'
        shape = f'<Shape><Polygon POINTS="{_points(line["polygon"], " ")}"/></Shape>' if shapes else ""
        strings = "<SP/>".join(f'<String CONTENT="{w}" {box}/>' for w in (text or "").split())
        body.append(
            f'<TextLine ID="eSc_line_{i}" {box} BASELINE="{_points(line["baseline"], " ")}">{shape}{strings}</TextLine>'
        )
    xml.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<alto xmlns="{ALTO_V4}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"<Description><MeasurementUnit>pixel</MeasurementUnit>"
        f"<sourceImageInformation><fileName>{image_name}</fileName></sourceImageInformation></Description>\n"
        f'<Layout><Page WIDTH="{WIDTH}" HEIGHT="500" PHYSICAL_IMG_NR="1" ID="eSc_dummypage_">'
        f'<PrintSpace HPOS="0" VPOS="0" WIDTH="{WIDTH}" HEIGHT="500"><TextBlock ID="eSc_textblock_1">\n'
        + "\n".join(body)
        + "\n</TextBlock></PrintSpace></Page></Layout>\n</alto>\n",
        encoding="utf-8",
    )
    return xml


def write_pages(
    folder: Path, count: int, texts: list[str], alto_every: int = 0, namespace: str = PAGE_2013
) -> list[Path]:
    """``count`` pages of ``texts`` (cycled) below ``folder``, PAGE files of ``namespace`` (every
    ``alto_every``-th ALTO v4)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for p in range(count):
        page_texts = [texts[(p + i) % len(texts)] for i in range(3)]
        lines = draw_page(folder / f"page{p:02d}.png", page_texts)
        if alto_every and p % alto_every == alto_every - 1:
            files.append(write_alto(folder / f"page{p:02d}.xml", f"page{p:02d}.png", lines, page_texts))
        else:
            files.append(write_page_xml(folder / f"page{p:02d}.xml", f"page{p:02d}.png", lines, page_texts, namespace))
    return files


def page_schema():
    """The published PAGE-XML 2019-07-15 schema, as lxml's validator: ``page.xsd`` of the OCR-D
    validators package, which ``make install`` installs without its dependencies (only the file is
    read; the package is never imported)."""
    import importlib.util

    from lxml import etree

    spec = importlib.util.find_spec("ocrd_validators")
    assert spec is not None, "ocrd-validators is not installed: pip install --no-deps 'ocrd-validators==2.67.1'"
    xsd = Path(next(iter(spec.submodule_search_locations))) / "page.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert PAGE_2019 == etree.parse(str(xsd)).getroot().get("targetNamespace")
    return schema
