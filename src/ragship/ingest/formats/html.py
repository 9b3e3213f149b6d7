"""Web formats: HTML pages (visible text, h1–h6 headings) and EPUB books (each chapter's HTML in reading order,
under a heading per chapter)."""

from __future__ import annotations

from pathlib import Path, PurePath

from ragship.errors import ParseError
from ragship.ingest.formats.common import Parsed, Sections, decode_text, open_package

_BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "main", "aside", "li", "ul", "ol", "table", "tr",
    "blockquote", "pre", "br", "hr", "dd", "dt", "dl", "figure", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "svg"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
              "p", "li"}  # p and li close themselves in real pages: never counted as nesting
MAX_HTML_DEPTH = 512  # browsers render ~500 levels; deeper is hostile


def parse_html(data: bytes, path: PurePath) -> Parsed:
    """Visible text with a paragraph break at every block element; h1–h6 become headings. Iterative walk, so
    deeply nested markup cannot exhaust the recursion limit; nesting beyond MAX_HTML_DEPTH is refused."""
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

    not_text = (Comment, Declaration, Doctype, ProcessingInstruction)  # markup, not page text

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
        elif isinstance(node, NavigableString) and not isinstance(node, not_text):
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


def _check_depth(html: str, path: PurePath) -> None:
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


def parse_epub(data: bytes, path: PurePath) -> Parsed:
    """The chapters of an EPUB (ebooklib) in spine order; each chapter's headings are kept, and a chapter
    without an h1 gets its table-of-contents title as one."""
    import ebooklib
    from ebooklib import epub

    book = open_package(lambda f: epub.read_epub(f, options={"ignore_ncx": True}), data, path, ".epub",
                        "re-export it", (epub.EpubException,))
    toc = {link.href.split("#")[0]: link.title for link in _toc_links(book.toc)}
    out = Sections()
    for item_id, _ in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        chapter = parse_html(item.get_content(), Path(item.get_name()))
        if not any(level == 1 for _, level, _ in chapter.headings) and toc.get(item.get_name()):
            out.heading(1, toc[item.get_name()], show=False)
        out.shifted(chapter.text, chapter.headings)
    titles = book.get_metadata("DC", "title")
    return out.parsed(titles[0][0].strip() if titles and titles[0][0].strip() else path.stem)


def _toc_links(toc):
    for entry in toc:
        if isinstance(entry, tuple):  # (section, children)
            yield from _toc_links(entry[1])
        elif hasattr(entry, "href"):
            yield entry
