"""docs/benchmarks.md is written by several benchmark scripts: `make bench` writes the whole file and keeps the
sections other scripts own, each between `<!-- NAME: begin -->` and `<!-- NAME: end -->`."""

from __future__ import annotations

import re
from pathlib import Path

_SECTION = re.compile(r"<!-- (?P<name>[\w-]+): begin -->.*?<!-- (?P=name): end -->\n?", re.S)


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the named section of the file."""
    section = f"<!-- {name}: begin -->\n{body.rstrip()}\n<!-- {name}: end -->\n"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(rf"<!-- {re.escape(name)}: begin -->.*?<!-- {re.escape(name)}: end -->\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def kept_sections(path: Path) -> str:
    """Every named section of the file, for a script that rewrites the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return "\n".join(m.group(0) for m in _SECTION.finditer(text))
