"""Parsing of user-given lists of names (permission groups)."""

from __future__ import annotations

from typing import Iterable


def split_names(csv: str | Iterable[str] | None) -> tuple[str, ...]:
    """`"red, blue,red"` (or a list of such strings) → ("blue", "red"): trimmed, de-duplicated, sorted."""
    parts = [csv] if isinstance(csv, str) or csv is None else list(csv)
    return tuple(sorted({n.strip() for part in parts for n in (part or "").split(",") if n.strip()}))
