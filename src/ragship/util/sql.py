"""SQL literals for LanceDB's (DataFusion) filter expressions."""

from __future__ import annotations


def quote(value: str) -> str:
    """A string literal: single quotes doubled, so no value can end the literal early."""
    return "'" + value.replace("'", "''") + "'"
