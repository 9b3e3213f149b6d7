"""Timestamps, one way: UTC, ISO 8601, whole seconds; and durations in milliseconds from a perf_counter."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def seconds_since(stamp: str) -> float:
    """Seconds from a `now()` timestamp until now."""
    return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()


def ms_since(started: float) -> float:
    """Milliseconds since `started` (a time.perf_counter() reading)."""
    return (time.perf_counter() - started) * 1000
