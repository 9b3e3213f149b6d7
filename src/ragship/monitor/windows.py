"""Business metrics over a time window of the query log, per collection: what users got (answers, abstentions,
empty results, answers whose citations failed verification), what they said (feedback), and how fast and how
reliably (latency percentiles, errors). Rates with too few requests behind them are None, not noise."""

from __future__ import annotations

import time
from typing import Any

from ragship.monitor.querylog import QueryLog
from ragship.util.stats import percentile

METRICS = ("requests", "answer_rate", "abstain_rate", "no_result_rate", "citation_failure_rate",
           "positive_feedback_rate", "feedback", "error_rate", "p50_ms", "p95_ms")


def business(log: QueryLog, collection: str, since: float, until: float | None = None,
             min_requests: int = 20) -> dict[str, Any]:
    """The business metrics of `collection` between `since` and `until` (now)."""
    until = until or time.time()
    rows = log.query("SELECT kind, outcome, latency_ms, unverified FROM requests WHERE collection = ? AND ts >= ? "
                     "AND ts < ?", (collection, since, until))
    votes = log.query("SELECT f.rating FROM feedback f JOIN requests r ON r.id = f.answer_id WHERE r.collection = ? "
                      "AND f.ts >= ? AND f.ts < ?", (collection, since, until))
    served = [r for r in rows if r[1] != "error"]
    asks = [r for r in served if r[0] == "ask"]

    def rate(part: int, whole: int, floor: int = min_requests) -> float | None:
        return round(part / whole, 4) if whole >= floor and whole else None

    latencies = [r[2] for r in served]
    return {
        "requests": len(rows),
        "answer_rate": rate(sum(r[1] == "answered" for r in asks), len(asks)),
        "abstain_rate": rate(sum(r[1] == "abstained" for r in asks), len(asks)),
        "no_result_rate": rate(sum(r[1] == "no_result" for r in served), len(served)),
        "citation_failure_rate": rate(sum(bool(r[3]) for r in asks if r[1] == "answered"),
                                      sum(r[1] == "answered" for r in asks)),
        "positive_feedback_rate": rate(sum(v[0] > 0 for v in votes), len(votes)),
        "feedback": len(votes),
        "error_rate": rate(len(rows) - len(served), len(rows)),
        "p50_ms": round(percentile(latencies, 50), 1) if len(latencies) >= min_requests else None,
        "p95_ms": round(percentile(latencies, 95), 1) if len(latencies) >= min_requests else None,
    }


def series(log: QueryLog, minutes: int = 60, bucket_s: int = 60) -> list[dict[str, Any]]:
    """Per time bucket (all collections): requests, p50/p95/max latency, answers, abstentions, feedback."""
    since = time.time() - minutes * 60
    reqs = log.query("SELECT CAST(ts / ? AS INTEGER), kind, latency_ms, outcome FROM requests WHERE ts >= ?",
                     (bucket_s, since))
    votes = log.query("SELECT CAST(ts / ? AS INTEGER), rating FROM feedback WHERE ts >= ?", (bucket_s, since))
    buckets: dict[int, dict[str, Any]] = {}

    def bucket(b: int) -> dict[str, Any]:
        return buckets.setdefault(b, {"t": b * bucket_s, "requests": 0, "latencies": [], "answered": 0,
                                      "abstained": 0, "errors": 0, "up": 0, "down": 0})

    for b, kind, latency, outcome in reqs:
        row = bucket(b)
        row["requests"] += 1
        row["latencies"].append(latency)
        row["errors"] += outcome == "error"
        if kind == "ask" and outcome in ("answered", "abstained"):
            row[outcome] += 1
    for b, rating in votes:
        bucket(b)["up" if rating > 0 else "down"] += 1
    return [_summarised(buckets[b]) for b in sorted(buckets)]


def _summarised(row: dict[str, Any]) -> dict[str, Any]:
    lat = row.pop("latencies")
    row["p50_ms"] = round(percentile(lat, 50), 1) if lat else None
    row["p95_ms"] = round(percentile(lat, 95), 1) if lat else None
    row["max_ms"] = round(max(lat), 1) if lat else None
    asks = row["answered"] + row["abstained"]
    row["answer_rate"] = round(row["answered"] / asks, 3) if asks else None
    row["abstain_rate"] = round(row["abstained"] / asks, 3) if asks else None
    votes = row["up"] + row["down"]
    row["positive_feedback_rate"] = round(row["up"] / votes, 3) if votes else None
    return row
