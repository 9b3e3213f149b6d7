"""Write a hostile corpus: ≥ 30 bad inputs mixed with good documents, for `ragship ingest` to survive.

    python scripts/hostile_corpus.py DEST [--json]    # then: ragship ingest DEST

`build(dest)` returns (good, bad): good maps each good file to a phrase only it contains (to check it is
searchable); bad is the set of files that must be reported with a reason. `--json` prints both.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
FIFTY_MIB = 50 * 2**20


def _pdf(text_lines: list[str]) -> bytes:
    content = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({line}) Tj T*" for line in text_lines) + " ET"
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            "/Resources << /Font << /F1 5 0 R >> >> >>",
            f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    return out + f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf(["secret"]))))
    writer.encrypt("owner-and-user-password")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _bad_files() -> dict[str, bytes | None]:
    """name → bytes (None: made specially below)."""
    good_pdf = _pdf(["A perfectly fine page."])
    return {
        "pdf/truncated.pdf": good_pdf[: len(good_pdf) // 2],
        "pdf/zip-renamed.pdf": b"PK\x03\x04" + os.urandom(2048),
        "pdf/encrypted.pdf": _encrypted_pdf(),
        "pdf/no-text-layer.pdf": _pdf([]),
        "pdf/header-only.pdf": b"%PDF-1.7\n",
        "pdf/zero-bytes.pdf": b"",
        "pdf/html-named.pdf": b"<html><body>not a pdf</body></html>",
        "text/nul-bytes.txt": b"hello\x00world" * 100,
        "text/invalid-utf8.txt": "Café crème".encode("latin-1"),
        "text/utf16.txt": "UTF-16 text with a BOM".encode("utf-16"),
        "text/zero-bytes.txt": b"",
        "text/whitespace-only.md": b" \n\t\n   \n",
        "text/random-bytes.md": os.urandom(4096),
        "text/elf-binary.txt": b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8,
        "html/zero-bytes.html": b"",
        "html/script-only.html": b"<html><head><script>var x = 1;</script></head><body></body></html>",
        "html/invalid-utf8.htm": b"<p>\xff\xfe broken</p>",
        "docx/zip-of-junk.docx": _zip({"hello.txt": b"not a word document"}),
        "docx/plain-text.docx": b"I am plain text pretending to be a docx",
        "docx/zero-bytes.docx": b"",
        "docx/truncated.docx": _zip({"word/document.xml": b"<w:document>"})[:60],
        "json/invalid.json": b'{"title": "broken", ',
        "json/deeply-nested.json": b"[" * 100000 + b"]" * 100000,
        "html/deeply-nested.html": b"<div>" * 20000 + b"<p>nested past the limit</p>" + b"</div>" * 20000,
        "json/empty-object.json": b"{}",
        "json/null.json": b"null",
        "beir/not-gzip.jsonl.gz": b"this is not gzip data at all",
        "beir/truncated.jsonl.gz": gzip.compress(b'{"_id": "t1", "text": "truncated gzip"}\n' * 50)[:40],
        "beir/bad-rows.jsonl": (b'{"_id": "beir-good-1", "title": "Row", "text": "quokka marmalade recipe"}\n'
                                b'{not json}\n{"title": "no id"}\n{"_id": "e", "title": "", "text": ""}\n'
                                b'{"_id": "n", "text": 5}\n'),
        "big/fifty-mib-single-line.txt": None,
        "big/fifo.txt": None,
    }


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _good_files() -> dict[str, tuple[bytes, str]]:
    """name → (bytes, a phrase only this file contains)."""
    nested = "<div>" * 400 + "<p>the axolotl lighthouse keeper</p>" + "</div>" * 400  # deep, under the limit
    unclosed = "<html><body><p>unclosed paragraph about a velvet tram<div><span>still going"
    many_headings = "\n\n".join(f"# Heading {i}\n\nsection {i} text" for i in range(200)) + "\n\nzebra harmonica"
    return {
        "good/deeply-nested.html": (nested.encode(), "axolotl lighthouse keeper"),
        "good/unclosed-tags.html": (unclosed.encode(), "velvet tram"),
        "good/many-headings.md": (many_headings.encode(), "zebra harmonica"),
        "good/fine.pdf": (_pdf(["The pelican ferry timetable is printed in green."]), "pelican ferry timetable"),
        "good/nested.json": (json.dumps({"a": {"b": [{"c": "walrus accordion"}]}}).encode(), "walrus accordion"),
        "good/unicode name ✓ ünï.txt": ("Ünïcödé names are fine: the ocelot bakery.".encode(), "ocelot bakery"),
        "good/crlf.txt": (b"Windows line endings\r\n\r\nthe narwhal umbrella\r\n", "narwhal umbrella"),
        "good/bom.md": ("\ufeff# BOM\n\nA byte-order mark before the flamingo orchestra.".encode(),
                        "flamingo orchestra"),
        "good/trams.md": ((DATA / "docs/handbook/trams.md").read_bytes(), "Lantern"),
        "good/lost-property.docx": ((DATA / "docs/handbook/lost-property.docx").read_bytes(),
                                    "kept at the Kettle Square depot for sixty days"),
    }


def build(dest: Path) -> tuple[dict[str, str], set[str]]:
    dest.mkdir(parents=True, exist_ok=True)
    bad = _bad_files()
    for name, data in bad.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("fifo.txt"):
            os.mkfifo(path)  # reading it would block forever
        elif data is None:
            with path.open("wb") as f:  # one line of 50 MiB
                chunk = b"endless line " * 80000
                for _ in range(FIFTY_MIB // len(chunk) + 1):
                    f.write(chunk)
        else:
            path.write_bytes(data)
    good = {}
    for name, (data, phrase) in _good_files().items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        good[name] = phrase
    good["beir/bad-rows.jsonl"] = "quokka marmalade"  # its one good row
    return good, set(bad)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("dest", type=Path, help="the folder to write the corpus into")
    ap.add_argument("--json", action="store_true", help="print {good: {file: phrase}, bad: [file]}")
    args = ap.parse_args()
    good, bad = build(args.dest)
    if args.json:
        print(json.dumps({"good": good, "bad": sorted(bad)}))
    else:
        print(f"wrote {len(bad)} bad and {len(good)} good inputs to {args.dest}")
