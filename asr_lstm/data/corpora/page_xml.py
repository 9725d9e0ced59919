"""Text lines of transcribed page images, read from PAGE-XML or ALTO files as Transkribus, eScriptorium,
kraken and OCR-D write them.

PAGE (PRImA, schemas 2010 to 2019): ``PcGts/Page@imageFilename``, then ``TextRegion/TextLine`` with
``Coords@points="x,y x,y ..."`` (2010: ``Coords/Point@x,y``), an optional ``Baseline@points`` and the
line's own ``TextEquiv/Unicode`` (the one with the lowest ``@index`` when there are several; the
``TextEquiv`` of its words and regions are not the line's).

ALTO (Library of Congress, v2 to v4): ``Description/sourceImageInformation/fileName``, then
``TextBlock/TextLine`` with ``HPOS VPOS WIDTH HEIGHT`` (its bounding box), an optional
``Shape/Polygon@POINTS`` (``x1 y1 x2 y2 ...`` or ``x,y x,y ...``), ``BASELINE`` as points (v4) or as
one y (older files, then a horizontal line), and its text as the ``String@CONTENT`` sequence, words
joined by one space, a line-end ``HYP@CONTENT`` appended. Coordinates must be pixels
(``MeasurementUnit`` ``pixel``, the default of these tools).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.line_cut import Point

PAGE_NAMESPACE = re.compile(r"^http://schema\.primaresearch\.org/PAGE/gts/pagecontent/\d{4}-\d{2}-\d{2}$")
ALTO_NAMESPACE = re.compile(r"^http://(www\.loc\.gov/standards/alto/ns-v\d#|schema\.ccs-gmbh\.com/ALTO)$")


@dataclass(frozen=True)
class TextLine:
    """A text line of a page: its polygon and baseline in page pixels, and its text (``None``: none given).

    ``element_path`` locates the line's element in its file (lxml's ``getpath``), for writing back.
    """

    line_id: str
    polygon: list[Point]
    baseline: list[Point] | None
    text: str | None
    element_path: str


@dataclass(frozen=True)
class TranscribedPage:
    """One PAGE-XML or ALTO file: its format, the page image it describes and its text lines in order."""

    path: Path
    format: str
    image: Path
    lines: list[TextLine]


def parse_points(text: str, where: str) -> list[Point]:
    """``"x,y x,y ..."`` or ``"x y x y ..."`` -> ``[(x, y), ...]``.

    Raises:
        CorpusError: an odd count or a field that is not a number, naming ``where``.
    """
    fields = text.replace(",", " ").split()
    try:
        numbers = [float(f) for f in fields]
    except ValueError:
        raise CorpusError(f"{where}: points must be numbers, got {text!r}") from None
    if len(numbers) % 2:
        raise CorpusError(f"{where}: points need an x and a y each, got {text!r}")
    return list(zip(numbers[0::2], numbers[1::2]))


def read_transcribed_page(path: str | Path) -> TranscribedPage:
    """The text lines of a PAGE-XML or ALTO file, with its page image's path (relative to the file's folder).

    Raises:
        CorpusError: the file is not well-formed XML, is neither PAGE nor ALTO, names no image, or
            has malformed coordinates or repeated line ids (all of a file's named at once).
    """
    path = Path(path)
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    except (OSError, etree.XMLSyntaxError) as err:
        raise CorpusError(f"{path}: not a readable XML file ({err})") from None
    root = tree.getroot()
    namespace = etree.QName(root).namespace or ""
    if PAGE_NAMESPACE.match(namespace):
        return _read_page(path, tree, namespace)
    if ALTO_NAMESPACE.match(namespace):
        return _read_alto(path, tree, namespace)
    raise CorpusError(
        f"{path}: neither PAGE-XML nor ALTO (root element {etree.QName(root).localname!r} in namespace {namespace!r})"
    )


def _line_id(
    element: etree._Element, attribute: str, index: int, seen: set[str], where: str, problems: list[str]
) -> str:
    line_id = element.get(attribute) or f"l{index:04d}"
    if line_id in seen:
        problems.append(f"{where}: line id {line_id!r} appears twice")
    seen.add(line_id)
    return line_id


def _read_page(path: Path, tree: etree._ElementTree, namespace: str) -> TranscribedPage:
    ns = {"p": namespace}
    page = tree.find("p:Page", ns)
    if page is None or not page.get("imageFilename"):
        raise CorpusError(f"{path}: no Page element with an imageFilename")
    lines, problems, seen = [], [], set()
    for index, element in enumerate(page.iterfind(".//p:TextLine", ns)):
        where = f"{path}:{element.sourceline}"
        line_id = _line_id(element, "id", index, seen, where, problems)
        try:
            coords = element.find("p:Coords", ns)
            if coords is None:
                raise CorpusError(f"{where}: line {line_id} has no Coords")
            if coords.get("points") is not None:
                polygon = parse_points(coords.get("points"), where)
            else:  # PAGE 2010: Point children
                polygon = [(float(p.get("x")), float(p.get("y"))) for p in coords.iterfind("p:Point", ns)]
            baseline_element = element.find("p:Baseline", ns)
            baseline = None if baseline_element is None else parse_points(baseline_element.get("points", ""), where)
        except (CorpusError, TypeError, ValueError) as err:
            problems.append(str(err) if isinstance(err, CorpusError) else f"{where}: line {line_id}: bad Point ({err})")
            continue
        equivs = element.findall("p:TextEquiv", ns)
        equivs.sort(key=lambda e: int(e.get("index", "0")))
        unicode = equivs[0].find("p:Unicode", ns) if equivs else None
        text = unicode.text if unicode is not None and unicode.text else None
        lines.append(TextLine(line_id, polygon, baseline or None, text, tree.getpath(element)))
    CorpusError.raise_all(problems)
    return TranscribedPage(path, "page", path.parent / page.get("imageFilename"), lines)


def _read_alto(path: Path, tree: etree._ElementTree, namespace: str) -> TranscribedPage:
    ns = {"a": namespace}
    unit = tree.findtext("a:Description/a:MeasurementUnit", default="pixel", namespaces=ns).strip()
    if unit != "pixel":
        raise CorpusError(f"{path}: MeasurementUnit {unit!r}: only pixel coordinates are read")
    file_name = tree.findtext("a:Description/a:sourceImageInformation/a:fileName", namespaces=ns)
    if not file_name or not file_name.strip():
        raise CorpusError(f"{path}: no Description/sourceImageInformation/fileName naming the page image")
    lines, problems, seen = [], [], set()
    for index, element in enumerate(tree.iterfind(".//a:TextLine", ns)):
        where = f"{path}:{element.sourceline}"
        line_id = _line_id(element, "ID", index, seen, where, problems)
        try:
            polygon_element = element.find("a:Shape/a:Polygon", ns)
            if polygon_element is not None:
                polygon = parse_points(polygon_element.get("POINTS", ""), where)
            else:
                x, y, w, h = (float(element.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
                polygon = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
            baseline = _alto_baseline(element.get("BASELINE"), polygon, where)
        except CorpusError as err:
            problems.append(str(err))
            continue
        except (TypeError, ValueError):
            problems.append(f"{where}: line {line_id} has neither a Shape/Polygon nor HPOS, VPOS, WIDTH and HEIGHT")
            continue
        words = [s.get("CONTENT", "") for s in element.iterfind("a:String", ns)]
        hyphen = element.find("a:HYP", ns)
        text = " ".join(w for w in words if w) + (hyphen.get("CONTENT", "-") if hyphen is not None else "")
        lines.append(TextLine(line_id, polygon, baseline, text or None, tree.getpath(element)))
    CorpusError.raise_all(problems)
    return TranscribedPage(path, "alto", path.parent / file_name.strip(), lines)


def _alto_baseline(value: str | None, polygon: list[Point], where: str) -> list[Point] | None:
    """ALTO v4's baseline points, or an older file's single y as a horizontal line across the polygon."""
    if not value or not value.strip():
        return None
    fields = value.replace(",", " ").split()
    if len(fields) == 1:
        y = parse_points(f"0 {fields[0]}", where)[0][1]
        xs = [x for x, _ in polygon]
        return [(min(xs), y), (max(xs), y)]
    return parse_points(value, where)


# PAGE's TextLineType: the elements that follow TextEquiv, before which a new one goes
_AFTER_TEXT_EQUIV = ("TextStyle", "UserDefined", "Labels")


def write_hypotheses(page: TranscribedPage, hypotheses: dict[str, tuple[str, float]], out: str | Path) -> Path:
    """A copy of ``page``'s file at ``out`` whose lines named in ``hypotheses`` (line id -> (text,
    confidence in [0, 1])) carry the recognised text; everything else is kept as it was.

    PAGE: the line's own ``TextEquiv`` elements are replaced by one ``TextEquiv conf=...`` with the
    text's ``Unicode``, where the schema puts it (after the words, before ``TextStyle``), and
    ``Metadata/LastChange`` is set to now. ALTO: the line's ``String``, ``SP`` and ``HYP`` are replaced
    by one ``String CONTENT=... WC=...`` a word with ``SP`` between them.
    """
    tree = etree.parse(str(page.path), etree.XMLParser(resolve_entities=False, no_network=True))
    namespace = etree.QName(tree.getroot()).namespace
    by_id = {line.line_id: line for line in page.lines}
    for line_id, (text, confidence) in hypotheses.items():
        (element,) = tree.xpath(by_id[line_id].element_path)
        if page.format == "page":
            _page_text(element, namespace, text, confidence)
        else:
            _alto_text(element, namespace, text, confidence)
    if page.format == "page":
        last_change = tree.find(f"{{{namespace}}}Metadata/{{{namespace}}}LastChange")
        if last_change is not None:
            last_change.text = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tree.write(str(out), xml_declaration=True, encoding="UTF-8", standalone=True if page.format == "page" else None)
    return out


def _page_text(line: etree._Element, namespace: str, text: str, confidence: float) -> None:
    old = line.findall(f"{{{namespace}}}TextEquiv")
    following = [line.find(f"{{{namespace}}}{name}") for name in _AFTER_TEXT_EQUIV]
    position = line.index(old[0]) if old else next((line.index(e) for e in following if e is not None), len(line))
    for element in old:
        line.remove(element)
    equiv = etree.Element(f"{{{namespace}}}TextEquiv", conf=f"{confidence:.4f}")
    etree.SubElement(equiv, f"{{{namespace}}}Unicode").text = text
    line.insert(position, equiv)


def _alto_text(line: etree._Element, namespace: str, text: str, confidence: float) -> None:
    old = [e for e in line if etree.QName(e).localname in ("String", "SP", "HYP")]
    position = line.index(old[0]) if old else len(line)
    for element in old:
        line.remove(element)
    for k, word in enumerate(text.split()):
        if k:
            line.insert(position, etree.Element(f"{{{namespace}}}SP"))
            position += 1
        line.insert(position, etree.Element(f"{{{namespace}}}String", CONTENT=word, WC=f"{confidence:.4f}"))
        position += 1
