import re
from pathlib import Path

import pytest

from ragship.errors import ParseError, UnsupportedFile
from ragship.ingest.parsers import parse_file, parse_html, parse_markdown

DATA = Path(__file__).parents[1] / "data"


def parse(path: Path):
    return parse_file(path.read_bytes(), path)


def test_markdown_keeps_text_verbatim_and_finds_headings():
    path = DATA / "docs/handbook/trams.md"
    parsed = parse(path)
    assert parsed.text == path.read_text()
    assert parsed.title == "Varnholt Tram Handbook"
    levels = [(lvl, h) for _, lvl, h in parsed.headings]
    assert levels == [(1, "Varnholt Tram Handbook"), (2, "Lines"), (2, "Night service"), (3, "Accessibility"),
                      (2, "Fares")]
    for offset, level, heading in parsed.headings:
        assert parsed.text[offset:].startswith("#" * level + " " + heading)


def test_a_text_files_title_line_is_its_title_and_heading_not_prose():
    """Issue 49, finding 1: Wikipedia passages as .txt files with the title on line 1 answered with the title."""
    from ragship.ingest.formats.text import parse_txt

    titled = parse_txt(b"1980 Summer Olympics boycott\nThe 1980 Summer Olympics boycott was one of several boycotts of "
                       b"the Olympic Games. It ended with the 1984 Games.\n", Path("Olympics_68c116.txt"))
    assert titled.title == "1980 Summer Olympics boycott" and titled.headings == ()
    assert titled.text.startswith("The 1980 Summer Olympics boycott was")  # apart from the text, as in BEIR
    for title in ("Ida B. Wells", "O Brother, Where Art Thou?", "Yahoo! Answers", "First they came ..."):
        # what a title holds and a sentence does not end with (CLAP NQ's titles the first fix still quoted)
        assert parse_txt(f"{title}\nA passage about it, longer than its title by far.\n".encode(),
                         Path("t.txt")).title == title
    wrapped = parse_txt(b"Deployments happen on Tuesdays and Thursdays between 10:00\nand 12:00, with approval.\n",
                        Path("deploy.txt"))
    assert wrapped.title == "deploy" and wrapped.headings == ()  # prose wrapped at a width is no title
    sentence = parse_txt(b"The office opens at eight.\nVisitors sign in at the desk.\n", Path("faq.txt"))
    assert sentence.title == "faq" and sentence.headings == ()


def test_a_text_files_title_line_is_indexed_as_a_beir_rows_title_is(tmp_path):
    """Must-show 2 of issue 49: the title line of a .txt file counted as body text (its chunk began with it, the
    index text held it three times, its first sentence was scored with it), so CLAP NQ as .txt answered 9 points
    more and abstained 22 points less than as BEIR jsonl. Its rows now equal the jsonl row's."""
    import json

    from ragship.ingest.build import document_rows
    from ragship.ingest.document import make_document
    from ragship.ingest.sources import read_beir_corpus
    from ragship.settings import ChunkSettings

    class WordTokenizer:
        def token_spans(self, text):
            return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]

    title, body = "Russian Blue", "The coat is known as a double coat. Its eyes are almost always a dark green."
    (tmp_path / "c.jsonl").write_text(json.dumps({"_id": "rb", "title": title, "text": body}) + "\n")
    beir = next(read_beir_corpus(tmp_path / "c.jsonl", "c"))
    text = make_document(f"{title}\n{body}\n".encode(), "Russian_Blue.txt", doc_id="rb", root="t", where="t",
                         metadata={})
    fields = ("title", "text", "index_text", "start", "end", "heading_path")
    rows = [[{k: r[k] for k in fields} for r in document_rows(d, "", ChunkSettings(), WordTokenizer())]
            for d in (beir, text)]
    assert rows[1] == rows[0]


def test_markdown_ignores_hashes_inside_code_fences():
    parsed = parse_markdown(b"# Title\n\n```\n# not a heading\n```\n\n## Real\ntext\n", Path("x.md"))
    assert [h for _, _, h in parsed.headings] == ["Title", "Real"]


def test_html_visible_text_headings_and_title():
    parsed = parse(DATA / "docs/handbook/depot.html")
    assert parsed.title == "Kettle Square Depot"
    assert "thirty-two trams" in parsed.text
    assert "number 7, was built in 1911" in parsed.text
    for hidden in ("ignored", "color: red", "must not be indexed"):
        assert hidden not in parsed.text
    for offset, _, heading in parsed.headings:
        assert parsed.text[offset:].startswith(heading)


def test_html_deep_nesting_does_not_recurse_and_hostile_depth_is_refused():
    html = b"<div>" * 500 + b"deep text" + b"</div>" * 500
    assert parse_html(html, Path("deep.html")).text == "deep text"
    with pytest.raises(ParseError, match="deep.html: HTML nested 5000 levels deep; the limit is 512"):
        parse_html(b"<div>" * 5000 + b"x" + b"</div>" * 5000, Path("deep.html"))
    assert parse_html(b"<ul>" + b"<li><p>item" * 3000 + b"</ul>", Path("list.html")).text.count("item") == 3000


def test_a_zip_bomb_docx_is_refused_naming_the_limit(tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * 600_000_000)  # 600 MB of zeros: ~600 KB packed
    with pytest.raises(ParseError, match="bomb.docx: unpacks to 600 MB; the limit is 500 MB"):
        parse_file(buffer.getvalue(), Path("bomb.docx"))


def test_a_pdf_over_the_page_limit_is_refused(monkeypatch):
    from ragship.ingest.formats import pdf

    monkeypatch.setattr(pdf, "MAX_PDF_PAGES", 0)
    with pytest.raises(ParseError, match="ferries.pdf: 1 pages; the limit is 0"):
        parse(DATA / "docs/ferries.pdf")


def test_pdf_text_and_metadata_title():
    parsed = parse(DATA / "docs/ferries.pdf")
    assert parsed.title == "Varnholt Harbour Ferries"
    assert "every fifteen minutes" in parsed.text


def test_docx_paragraphs_headings_and_title():
    parsed = parse(DATA / "docs/handbook/lost-property.docx")
    assert parsed.title == "Varnholt Lost Property Office"
    assert [(lvl, h) for _, lvl, h in parsed.headings] == [(1, "Lost Property"), (2, "Collecting items")]
    assert "kept at the Kettle Square depot for sixty days" in parsed.text
    for offset, _, heading in parsed.headings:
        assert parsed.text[offset:].startswith(heading)


def test_json_fields_become_searchable_lines():
    parsed = parse(DATA / "docs/handbook/stops.json")
    assert parsed.title == "Varnholt tram stops"
    assert "stops.note: The Observatory stop has a heated waiting room." in parsed.text.splitlines()


@pytest.mark.parametrize("name, reason", [
    ("truncated.pdf", "corrupt or truncated PDF"),
    ("zip-renamed.pdf", "not a PDF"),
    ("binary.txt", "NUL bytes"),
    ("latin1.txt", "not valid UTF-8"),
    ("empty.md", "no text found"),
])
def test_bad_files_raise_parse_error_naming_the_file(name, reason):
    path = DATA / "bad" / name
    with pytest.raises(ParseError) as e:
        parse(path)
    assert str(path) in str(e.value) and reason in str(e.value)


def test_unsupported_extension_lists_supported_types():
    with pytest.raises(UnsupportedFile, match=r"unsupported file type \.xyz; supported: .*\.md"):
        parse(DATA / "bad/notes.xyz")
