"""File parsers: bytes in, (text, title, headings) out. One function per format; `parse_file` dispatches.

Every parser raises ParseError with a reason a user can act on; none returns partial garbage.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ragship.errors import ParseError, UnsupportedFile


@dataclass(frozen=True)
class Parsed:
    text: str
    title: str
    headings: tuple[tuple[int, int, str], ...] = ()


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM) text, refusing binary data."""
    if b"\x00" in data[:8192]:
        raise ParseError(f"{path}: contains NUL bytes, so it looks binary; only text files can be ingested as "
                         f"{path.suffix}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ParseError(f"{path}: not valid UTF-8 (byte {e.start}); re-save it as UTF-8") from None


def parse_txt(data: bytes, path: Path) -> Parsed:
    return Parsed(decode_text(data, path), path.stem)


_FENCE = re.compile(r"^(```|~~~)")
_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")


def parse_markdown(data: bytes, path: Path) -> Parsed:
    """Markdown is kept as written (citations quote it verbatim); ATX headings outside code fences are found."""
    text = decode_text(data, path)
    headings, offset, in_fence = [], 0, False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := _ATX.match(line.rstrip("\r\n"))):
            headings.append((offset, len(m.group(1)), m.group(2).strip()))
        offset += len(line)
    title = next((h[2] for h in headings if h[1] == 1), path.stem)
    return Parsed(text, title, tuple(headings))


_BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "main", "aside", "li", "ul", "ol", "table", "tr",
    "blockquote", "pre", "br", "hr", "dd", "dt", "dl", "figure", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "svg"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
              "p", "li"}  # p and li close themselves in real pages: never counted as nesting
MAX_HTML_DEPTH = 512  # browsers render ~500 levels; deeper is hostile
MAX_PDF_PAGES = 5000
MAX_UNPACKED_BYTES = 500_000_000  # a .docx unpacked


def parse_html(data: bytes, path: Path) -> Parsed:
    """Visible text with a paragraph break at every block element; h1–h6 become headings. Iterative walk, so
    deeply nested markup cannot exhaust the recursion limit; nesting beyond MAX_HTML_DEPTH is refused."""
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag

    html = decode_text(data, path)
    _check_depth(html, path)
    soup = BeautifulSoup(html, "html.parser")
    title_tag = soup.find("title")
    parts: list[str] = []
    length = 0
    headings: list[tuple[int, int, str]] = []

    def emit(s: str) -> None:
        nonlocal length
        parts.append(s)
        length += len(s)

    def paragraph_break() -> None:
        if parts and not parts[-1].endswith("\n\n"):
            emit("\n\n")

    for node in soup.descendants:
        if isinstance(node, Tag):
            if node.name in _BLOCK_TAGS:
                paragraph_break()
            if node.name in {"h1", "h2", "h3", "h4", "h5", "h6"}:
                heading = " ".join(node.get_text(" ").split())
                if heading:
                    headings.append((length, int(node.name[1]), heading))
        elif isinstance(node, NavigableString) and not isinstance(node, Comment):
            if any(p.name in _SKIP_TAGS for p in node.parents if isinstance(p, Tag)):
                continue
            words = " ".join(str(node).split())
            if words:
                if parts and not parts[-1].endswith(("\n\n", " ")) and str(node)[:1].isspace():
                    emit(" ")
                emit(words + (" " if str(node)[-1:].isspace() else ""))
    text = "".join(parts).strip()
    # strip() removed leading whitespace; shift heading offsets accordingly
    lead = len("".join(parts)) - len("".join(parts).lstrip())
    headings = [(max(0, o - lead), lvl, h) for o, lvl, h in headings]
    title = title_tag.get_text(" ").strip() if title_tag else ""
    title = title or next((h for _, lvl, h in headings if lvl == 1), path.stem)
    return Parsed(text, title, tuple(headings))


def _check_depth(html: str, path: Path) -> None:
    """Refuse markup nested deeper than MAX_HTML_DEPTH (each text node walks its ancestors: quadratic time)."""
    from html.parser import HTMLParser

    class Depth(HTMLParser):
        depth = deepest = 0

        def handle_starttag(self, tag, attrs):
            if tag not in _VOID_TAGS:
                self.depth += 1
                self.deepest = max(self.deepest, self.depth)

        def handle_endtag(self, tag):
            self.depth = max(0, self.depth - 1)

    counter = Depth()
    counter.feed(html)
    if counter.deepest > MAX_HTML_DEPTH:
        raise ParseError(f"{path}: HTML nested {counter.deepest} levels deep; the limit is {MAX_HTML_DEPTH}")


def parse_pdf(data: bytes, path: Path) -> Parsed:
    """Text of every page, pages separated by a blank line."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on bad files duplicate our ParseError

    if not data.startswith(b"%PDF-"):
        raise ParseError(f"{path}: not a PDF (no %PDF- header); check the file type")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ParseError(f"{path}: encrypted PDF; decrypt it (e.g. `qpdf --decrypt`) and ingest again")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise ParseError(f"{path}: {len(reader.pages)} pages; the limit is {MAX_PDF_PAGES} (split the PDF)")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as e:
        raise ParseError(f"{path}: corrupt or truncated PDF ({type(e).__name__}: {e}); re-export it") from None
    return Parsed("\n\n".join(p for p in pages if p), str(meta_title).strip() or path.stem)


def parse_docx(data: bytes, path: Path) -> Parsed:
    """Paragraph text of a Word document; "Heading N" / "Title" styles become headings."""
    import zipfile

    from docx import Document as Docx

    if not data.startswith(b"PK"):
        raise ParseError(f"{path}: not a .docx (not a zip container); check the file type")
    try:
        _check_unpacked(zipfile.ZipFile(io.BytesIO(data)), path)
        doc = Docx(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise ParseError(f"{path}: corrupt .docx ({type(e).__name__}: {e}); re-save it from Word") from None
    parts, headings, length = [], [], 0
    for para in doc.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        level = 1 if style == "Title" else int(style[8:]) if style.startswith("Heading ") and style[8:].isdigit() else 0
        if level:
            headings.append((length, level, text))
        parts.append(text)
        length += len(text) + 2
    title = (doc.core_properties.title or "").strip() or next((h for _, lvl, h in headings if lvl == 1), path.stem)
    return Parsed("\n\n".join(parts), title, tuple(headings))


def _check_unpacked(archive, path: Path) -> None:
    """Refuse a zip container (a .docx) that would unpack to more than MAX_UNPACKED_BYTES: a zip bomb."""
    size = sum(info.file_size for info in archive.infolist())
    if size > MAX_UNPACKED_BYTES:
        raise ParseError(f"{path}: unpacks to {size / 1e6:.0f} MB; the limit is {MAX_UNPACKED_BYTES / 1e6:.0f} MB "
                         "(a zip bomb, or a document to split)")


def parse_json(data: bytes, path: Path) -> Parsed:
    """A JSON document: its string values, one "key.path: value" line each, so every field is searchable."""
    import json

    try:
        value = json.loads(decode_text(data, path))
    except json.JSONDecodeError as e:
        raise ParseError(f"{path}: invalid JSON ({e.msg} at line {e.lineno}); fix or remove it") from None
    except RecursionError:
        raise ParseError(f"{path}: JSON nested too deeply to read safely; flatten it") from None
    lines: list[str] = []
    stack: list[tuple[str, object]] = [("", value)]
    while stack:  # iterative: deeply nested JSON cannot exhaust the recursion limit
        key, v = stack.pop()
        if isinstance(v, dict):
            stack.extend((f"{key}.{k}" if key else str(k), x) for k, x in reversed(list(v.items())))
        elif isinstance(v, list):
            stack.extend((key, x) for x in reversed(v))
        elif v is not None and str(v).strip():
            lines.append(f"{key}: {v}" if key else str(v))
    title = value.get("title") if isinstance(value, dict) and isinstance(value.get("title"), str) else path.stem
    return Parsed("\n".join(lines), title)


PARSERS: dict[str, Callable[[bytes, Path], Parsed]] = {
    ".txt": parse_txt,
    ".text": parse_txt,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
    ".docx": parse_docx,
    ".json": parse_json,
}


def parse_file(data: bytes, path: Path) -> Parsed:
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise UnsupportedFile(
            f"{path}: unsupported file type {path.suffix or '(none)'}; supported: "
            f"{', '.join(sorted(PARSERS))}, .jsonl/.jsonl.gz (BEIR corpus)"
        )
    parsed = parser(data, path)
    if not parsed.text.strip():
        raise ParseError(f"{path}: no text found (empty, or only markup; a scanned PDF needs OCR first)")
    return parsed
