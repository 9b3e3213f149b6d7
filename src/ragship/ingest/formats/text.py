"""Plain-text formats, kept verbatim so citations quote them exactly: text, Markdown, reStructuredText, JSON,
and source code (by language)."""

from __future__ import annotations

import re
from pathlib import PurePath

from ragship.errors import ParseError
from ragship.ingest.formats.common import Parsed, decode_text
from ragship.text import title_line


def parse_txt(data: bytes, path: PurePath) -> Parsed:
    """Plain text as written. A first line that reads as a title (text.title_line: short, no sentence's end, alone
    or followed by longer prose) is the document's title and kept apart from its text, as a BEIR row's title is:
    it is embedded and BM25-indexed once with every chunk, never quoted nor counted as a sentence's evidence."""
    text = decode_text(data, path)
    first, _, rest = text.partition("\n")
    following = rest.split("\n", 1)[0].strip() or None
    if rest.strip() and title_line(first, following):
        return Parsed(rest, first.strip())
    return Parsed(text, path.stem)


_FENCE = re.compile(r"^(```|~~~)")
_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")


def parse_markdown(data: bytes, path: PurePath) -> Parsed:
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


def parse_rst(data: bytes, path: PurePath) -> Parsed:
    """reStructuredText kept as written; its sections (as docutils parses them, any adornment style) are the
    headings, nested as in the document tree."""
    from docutils import nodes
    from docutils.core import publish_doctree

    text = decode_text(data, path)
    settings = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False,
                "doctitle_xform": False}
    try:
        tree = publish_doctree(text, source_path=str(path), settings_overrides=settings)
    except Exception as e:  # noqa: BLE001 - docutils raises many kinds on hostile input
        raise ParseError(f"{path}: reStructuredText docutils cannot read ({type(e).__name__}: {e})") from None
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    headings, cursor = [], 0
    for section in tree.findall(nodes.section):
        title = section.next_node(nodes.title)
        heading = " ".join(title.astext().split()) if title else ""
        level = sum(1 for p in _ancestors(section) if isinstance(p, nodes.section))
        offset = text.find(title.rawsource or heading, cursor) if title else -1
        if heading and offset >= 0:
            offset = line_starts[max(0, _line_of(line_starts, offset) - 1)] if _overlined(text, offset) else \
                line_starts[_line_of(line_starts, offset)]
            headings.append((offset, level, heading))
            cursor = offset + len(heading)
    doc_title = next((h for _, lvl, h in headings if lvl == 1), path.stem)
    return Parsed(text, doc_title, tuple(headings))


def _ancestors(node):
    while node is not None:
        yield node
        node = node.parent


def _line_of(line_starts: list[int], offset: int) -> int:
    from bisect import bisect_right

    return bisect_right(line_starts, offset) - 1


def _overlined(text: str, offset: int) -> bool:
    """Whether the title line at `offset` has an adornment line above it (=====\\nTitle\\n=====)."""
    before = text[:offset].rstrip("\n").rsplit("\n", 1)[-1]
    return len(before) >= 3 and len(set(before.strip())) == 1 and not before.strip()[0].isalnum()


def parse_json(data: bytes, path: PurePath) -> Parsed:
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
    title = value["title"] if isinstance(value, dict) and isinstance(value.get("title"), str) else path.stem
    return Parsed("\n".join(lines), title)


CODE_SUFFIXES = (".py", ".pyi", ".js", ".mjs", ".jsx", ".ts", ".tsx", ".java", ".kt", ".scala", ".go", ".rs", ".c",
                 ".h", ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".sh", ".bash", ".sql", ".r", ".lua")


DEFINITIONS = {"def", "class", "func", "fn", "function", "struct", "enum", "trait", "impl", "interface", "type",
               "module", "object", "record", "async"}


def parse_code(data: bytes, path: PurePath) -> Parsed:
    """Source code kept verbatim; its language from Pygments' lexer for the file name, and its top-level
    definitions as headings: unindented lines that Pygments tokenizes as a class or function name, or that
    open with a definition keyword (def, class, func, fn, struct, ...)."""
    from pygments.lexers import get_lexer_for_filename
    from pygments.token import Keyword, Name, Text
    from pygments.util import ClassNotFound

    text = decode_text(data, path)
    try:
        lexer = get_lexer_for_filename(path.name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return Parsed(text, path.name, metadata={"language": path.suffix.lstrip(".")})
    headings, line_start, first = {}, 0, None
    for offset, kind, value in lexer.get_tokens_unprocessed(text):
        if offset >= line_start and "\n" in text[line_start:offset]:
            line_start, first = text.rfind("\n", 0, offset) + 1, None
        if first is None and kind not in Text:
            first = (offset, kind, value)
        if first is None or first[0] != line_start:
            continue
        if kind in (Name.Class, Name.Function) or (first[1] in Keyword and first[2] in DEFINITIONS):
            end = text.find("\n", line_start)
            headings[line_start] = " ".join(text[line_start:end if end >= 0 else len(text)].split())[:120]
    headings = {_with_leading_comments(text, o): h for o, h in headings.items()}
    return Parsed(text, path.name, tuple((o, 1, h) for o, h in headings.items()), {"language": lexer.name})


_LEADING = ("//", "#", "/*", "*", "--", "@")  # comment and decorator lines that belong to the definition below


def _with_leading_comments(text: str, offset: int) -> int:
    """The start of the doc comment (or decorators) right above a definition, so its section holds them."""
    while offset > 0:
        previous = text.rfind("\n", 0, offset - 1) + 1
        if not text[previous:offset].lstrip().startswith(_LEADING):
            return offset
        offset = previous
    return offset
