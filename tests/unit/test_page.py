"""PAGE-XML and ALTO pages: reading the formats, cutting and levelling lines, splits by page, bad lines."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from asr_lstm.data.bad_items import read_bad_items
from asr_lstm.data.corpora.base import CorpusError
from asr_lstm.data.corpora.page import PageCorpus
from asr_lstm.data.corpora.page_xml import read_transcribed_page
from asr_lstm.data.corpora.splits import split_by_fraction
from asr_lstm.data.line_cut import baseline_angle, cut_line, polygon_problem
from tests.page_fixture import PAGE_2019, draw_page, page_schema, write_alto, write_page_xml, write_pages

TEXTS = ["a move to stop", "Mr Gaitskell from", "nominating any more"]


@pytest.mark.parametrize("namespace", ["2013-07-15", "2019-07-15"])
def test_a_page_file_gives_each_line_its_polygon_baseline_and_own_text(tmp_path, namespace):
    lines = draw_page(tmp_path / "p.png", TEXTS)
    ns = f"http://schema.primaresearch.org/PAGE/gts/pagecontent/{namespace}"
    page = read_transcribed_page(write_page_xml(tmp_path / "p.xml", "p.png", lines, [TEXTS[0], None, TEXTS[2]], ns))
    assert page.format == "page" and page.image == tmp_path / "p.png"
    assert [line.line_id for line in page.lines] == ["r1l1", "r1l2", "r1l3"]
    # the line's TextEquiv, not its words' ("ax movex ...") nor its region's
    assert [line.text for line in page.lines] == [TEXTS[0], None, TEXTS[2]]
    assert page.lines[0].polygon == [(20, 40), (580, 40), (580, 80), (20, 80)]
    assert page.lines[0].baseline == [(20, 72), (580, 72)]


def test_the_fixtures_page_2019_file_is_valid_by_the_published_schema_and_a_broken_one_is_not(tmp_path):
    from lxml import etree

    schema = page_schema()
    path = write_page_xml(tmp_path / "p.xml", "p.png", draw_page(tmp_path / "p.png", TEXTS), TEXTS, PAGE_2019)
    assert schema.validate(etree.parse(str(path))), schema.error_log
    broken = path.read_text().replace('<Baseline points="', '<Baseline pts="', 1)
    (tmp_path / "broken.xml").write_text(broken)
    assert not schema.validate(etree.parse(str(tmp_path / "broken.xml")))
    assert "pts" in str(schema.error_log)


def test_the_lowest_indexed_text_equiv_is_the_lines_and_page_2010_points_are_read(tmp_path):
    xml = tmp_path / "old.xml"
    xml.write_text(
        '<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19"><Page imageFilename="p.png">'
        '<TextRegion id="r"><TextLine id="l1"><Coords><Point x="1" y="2"/><Point x="30" y="2"/><Point x="30" y="9"/>'
        '</Coords><TextEquiv index="2"><Unicode>second</Unicode></TextEquiv>'
        '<TextEquiv index="1"><Unicode>first</Unicode></TextEquiv></TextLine></TextRegion></Page></PcGts>'
    )
    (line,) = read_transcribed_page(xml).lines
    assert line.polygon == [(1, 2), (30, 2), (30, 9)] and line.text == "first" and line.baseline is None


def test_an_alto_file_gives_polygons_baselines_and_its_words_joined(tmp_path):
    lines = draw_page(tmp_path / "p.png", TEXTS)
    page = read_transcribed_page(write_alto(tmp_path / "p.xml", "p.png", lines, TEXTS))
    assert page.format == "alto" and page.image == tmp_path / "p.png"
    assert [line.text for line in page.lines] == TEXTS
    assert page.lines[1].polygon == [(20, 100), (580, 100), (580, 140), (20, 140)]
    assert page.lines[1].baseline == [(20, 132), (580, 132)]
    boxes = read_transcribed_page(write_alto(tmp_path / "b.xml", "p.png", lines, TEXTS, shapes=False))
    assert boxes.lines[1].polygon == [(20, 100), (580, 100), (580, 140), (20, 140)]


def test_alto_hyphens_and_single_number_baselines_of_older_files(tmp_path):
    xml = tmp_path / "v2.xml"
    xml.write_text(
        '<alto xmlns="http://www.loc.gov/standards/alto/ns-v2#"><Description><sourceImageInformation>'
        "<fileName>p.png</fileName></sourceImageInformation></Description><Layout><Page><PrintSpace><TextBlock>"
        '<TextLine ID="l" HPOS="10" VPOS="5" WIDTH="100" HEIGHT="20" BASELINE="21">'
        '<String CONTENT="a"/><SP/><String CONTENT="hyphen"/><HYP CONTENT="-"/></TextLine>'
        "</TextBlock></PrintSpace></Page></Layout></alto>"
    )
    (line,) = read_transcribed_page(xml).lines
    assert line.text == "a hyphen-" and line.baseline == [(10, 21), (110, 21)]


def test_files_that_are_not_pages_or_have_bad_points_are_named(tmp_path):
    (tmp_path / "other.xml").write_text('<mets xmlns="http://www.loc.gov/METS/"/>')
    with pytest.raises(CorpusError, match=r"other\.xml: neither PAGE-XML nor ALTO .*'mets'"):
        read_transcribed_page(tmp_path / "other.xml")
    (tmp_path / "broken.xml").write_text("<PcGts")
    with pytest.raises(CorpusError, match=r"broken\.xml: not a readable XML file"):
        read_transcribed_page(tmp_path / "broken.xml")
    bad = write_page_xml(tmp_path / "bad.xml", "p.png", [{"polygon": [(1, 2)], "baseline": [(1, 2)]}] * 2, ["a", "b"])
    bad.write_text(bad.read_text().replace('points="1,2"', 'points="1,x 3"', 1).replace('id="r1l2"', 'id="r1l1"'))
    with pytest.raises(CorpusError, match=r"2 problems") as err:
        read_transcribed_page(bad)
    assert "points must be numbers, got '1,x 3'" in str(err.value) and "line id 'r1l1' appears twice" in str(err.value)
    assert str(bad) + ":" in str(err.value)


def test_the_baseline_angle_is_the_least_squares_slope():
    assert baseline_angle([(0, 0), (100, 10)]) == pytest.approx(math.degrees(math.atan(0.1)))
    assert baseline_angle([(0, 0), (50, 6), (100, 10)]) == pytest.approx(math.degrees(math.atan(0.1)))
    assert baseline_angle([(5, 5)]) == 0.0


def ink_rows(image: Image.Image) -> int:
    """How many pixel rows of a grey image hold ink (darker than mid-grey)."""
    return int((np.asarray(image) < 128).any(axis=1).sum())


def test_a_rotated_line_is_cut_by_its_polygon_and_levelled_along_its_baseline(tmp_path):
    straight = draw_page(tmp_path / "straight.png", TEXTS)
    rotated = draw_page(tmp_path / "rotated.png", TEXTS, angle=6.0)
    assert baseline_angle(rotated[0]["baseline"]) == pytest.approx(6.0, abs=0.3)
    page = Image.open(tmp_path / "rotated.png")
    level = cut_line(page, rotated[0]["polygon"], rotated[0]["baseline"])
    skewed = cut_line(page, rotated[0]["polygon"], None)
    reference = cut_line(Image.open(tmp_path / "straight.png"), straight[0]["polygon"], straight[0]["baseline"])
    # the text's ~190 ink columns climb 20 rows at 6 degrees; levelled, the ink spans what the straight line's does
    assert ink_rows(skewed) > ink_rows(reference) + 10
    assert abs(ink_rows(level) - ink_rows(reference)) <= 4
    assert abs(level.width - reference.width) <= 6


def test_ink_outside_the_polygon_becomes_paper():
    page = Image.new("L", (50, 50), 0)  # all ink
    cut = np.asarray(cut_line(page, [(0, 0), (40, 0), (0, 40)], None))
    assert cut[2, 2] == 0 and cut[38, 38] == 255


def test_degenerate_polygons_are_named():
    assert polygon_problem([(1, 1), (5, 5)], (100, 100)) == "degenerate polygon (2 distinct points)"
    assert polygon_problem([(1, 1), (5, 5), (9, 9)], (100, 100)) == "degenerate polygon (no area)"
    assert "outside the page image (100 x 100 pixels)" in polygon_problem([(200, 1), (300, 1), (300, 9)], (100, 100))
    assert polygon_problem([(-5, 1), (30, 1), (30, 9)], (100, 100)) is None  # clipped to the page


def test_pages_are_split_by_a_seeded_fraction_with_no_page_in_two_splits():
    pages = [f"p{i}" for i in range(10)]
    splits = split_by_fraction(pages, [0.8, 0.1, 0.1], seed=3)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [8, 1, 1]
    assert sorted(sum(splits.values(), [])) == pages
    assert split_by_fraction(list(reversed(pages)), [0.8, 0.1, 0.1], seed=3) == splits
    assert split_by_fraction(pages, [0.8, 0.1, 0.1], seed=4) != splits
    with pytest.raises(CorpusError, match="summing to 1"):
        split_by_fraction(pages, [0.8, 0.1], seed=0)
    with pytest.raises(CorpusError, match="train, dev and test need three pages at least, and there are 2"):
        split_by_fraction(pages[:2], [0.8, 0.1, 0.1], seed=0)


def test_prepare_cuts_every_line_and_skips_lines_without_text_or_area(tmp_path):
    pages = tmp_path / "pages"
    write_pages(pages, 5, TEXTS, alto_every=2)
    (pages / "mets.xml").write_text('<mets xmlns="http://www.loc.gov/METS/"/>')  # Transkribus' export has one
    lines = draw_page(pages / "page02.png", TEXTS)
    lines[2]["polygon"] = [(30, 30), (40, 40), (50, 50)]
    write_page_xml(pages / "page02.xml", "page02.png", lines, [TEXTS[0], None, TEXTS[2]])
    corpus = PageCorpus(pages, tmp_path / "data" / "lines", fractions=[0.6, 0.2, 0.2], seed=1)
    corpus.prepare(tmp_path / "data", on_error="skip")
    rows = {
        s: [json.loads(r) for r in (tmp_path / "data" / f"{s}.jsonl").read_text().splitlines()]
        for s in ("train", "dev", "test")
    }
    assert [len({r["writer"] for r in rows[s]}) for s in ("train", "dev", "test")] == [3, 1, 1]
    assert sum(len(r) for r in rows.values()) == 13
    skipped = read_bad_items(tmp_path / "data" / "skipped.tsv")
    assert sorted((b.id, b.reason.split(": ")[-1]) for b in skipped) == [
        ("page02-r1l2", "no transcription"),
        ("page02-r1l3", "degenerate polygon (no area)"),
    ]
    row = next(r for rs in rows.values() for r in rs if r["id"] == "page03-eSc_line_0")  # an ALTO page
    assert row["text"] == TEXTS[0] and "".join(row["chars"]) == TEXTS[0].replace(" ", "|")
    image = Image.open(row["image"])
    assert image.size == (row["width"], row["height"]) and ink_rows(image) > 10
    with pytest.raises(CorpusError, match=r"2 bad lines") as err:
        PageCorpus(pages, tmp_path / "raise" / "lines").prepare(tmp_path / "raise", on_error="raise")
    assert "page02.xml: line r1l2: no transcription" in str(err.value)


def test_missing_images_and_unreadable_pages_are_all_named_before_anything_is_written(tmp_path):
    pages = tmp_path / "pages"
    write_pages(pages, 4, TEXTS)
    (pages / "page01.png").unlink()
    (pages / "page03.xml").write_text('<PcGts xmlns="' + PAGE_2019 + '"><Page/>')
    with pytest.raises(CorpusError, match="2 problems") as err:
        PageCorpus(pages, tmp_path / "data" / "lines", fractions=[0.5, 0.25, 0.25]).prepare(tmp_path / "data")
    assert "page03.xml: not a readable XML file" in str(err.value)
    assert "page01.xml: its page image" in str(err.value) and "page01.png is missing" in str(err.value)
    assert not (tmp_path / "data" / "train.jsonl").exists()


def test_split_lists_name_each_splits_pages_and_unknown_or_shared_pages_are_refused(tmp_path):
    pages = tmp_path / "pages"
    write_pages(pages, 4, TEXTS)
    lists = {s: tmp_path / f"{s}.lst" for s in ("train", "dev", "test")}
    lists["train"].write_text("page00.xml\npage01\n")
    lists["dev"].write_text("page02\n")
    lists["test"].write_text("page03.xml\n")
    corpus = PageCorpus(pages, tmp_path / "lines", split_lists={s: str(p) for s, p in lists.items()})
    splits = corpus.split_rows()
    assert sorted({r["writer"] for r in splits["train"]}) == ["page00", "page01"]
    assert {r["writer"] for r in splits["test"]} == {"page03"}
    lists["test"].write_text("page03.xml\npage02\nnothing.xml\n")
    with pytest.raises(CorpusError, match="2 problems") as err:
        corpus.split_rows()
    assert f"{lists['test']}:2: page 'page02' is in both dev and test" in str(err.value)
    assert f"{lists['test']}:3: 'nothing.xml' is no PAGE or ALTO file" in str(err.value)
    with pytest.raises(ValueError, match="split_lists must name a file for each of"):
        PageCorpus(pages, tmp_path / "lines", split_lists={"train": "x"})


def test_a_demo_line_turned_on_its_page_keeps_its_corners_and_baseline_where_the_page_xml_says():
    from asr_lstm.data.generators.page_demo import BASELINE_AT, turned_line

    line = Image.new("L", (200, 40), 255)
    line.paste(0, (0, 0, 6, 6))  # a black square in the top-left corner
    turned, corners, baseline = turned_line(line, 3.0)
    assert turned.width > 200 and turned.height > 40
    x, y = corners[0]
    assert np.asarray(turned)[y + 2, x + 2] < 100  # the square is where the first corner says
    # clockwise: the top edge descends to the right by tan(3 degrees) of its length
    assert corners[1][1] - corners[0][1] == round(200 * math.sin(math.radians(3)))
    assert math.isclose(baseline_angle(baseline), 3.0, abs_tol=0.2)
    # the baseline starts BASELINE_AT of the line's height down its (turned) left edge
    t, drop = math.radians(3), BASELINE_AT * 40
    expected = (corners[0][0] - drop * math.sin(t), corners[0][1] + drop * math.cos(t))
    assert abs(baseline[0][0] - expected[0]) <= 1 and abs(baseline[0][1] - expected[1]) <= 1
