"""File parsers: bytes in, Parsed (text, title, headings, metadata) out. `PARSERS` maps a file suffix to its
parser (ragship.ingest.formats, one module per family); `parse_file` dispatches.

Every parser raises ParseError with a reason a user can act on; none returns partial garbage. Which library
reads which format, and why not one converter for all of them, is ADR 0018.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Callable

from ragship.errors import ParseError, UnsupportedFile
from ragship.ingest.formats.common import Parsed, decode_text
from ragship.ingest.formats.html import parse_epub, parse_html
from ragship.ingest.formats.mail import parse_eml, parse_mbox
from ragship.ingest.formats.office import parse_docx, parse_pptx
from ragship.ingest.formats.pdf import IMAGE_SUFFIXES, parse_image, parse_pdf
from ragship.ingest.formats.tables import parse_csv, parse_xlsx
from ragship.ingest.formats.text import CODE_SUFFIXES, parse_code, parse_json, parse_markdown, parse_rst, parse_txt

__all__ = ["PARSERS", "Parsed", "decode_text", "parse_file", "parse_html", "parse_markdown", "readable"]

PARSERS: dict[str, Callable[[bytes, PurePath], Parsed]] = {
    ".txt": parse_txt,
    ".text": parse_txt,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".rst": parse_rst,
    ".html": parse_html,
    ".htm": parse_html,
    ".epub": parse_epub,
    ".pdf": parse_pdf,
    ".docx": parse_docx,
    ".pptx": parse_pptx,
    ".xlsx": parse_xlsx,
    ".csv": parse_csv,
    ".tsv": parse_csv,
    ".eml": parse_eml,
    ".mbox": parse_mbox,
    ".json": parse_json,
    **{suffix: parse_code for suffix in CODE_SUFFIXES},
}
OCR_PARSERS: dict[str, Callable[..., Parsed]] = {".pdf": parse_pdf, **{s: parse_image for s in IMAGE_SUFFIXES}}


def readable(path: PurePath, ocr: bool = False) -> bool:
    """Whether a file found in a folder is one to ingest: a known format (images only when OCR is on)."""
    suffix = path.suffix.lower()
    return suffix in PARSERS or (ocr and suffix in OCR_PARSERS)


def parse_file(data: bytes, path: PurePath, ocr: bool = False) -> Parsed:
    suffix = path.suffix.lower()
    if suffix in OCR_PARSERS:
        parsed = OCR_PARSERS[suffix](data, path, ocr=ocr)
    elif suffix in PARSERS:
        parsed = PARSERS[suffix](data, path)
    else:
        raise UnsupportedFile(
            f"{path}: unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(PARSERS))}, "
            f"{', '.join(IMAGE_SUFFIXES)} (with OCR on), .jsonl/.jsonl.gz (BEIR corpus)"
        )
    if not parsed.text.strip():
        raise ParseError(f"{path}: no text found (empty, or only markup or images)")
    return parsed
