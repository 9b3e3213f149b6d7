"""Percentiles, one definition for every report: numpy's default (linear interpolation between closest ranks)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) of values; 0.0 for none."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), p)) if len(values) else 0.0


def latency_summary(ms: Sequence[float], digits: int = 2) -> dict[str, float]:
    """p50, p95, p99 and mean of latencies in milliseconds, rounded for reports."""
    values = np.asarray(ms, dtype=np.float64)
    if not len(values):
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": round(float(p50), digits), "p95": round(float(p95), digits), "p99": round(float(p99), digits),
            "mean": round(float(values.mean()), digits)}
