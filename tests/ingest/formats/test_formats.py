"""Each format's real sample (tests/data/formats, written by scripts/make_format_samples.py): its text, its
title, and headings that point where a citation should (slide, sheet, message, page, definition)."""

from pathlib import Path

import pytest

from conftest import make_engine
from ragship.errors import ParseError
from ragship.ingest.parsers import parse_file
from ragship.ingest.sources import Source
from ragship.types import Document, Failure

FORMATS = Path(__file__).parents[2] / "data/formats"


def parse(name: str, ocr: bool = False):
    path = FORMATS / name
    return parse_file(path.read_bytes(), path, ocr=ocr)


def headed(parsed) -> list[str]:
    """Each heading, checked to start a line of the text, by its text."""
    for offset, _, _ in parsed.headings:
        assert offset == 0 or parsed.text[offset - 1] == "\n"
    return [h for _, _, h in parsed.headings]


def test_pptx_slides_are_headings_with_tables_and_notes():
    parsed = parse("briefing.pptx")
    assert parsed.title == "Winter timetable briefing" and parsed.metadata == {"slides": 3}
    assert headed(parsed) == ["Slide 1: Winter timetable", "Slide 2: Night buses", "Slide 3: Depot capacity"]
    night = parsed.text[parsed.headings[1][0]:parsed.headings[2][0]]
    assert "Route N4 now runs every 40 minutes" in night and "Notes: Mention the ridership survey" in night
    assert "Kettle Square | 48" in parsed.text[parsed.headings[2][0]:]


def test_xlsx_rows_are_records_with_their_headers_under_a_sheet_heading():
    parsed = parse("fleet.xlsx")
    assert parsed.title == "Fleet register" and headed(parsed) == ["Sheet: Trams", "Sheet: Budget"]
    assert "Row 2. Number: 7; Built: 1911; Depot: Kettle Square; Livery: cream and maroon" in parsed.text
    assert parsed.text.index("Bogie overhaul") > parsed.headings[1][0]


def test_csv_sniffs_the_dialect_and_keeps_quoted_commas():
    parsed = parse("stops.csv")
    assert "Row 4. stop: Quarry Road, upper; zone: 3; step-free: yes; opened: 1978" in parsed.text
    assert parse_file(b"a\tb\n1\t2\n", Path("x.tsv")).text == "Row 2. a: 1; b: 2"


def test_eml_has_its_headers_plain_body_and_attachment_names():
    parsed = parse("signal-fault.eml")
    assert parsed.title == "Signal fault at Harbour Gate"
    assert parsed.text.startswith("Subject: Signal fault at Harbour Gate\nFrom: Ops Desk <ops@varnholt.example>")
    assert "Brandt Rail Services" in parsed.text and "<b>" not in parsed.text
    assert "Attachments: fault-log.txt" in parsed.text and parsed.metadata["from"].startswith("Ops Desk")


def test_mbox_gives_a_heading_per_message_and_unquotes_from_lines():
    parsed = parse("ops.mbox")
    assert headed(parsed) == ["Signal fault at Harbour Gate", "Re: Signal fault at Harbour Gate"]
    assert "\nFrom now on the box is inspected after every storm warning." in parsed.text
    with pytest.raises(ParseError, match="not an mbox"):
        parse_file(b"Subject: x\n\nbody", Path("x.mbox"))


def test_epub_chapters_in_spine_order_with_toc_titles_and_no_xml_declaration():
    parsed = parse("ferries-history.epub")
    assert parsed.title == "A Short History of the Varnholt Ferries"
    assert headed(parsed) == ["First crossings", "The bridge years"]
    assert parsed.text.startswith("The first steam ferry") and "xml version" not in parsed.text
    assert parsed.text.index("1868") < parsed.text.index("1931")


def test_rst_sections_as_headings_at_their_title_lines():
    parsed = parse("tides.rst")
    assert parsed.text == (FORMATS / "tides.rst").read_text()
    assert [(lvl, h) for _, lvl, h in parsed.headings] == [
        (1, "Harbour Tide Tables"), (2, "Reading the tables"), (3, "Corrections"), (2, "Storm surges")]
    for offset, _, heading in parsed.headings[1:]:
        assert parsed.text[offset:].startswith(heading)


def test_code_is_verbatim_with_its_language_and_top_level_definitions():
    parsed = parse("fares.go")
    assert parsed.text == (FORMATS / "fares.go").read_text() and parsed.metadata == {"language": "Go"}
    assert headed(parsed) == ["func Fare(zones int) int {", "func Concession(fare int) int {"]
    assert parsed.text[parsed.headings[1][0]:].startswith("// Concession halves the fare")  # its doc comment
    python = parse_file(b"import os\n\nclass Depot:\n    def open(self):\n        pass\n\n\n# the entry point\n"
                        b"@cached\nasync def main():\n    pass\n", Path("depot.py"))
    assert headed(python) == ["class Depot:", "async def main():"]
    assert python.text[python.headings[1][0]:].startswith("# the entry point\n@cached\nasync def main")


def test_scanned_pdf_and_image_need_ocr_and_are_read_with_it():
    for name in ("scanned-notice.pdf", "notice.png"):
        with pytest.raises(ParseError, match="turn OCR on for its source"):
            parse(name)
    pytest.importorskip("pytesseract")
    import shutil

    if not shutil.which("tesseract"):
        pytest.skip("Debian's tesseract-ocr is not installed (make test installs it)")
    for name in ("scanned-notice.pdf", "notice.png"):
        parsed = parse(name, ocr=True)
        assert "brass lantern" in parsed.text and parsed.metadata["ocr_pages"] == 1


def test_pdf_pages_are_headings_for_citations():
    parsed = parse_file((FORMATS.parent / "docs/ferries.pdf").read_bytes(), Path("ferries.pdf"))
    assert headed(parsed)[0] == "Page 1" and parsed.metadata["pages"] >= 1


def test_folder_skips_images_unless_ocr_is_on_and_reports_the_scan():
    off = list(Source(FORMATS, 10**9).documents())
    failures = {Path(f.path).name: f.reason for f in off if isinstance(f, Failure)}
    assert failures.keys() == {"scanned-notice.pdf"} and "no text layer" in failures["scanned-notice.pdf"]
    assert "formats/notice.png" not in {d.doc_id for d in off}
    if not __import__("shutil").which("tesseract"):
        pytest.skip("Debian's tesseract-ocr is not installed (make test installs it)")
    on = {d.doc_id: d for d in Source(FORMATS, 10**9, ocr=True).documents()}
    assert all(isinstance(d, Document) for d in on.values()) and "formats/notice.png" in on
    assert on["formats/scanned-notice.pdf"].metadata["ocr_pages"] == 1


def test_every_format_is_found_by_search(tmp_path, cache_dir):
    import shutil

    engine = make_engine(tmp_path / "home", cache_dir)
    ocr = bool(shutil.which("tesseract"))
    report = engine.ingest([FORMATS], ocr=ocr)
    assert report.ingested == 8 + (2 if ocr else 0) and not report.failures
    facts = {"briefing.pptx": "night route N4 every 40 minutes", "fleet.xlsx": "tram built 1911 livery",
             "stops.csv": "Quarry Road upper zone", "signal-fault.eml": "signal engineer Brandt Rail",
             "ops.mbox": "flooded relay box sealed unit", "ferries-history.epub": "steam ferry Anneliese 1868",
             "tides.rst": "Kettle Point moorings twelve minutes", "fares.go": "Silver Pass concession fare",
             **({"scanned-notice.pdf": "brass lantern found", "notice.png": "brass lantern found"} if ocr else {})}
    for name, query in facts.items():
        docs = [h.doc_id for h in engine.search(query, "hybrid", 3).hits]
        assert f"formats/{name}" in docs, (name, docs)
