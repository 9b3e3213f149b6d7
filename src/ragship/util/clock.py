"""Timestamps, one way: UTC, ISO 8601, whole seconds."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def seconds_since(stamp: str) -> float:
    """Seconds from a `now()` timestamp until now."""
    return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()
