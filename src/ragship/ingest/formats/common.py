"""What every format parser shares: the Parsed result, text decoding, the zip-bomb check, and Sections, which
assembles a document's text while recording where its headings (pages, slides, sheets, messages) start."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Callable, TypeVar

from ragship.errors import ParseError

MAX_UNPACKED_BYTES = 500_000_000  # a .docx/.pptx/.xlsx/.epub unpacked
T = TypeVar("T")


@dataclass(frozen=True)
class Parsed:
    text: str
    title: str
    headings: tuple[tuple[int, int, str], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)  # e.g. language, pages, slides, sheets, ocr


def decode_text(data: bytes, path: PurePath) -> str:
    """UTF-8 (with or without BOM) text, refusing binary data."""
    if b"\x00" in data[:8192]:
        raise ParseError(f"{path}: contains NUL bytes, so it looks binary; only text files can be ingested as "
                         f"{path.suffix}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ParseError(f"{path}: not valid UTF-8 (byte {e.start}); re-save it as UTF-8") from None


def check_unpacked(data: bytes, path: PurePath, kind: str, remedy: str) -> None:
    """Refuse what is not a zip container, or one that would unpack to more than MAX_UNPACKED_BYTES (a bomb)."""
    import io
    import zipfile

    if not data.startswith(b"PK"):
        raise ParseError(f"{path}: not a {kind} (not a zip container); check the file type")
    try:
        size = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ParseError(f"{path}: corrupt {kind} ({type(e).__name__}: {e}); {remedy}") from None
    if size > MAX_UNPACKED_BYTES:
        raise ParseError(f"{path}: unpacks to {size / 1e6:.0f} MB; the limit is {MAX_UNPACKED_BYTES / 1e6:.0f} MB "
                         "(a zip bomb, or a document to split)")


def open_package(load: Callable[[Any], T], data: bytes, path: PurePath, kind: str, remedy: str,
                 errors: tuple[type[Exception], ...] = ()) -> T:
    """`load` (a library's reader) on a zip container checked by check_unpacked; what it raises on a corrupt file
    (the usual suspects plus `errors`) becomes a ParseError naming the file, the kind and `remedy`."""
    import io
    import zipfile

    check_unpacked(data, path, kind, remedy)
    corrupt: tuple[type[Exception], ...] = (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError,
                                            OSError, *errors)
    try:
        return load(io.BytesIO(data))
    except corrupt as e:
        raise ParseError(f"{path}: corrupt {kind} ({type(e).__name__}: {e}); {remedy}") from None


class Sections:
    """Paragraphs joined by blank lines, with each heading's offset in the joined text."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.headings: list[tuple[int, int, str]] = []
        self.length = 0

    def heading(self, level: int, text: str, *, show: bool = True) -> None:
        """A heading starting here; with show, its text is also a paragraph of the document."""
        text = " ".join(text.split())
        if not text:
            return
        self.headings.append((self.length + (2 if self.parts else 0), level, text))
        if show:
            self.paragraph(text)

    def paragraph(self, text: str) -> None:
        text = text.strip()
        if text:
            self.length += len(text) + (2 if self.parts else 0)
            self.parts.append(text)

    def shifted(self, text: str, headings) -> None:
        """A block parsed on its own (a chapter's HTML) with its headings, appended with offsets shifted."""
        if text.strip():
            base = self.length + (2 if self.parts else 0) - (len(text) - len(text.lstrip()))
            self.headings.extend((max(0, base + offset), level, h) for offset, level, h in headings)
            self.paragraph(text)

    def parsed(self, title: str, **metadata: Any) -> Parsed:
        text = "\n\n".join(self.parts)
        # a heading recorded before a paragraph that never came points past the end; drop it
        headings = tuple(h for h in self.headings if h[0] < len(text))
        return Parsed(text, title, headings, metadata)
