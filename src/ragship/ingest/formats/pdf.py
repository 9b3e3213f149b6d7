"""PDFs (pypdf's text layer, a heading per page so citations name the page) and images; a page or image without
a text layer is read by OCR (Tesseract, through pytesseract; pages rendered by PDFium) when the source has OCR
on, and otherwise reported as needing it."""

from __future__ import annotations

import io
from pathlib import PurePath

from ragship.errors import ParseError
from ragship.ingest.formats.common import Parsed, Sections

MAX_PDF_PAGES = 5000
OCR_DPI = 300  # Tesseract reads body text best at 300 dpi
MIN_PAGE_CHARS = 20  # a page with less text than this has no real text layer (a scan with a page number)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
NEEDS_OCR = "turn OCR on for its source (`ingest --ocr`, or `ocr = true` in its [[sources]] entry)"


def parse_pdf(data: bytes, path: PurePath, ocr: bool = False) -> Parsed:
    """Text of every page under a "Page N" heading; with ocr, pages without a text layer are read by OCR."""
    reader = _open(data, path)
    try:
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as e:
        raise ParseError(f"{path}: corrupt or truncated PDF ({type(e).__name__}: {e}); re-export it") from None
    scanned = [i for i, text in enumerate(pages) if len(text) < MIN_PAGE_CHARS]
    if scanned and ocr:
        for i, text in zip(scanned, _ocr_pages(data, path, scanned)):
            pages[i] = text.strip() or pages[i]
    elif scanned and len(scanned) == len(pages):
        raise ParseError(f"{path}: no text layer (a scanned or image-only PDF); {NEEDS_OCR}")
    out = Sections()
    for number, text in enumerate(pages, 1):
        if text:
            out.heading(9, f"Page {number}", show=False)
            out.paragraph(text)
    return out.parsed(str(meta_title).strip() or path.stem, pages=len(pages),
                      **({"ocr_pages": len(scanned)} if scanned and ocr else {}))


def _open(data: bytes, path: PurePath):
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
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as e:
        raise ParseError(f"{path}: corrupt or truncated PDF ({type(e).__name__}: {e}); re-export it") from None
    return reader


def _ocr_pages(data: bytes, path: PurePath, numbers: list[int]) -> list[str]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise ParseError(f"{path}: PDFium cannot render it for OCR ({e}); re-export the PDF") from None
    try:
        return [_tesseract(pdf[i].render(scale=OCR_DPI / 72).to_pil(), path) for i in numbers]
    finally:
        pdf.close()


def parse_image(data: bytes, path: PurePath, ocr: bool = False) -> Parsed:
    """The text of a scanned page or screenshot, by OCR."""
    from PIL import Image, UnidentifiedImageError

    if not ocr:
        raise ParseError(f"{path}: an image, whose text only OCR can read; {NEEDS_OCR}")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise ParseError(f"{path}: not a readable image ({type(e).__name__}: {e}); check the file") from None
    return Parsed(_tesseract(image, path).strip(), path.stem, metadata={"ocr_pages": 1})


def _tesseract(image, path: PurePath) -> str:
    import pytesseract

    try:
        return pytesseract.image_to_string(image, timeout=120)
    except pytesseract.TesseractNotFoundError:
        raise ParseError(f"{path}: OCR needs Tesseract, which is not installed; install Debian's `tesseract-ocr` "
                         "(or turn OCR off for this source)") from None
    except (RuntimeError, pytesseract.TesseractError) as e:
        raise ParseError(f"{path}: OCR failed ({e}); check the scan, or turn OCR off for this source") from None
