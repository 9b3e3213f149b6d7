"""Writes the binary samples of tests/data/formats (`python scripts/make_format_samples.py [--dest FOLDER]`).
Each holds a fact found nowhere else, so a search for it proves the format was read."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parents[1] / "tests/data/formats"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def pptx(dest: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Winter timetable briefing"
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Winter timetable"
    slide.placeholders[1].text = "Changes from the first Sunday of November"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Night buses"
    slide.placeholders[1].text = "Route N4 now runs every 40 minutes until 3 a.m.\nRoute N9 is withdrawn."
    slide.notes_slide.notes_text_frame.text = "Mention the ridership survey from September."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Depot capacity"
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
    for r, row in enumerate([("Depot", "Buses"), ("Kettle Square", "48"), ("Marsh Lane", "31")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.save(dest / "briefing.pptx")


def xlsx(dest: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.properties.title = "Fleet register"
    sheet = book.active
    sheet.title = "Trams"
    sheet.append(["Number", "Built", "Depot", "Livery"])
    sheet.append([7, 1911, "Kettle Square", "cream and maroon"])
    sheet.append([12, 1925, "Marsh Lane", "green"])
    budget = book.create_sheet("Budget")
    budget.append(["Item", "Cost (EUR)"])
    budget.append(["Bogie overhaul", 18500])
    budget.append(["Pantograph spares", "=1200*3"])
    book.save(dest / "fleet.xlsx")


def eml(dest: Path) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"] = "Signal fault at Harbour Gate"
    msg["From"] = "Ops Desk <ops@varnholt.example>"
    msg["To"] = "drivers@varnholt.example"
    msg["Date"] = "Tue, 03 Nov 2026 07:12:00 +0100"
    msg.set_content("The signal at Harbour Gate failed at 06:50. Trams reverse at the Custom House loop until "
                    "the signal engineer from Brandt Rail Services signs it off.")
    msg.add_alternative("<p>The signal at <b>Harbour Gate</b> failed at 06:50.</p>", subtype="html")
    msg.add_attachment(b"fault log", maintype="text", subtype="plain", filename="fault-log.txt")
    (dest / "signal-fault.eml").write_bytes(bytes(msg))
    second = EmailMessage()
    second["Subject"] = "Re: Signal fault at Harbour Gate"
    second["From"] = "engineer@brandt-rail.example"
    second["Date"] = "Tue, 03 Nov 2026 09:40:00 +0100"
    second.set_content("Signal repaired: a flooded relay box, replaced with a sealed unit.\n"
                       "From now on the box is inspected after every storm warning.")
    mbox = b""
    for m in (msg, second):
        body = bytes(m).replace(b"\nFrom ", b"\n>From ")
        mbox += b"From ops@varnholt.example Tue Nov  3 07:12:00 2026\n" + body + b"\n"
    (dest / "ops.mbox").write_bytes(mbox)


def epub(dest: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("varnholt-history")
    book.set_title("A Short History of the Varnholt Ferries")
    book.set_language("en")
    chapters = [("First crossings", "<p>The first steam ferry, the <i>Anneliese</i>, crossed the Varn in 1868.</p>"),
                ("The bridge years", "<h1>The bridge years</h1><p>When the Varn bridge opened in 1931 the "
                                     "ferries carried only bicycles and goods.</p>")]
    items = []
    for i, (title, body) in enumerate(chapters, 1):
        item = epub.EpubHtml(title=title, file_name=f"chap{i}.xhtml", lang="en")
        item.content = f"<html><body>{body}</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.spine = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(dest / "ferries-history.epub"), book)


def scanned(dest: Path) -> None:
    """An image-only PDF (a "scan": no text layer) and the same page as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("L", (1700, 600), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 48)
    for i, line in enumerate(["Lost property notice", "A brass lantern was found on",
                              "the Kettle Square platform."]):
        draw.text((100, 100 + 120 * i), line, fill=0, font=font)
    page.save(dest / "scanned-notice.pdf", resolution=200)
    page.crop((0, 0, 1700, 600)).save(dest / "notice.png")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dest", type=Path, default=HERE, help="the folder to write them to (default: tests/data/formats)")
    dest = ap.parse_args().dest
    dest.mkdir(parents=True, exist_ok=True)
    for make in (pptx, xlsx, eml, epub, scanned):
        make(dest)
        print(f"wrote {make.__name__}", flush=True)
