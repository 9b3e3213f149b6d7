"""Our format parsers (ragship.ingest.parsers: one kept library per format) against one converter for all of
them (Microsoft's markitdown), on the same files: speed (pages/s, MB/s) and fidelity (the share of the source
text found in the output). Writes the "formats" section of docs/benchmarks.md.

The files: the real PDFs Debian ships under /usr/share/doc, and Word, PowerPoint, Excel, EPUB, HTML and CSV files
written here from the first SciFact abstracts (real text, so fidelity can be checked against it). A "page" is a
PDF page, a slide, or 3,000 characters of source text for the formats without pages.

    python benchmarks/bench_formats.py [../shared/datasets/scifact] [--abstracts 600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from ragship.testing.bench import commit, corpus_file, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "scifact"

REAL_PDFS = [Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
             Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")]
PER_FILE = 30  # abstracts per written file
CHARS_PER_PAGE = 3000


def abstracts(data: Path, n: int) -> list[dict]:
    opener = gzip.open if corpus_file(data).name.endswith(".gz") else open
    with opener(corpus_file(data), "rt", encoding="utf-8") as f:
        rows = (json.loads(line) for line in f)
        return [r for _, r in zip(range(n), (r for r in rows if r["title"] and r["text"]))]


def write_files(rows: list[dict], out: Path) -> dict[str, list[Path]]:
    from docx import Document
    from ebooklib import epub
    from openpyxl import Workbook
    from pptx import Presentation

    files: dict[str, list[Path]] = {k: [] for k in ("docx", "pptx", "xlsx", "csv", "html", "epub")}
    for i in range(0, len(rows), PER_FILE):
        part, stem = rows[i:i + PER_FILE], f"part{i // PER_FILE:03d}"
        doc = Document()
        deck = Presentation()
        book = Workbook()
        sheet = book.active
        sheet.append(["id", "title", "abstract"])
        ebook = epub.EpubBook()
        ebook.set_identifier(stem)
        ebook.set_title(stem)
        chapters = []
        for r in part:
            doc.add_heading(r["title"], 1)
            doc.add_paragraph(r["text"])
            slide = deck.slides.add_slide(deck.slide_layouts[1])
            slide.shapes.title.text = r["title"]
            slide.placeholders[1].text = r["text"]
            sheet.append([r["_id"], r["title"], r["text"]])
            chapter = epub.EpubHtml(title=r["title"], file_name=f"{r['_id']}.xhtml")
            chapter.content = f"<html><body><h1>{_html(r['title'])}</h1><p>{_html(r['text'])}</p></body></html>"
            ebook.add_item(chapter)
            chapters.append(chapter)
        ebook.toc, ebook.spine = chapters, chapters
        ebook.add_item(epub.EpubNcx())
        ebook.add_item(epub.EpubNav())
        for kind, save in (("docx", doc.save), ("pptx", deck.save), ("xlsx", book.save),
                           ("epub", lambda p: epub.write_epub(str(p), ebook))):
            save(out / f"{stem}.{kind}")
            files[kind].append(out / f"{stem}.{kind}")
        with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["id", "title", "abstract"]] + [[r["_id"], r["title"], r["text"]] for r in part])
        body = "".join(f"<h2>{_html(r['title'])}</h2><p>{_html(r['text'])}</p>" for r in part)
        (out / f"{stem}.html").write_text(f"<html><head><title>{stem}</title></head><body>{body}</body></html>")
        files["csv"].append(out / f"{stem}.csv")
        files["html"].append(out / f"{stem}.html")
    files["pdf"] = [p for p in REAL_PDFS if p.exists()]
    return files


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ours(path: Path) -> str:
    from ragship.ingest.parsers import parse_file

    return parse_file(path.read_bytes(), path).text


def markitdown(converter):
    return lambda path: converter.convert(str(path)).text_content


def timed(convert, files: list[Path], repeat: int) -> tuple[float, list[str]]:
    """The median over `repeat` runs of the seconds to convert every file, and the texts of the last run."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        texts = [convert(p) for p in files]
        times.append(time.perf_counter() - start)
    return statistics.median(times), texts


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def recall(texts: list[str], rows: list[dict]) -> float:
    """The share of the abstracts whose whole text (letters and digits only) is in the output."""
    out = _norm(" ".join(texts))
    return sum(_norm(r["text"]) in out for r in rows) / len(rows)


def pages(kind: str, files: list[Path], texts: list[str]) -> float:
    if kind == "pdf":
        from pypdf import PdfReader

        return sum(len(PdfReader(p).pages) for p in files)
    if kind == "pptx":
        from pptx import Presentation

        return sum(len(Presentation(p).slides) for p in files)
    return sum(len(t) for t in texts) / CHARS_PER_PAGE


def overlap(a: list[str], b: list[str]) -> float:
    """Jaccard of the two outputs' word sets: fidelity where there is no source text to check against."""
    wa, wb = set(re.findall(r"\w+", " ".join(a).lower())), set(re.findall(r"\w+", " ".join(b).lower()))
    return len(wa & wb) / max(1, len(wa | wb))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--abstracts", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    args = ap.parse_args()
    from markitdown import MarkItDown

    print(json.dumps({"machine": machine(), "commit": commit(), "data": str(args.data)}), flush=True)
    rows = abstracts(args.data, args.abstracts)
    converters = {"ragship": ours, "markitdown": markitdown(MarkItDown())}
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(rows, Path(tmp))
        for kind, paths in files.items():
            size = sum(p.stat().st_size for p in paths) / 1e6
            results = {}
            for name, convert in converters.items():
                try:
                    results[name] = timed(convert, paths, args.repeat)
                except Exception as e:  # noqa: BLE001 - a converter that cannot read the format is a result
                    print(f"{name} on .{kind}: {type(e).__name__}: {e}", flush=True)
            base = results["ragship"][1]
            n_pages = pages(kind, paths, base)
            for name, (seconds, texts) in results.items():
                fidelity = f"{recall(texts, rows):.3f} of abstracts" if kind != "pdf" else \
                    "real file" if name == "ragship" else f"{overlap(texts, base):.3f} word overlap with ragship"
                line = (f"| .{kind} | {name} | {len(paths)} files, {n_pages:,.0f} pages, {size:.1f} MB | "
                        f"{seconds:.2f} | {n_pages / seconds:,.0f} | {size / seconds:.2f} | {fidelity} |")
                print(line, flush=True)
                lines.append(line)
    body = "\n".join([
        "## Formats: our parsers vs markitdown",
        "",
        f"- {machine()}, commit {commit()}; `make bench-formats` ({args.repeat} runs each, the median).",
        f"- Files: the first {len(rows)} SciFact abstracts (`{args.data}`) written {PER_FILE} to a file as Word "
        "(a heading per title), PowerPoint (a slide each), Excel and CSV (a row each), EPUB (a chapter each) and "
        "HTML; and the real PDFs Debian ships (" + ", ".join(p.name for p in files["pdf"]) + ").",
        f"- A page is a PDF page, a slide, or {CHARS_PER_PAGE:,} characters of extracted text. Fidelity: the share of "
        "the abstracts found whole (letters and digits) in the output; for the real PDFs, the word overlap with "
        "ours. markitdown 0.1.9 converts each file to Markdown; ours returns text with headings (ADR 0018).",
        "",
        "| format | converter | files | seconds | pages/s | MB/s | fidelity |",
        "|---|---|---|---|---|---|---|",
        *lines,
    ])
    write_section(args.out, "formats", body)
    print(f"wrote the formats section of {args.out}")


if __name__ == "__main__":
    main()
