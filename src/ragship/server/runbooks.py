"""The on-call runbooks (ragship/runbooks/*.md, also docs/runbooks/) rendered as pages at /runbooks/FILE.md, each
`## ` heading with its GitHub-style anchor, so an alert's runbook link opens on a phone. No key needed: they hold
instructions, not data."""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ragship.errors import NotFound

FOLDER = Path(__file__).resolve().parents[1] / "runbooks"
router = APIRouter(include_in_schema=False)
_HEADING = re.compile(r"<h([1-3])>(.*?)</h\1>")
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<link rel="stylesheet" href="/static/style.css"></head><body class="runbook"><main>
<p><a href="/runbooks">runbooks</a></p>{body}</main></body></html>"""


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", html.unescape(re.sub(r"<[^>]+>", "", heading)).lower()).replace(" ", "-")


def render(text: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(text)
    return _HEADING.sub(lambda m: f'<h{m[1]} id="{anchor(m[2])}">{m[2]}</h{m[1]}>', body)


@router.get("/runbooks")
async def index() -> HTMLResponse:
    items = "".join(f'<li><a href="/runbooks/{p.name}">{p.stem}</a></li>' for p in sorted(FOLDER.glob("*.md")))
    return HTMLResponse(PAGE.format(title="ragship runbooks", body=f"<h1>Runbooks</h1><ul>{items}</ul>"))


@router.get("/runbooks/{name}")
async def runbook(name: str) -> HTMLResponse:
    path = FOLDER / name
    if path.parent != FOLDER or path.suffix != ".md" or not path.is_file():
        raise NotFound(f"no runbook {name!r}; /runbooks lists them")
    return HTMLResponse(PAGE.format(title=f"ragship runbook: {path.stem}", body=render(path.read_text())))
