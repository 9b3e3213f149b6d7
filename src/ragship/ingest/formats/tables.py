"""Tables: Excel workbooks (openpyxl, streamed read-only) and CSV files (the csv module's dialect sniffer). Each
row becomes a record that repeats the column headers ("Row 4. Line: 7; Depot: Kettle Square"), so a chunk cut
from the middle of a sheet still says what its values mean, and a citation names the sheet and the row."""

from __future__ import annotations

import io
from pathlib import PurePath
from typing import Any, Iterable, Sequence

from ragship.errors import ParseError
from ragship.ingest.formats.common import Parsed, Sections, decode_text, open_package

MAX_ROWS = 200_000  # per sheet; a bigger table is a database export, better ingested as JSONL records


def parse_xlsx(data: bytes, path: PurePath) -> Parsed:
    """Each sheet a heading ("Sheet: Budget"), its first non-empty row the headers, every later row a record.
    Cells are read as last calculated (formulas as their values)."""
    from openpyxl import load_workbook

    book = open_package(lambda f: load_workbook(f, read_only=True, data_only=True), data, path, ".xlsx",
                        "re-save it from Excel")
    out = Sections()
    try:
        for sheet in book.worksheets:
            out.heading(1, f"Sheet: {sheet.title}")
            _records(out, sheet.iter_rows(values_only=True), path, sheet.title)
    finally:
        book.close()
    title = (book.properties.title or "").strip() or path.stem
    return out.parsed(title, sheets=len(book.worksheets))


def parse_csv(data: bytes, path: PurePath) -> Parsed:
    """A CSV (or TSV) file: the delimiter sniffed from its start (quoting as Excel writes it: the sniffer's guess
    of quoting rules misreads doubled quotes), the first row the headers, every later row a record."""
    import csv

    text = decode_text(data, path)
    try:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else \
            csv.Sniffer().sniff(text[:16384], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    out = Sections()
    try:
        _records(out, csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), path, None)
    except csv.Error as e:
        raise ParseError(f"{path}: malformed CSV ({e}); check its quoting") from None
    return out.parsed(path.stem)


def _records(out: Sections, rows: Iterable[Sequence[Any]], path: PurePath, sheet: str | None) -> None:
    headers: list[str] | None = None
    for number, row in enumerate(rows, 1):
        cells = ["" if v is None else " ".join(str(v).split()) for v in row]
        if not any(cells):
            continue
        if headers is None:
            headers = [c or f"column {i + 1}" for i, c in enumerate(cells)]
            continue
        if number > MAX_ROWS + 1:
            where = f"sheet {sheet!r}" if sheet else "the file"
            raise ParseError(f"{path}: {where} has over {MAX_ROWS} rows; export it as JSONL records instead")
        fields = [f"{headers[i] if i < len(headers) else f'column {i + 1}'}: {c}" for i, c in enumerate(cells) if c]
        out.paragraph(f"Row {number}. " + "; ".join(fields))
