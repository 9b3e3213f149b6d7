"""Timestamps, one way: UTC, ISO 8601, whole seconds."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
