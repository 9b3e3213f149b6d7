"""Office documents: Word (python-docx) and PowerPoint (python-pptx). A slide is a heading ("Slide 3: Title"),
so a citation names the slide it quotes."""

from __future__ import annotations

from pathlib import PurePath

from ragship.ingest.formats.common import Parsed, Sections, open_package


def parse_docx(data: bytes, path: PurePath) -> Parsed:
    """Paragraph text of a Word document; "Heading N" / "Title" styles become headings."""
    from docx import Document as Docx

    doc = open_package(Docx, data, path, ".docx", "re-save it from Word")
    out = Sections()
    for para in doc.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        level = 1 if style == "Title" else int(style[8:]) if style.startswith("Heading ") and style[8:].isdigit() else 0
        if level:
            out.heading(level, para.text)
        else:
            out.paragraph(para.text)
    title = (doc.core_properties.title or "").strip() or next((h for _, lvl, h in out.headings if lvl == 1),
                                                              path.stem)
    return out.parsed(title)


def parse_pptx(data: bytes, path: PurePath) -> Parsed:
    """Every slide's text in reading order (text frames, tables row by row, grouped shapes), then its notes."""
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    deck = open_package(Presentation, data, path, ".pptx", "re-save it from PowerPoint", (PackageNotFoundError,))
    out = Sections()
    first_title = ""
    for number, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
        first_title = first_title or title
        out.heading(1, f"Slide {number}: {title}" if title else f"Slide {number}")
        for shape in _reading_order(slide.shapes):
            if shape is not title_shape:
                for text in _shape_text(shape):
                    out.paragraph(text)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                out.paragraph(f"Notes: {notes}")
    title = (deck.core_properties.title or "").strip() or first_title or path.stem
    return out.parsed(title, slides=len(deck.slides))


def _reading_order(shapes):
    """Top to bottom, then left to right (shapes without a position keep their place at the end)."""
    return sorted(shapes, key=lambda s: (s.top is None, s.top or 0, s.left or 0))


def _shape_text(shape):
    if shape.shape_type is not None and shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
        for inner in _reading_order(shape.shapes):
            yield from _shape_text(inner)
    elif getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells]
            if any(cells):
                yield " | ".join(cells)
    elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        yield shape.text_frame.text
