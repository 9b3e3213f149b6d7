"""Business metrics over a time window of the query log, per collection: what users got (answers, abstentions,
questions back, empty results, answers whose citations failed verification), what they said (feedback), and how
fast and how reliably (latency percentiles, errors). Rates with too few requests behind them are None, not noise.
An ask is answered, abstained on, asked back (clarify) or found nothing: the answer, abstain and clarify rates
share one denominator and never count one ask twice."""

from __future__ import annotations

import time
from typing import Any

from ragship.monitor.querylog import QueryLog
from ragship.util.stats import percentile

METRICS = ("requests", "answer_rate", "abstain_rate", "clarify_rate", "no_result_rate", "citation_failure_rate",
           "positive_feedback_rate", "feedback", "error_rate", "llm_fallback_rate", "p50_ms", "p95_ms")


REQUESTED = ("kind", "outcome", "latency_ms", "unverified", "fallback", "ts")  # what _rates reads of a request


def business(log: QueryLog, collection: str, since: float, until: float | None = None,
             min_requests: int = 20, recent_s: float | None = None) -> dict[str, Any]:
    """The business metrics of `collection` between `since` and `until` (now). With `recent_s`, also "recent": the
    same rates over each one's newest requests (or votes) in the window: those of the last `recent_s` seconds, or
    the newest `min_requests` where those are fewer. An alert on a rate fires and stays firing only while both hold,
    so it resolves soon after a fix, not once the window has emptied (ADR 0022, issue 49)."""
    until = until or time.time()
    rows = log.requests_between(collection, since, until, REQUESTED)
    votes = log.votes_between(collection, since, until)
    out = _rates(rows, votes, min_requests, lambda xs: xs)
    if recent_s is not None:
        out["recent"] = _rates(rows, votes, min_requests, newest(until - recent_s, min_requests))
    return out


def newest(cutoff: float, n: int):
    """A picker of rows oldest first (their time last): those from `cutoff` on, or the newest `n` if those are
    fewer (a rate from fewer than `n` would be noise)."""

    def pick(rows: list[tuple]) -> list[tuple]:
        recent = [row for row in rows if row[-1] >= cutoff]
        return recent if len(recent) >= n else rows[-n:]

    return pick


def _rates(rows: list[tuple], votes: list[tuple], floor: int, pick) -> dict[str, Any]:
    """The metrics over `pick` of each rate's rows: requests (kind, outcome, latency, unverified, fallback, ts)."""
    served = [r for r in rows if r[1] != "error"]
    asks = [r for r in served if r[0] == "ask"]
    answered = [r for r in asks if r[1] == "answered"]
    rows, served, asks, answered, votes = map(pick, (rows, served, asks, answered, votes))

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole >= floor and whole else None

    latencies = [r[2] for r in served]
    return {
        "requests": len(rows),
        "answer_rate": rate(sum(r[1] == "answered" for r in asks), len(asks)),
        "abstain_rate": rate(sum(r[1] == "abstained" for r in asks), len(asks)),
        "clarify_rate": rate(sum(r[1] == "clarify" for r in asks), len(asks)),
        "no_result_rate": rate(sum(r[1] == "no_result" for r in served), len(served)),
        "citation_failure_rate": rate(sum(bool(r[3]) for r in answered), len(answered)),
        "positive_feedback_rate": rate(sum(v[0] > 0 for v in votes), len(votes)),
        "feedback": len(votes),
        "error_rate": rate(sum(r[1] == "error" for r in rows), len(rows)),
        "llm_fallback_rate": rate(sum(bool(r[4]) for r in asks), len(asks)),
        "p50_ms": round(percentile(latencies, 50), 1) if len(latencies) >= floor else None,
        "p95_ms": round(percentile(latencies, 95), 1) if len(latencies) >= floor else None,
    }


BUCKETS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def bucket_for(span_s: float, points: int = 60) -> int:
    """The smallest round bucket that lays `span_s` seconds of traffic over at most `points` points."""
    return next((b for b in BUCKETS_S if span_s / b <= points), BUCKETS_S[-1])


def series(log: QueryLog, minutes: int = 60, bucket_s: int | None = None) -> tuple[int, list[dict[str, Any]]]:
    """The bucket (given, or chosen from the span of the traffic in the range: a line, not one dot) and per
    bucket (all collections): requests, p50/p95/max latency, answers, abstentions, questions back, feedback, and
    the rates alert rules watch besides (LLM fallbacks, citation failures, empty results, errors): each signal a
    rule can fire on has a line to look at."""
    now = time.time()
    since = now - minutes * 60
    rows = log.requests_between(None, since, columns=("ts", "kind", "latency_ms", "outcome", "unverified", "fallback"))
    bucket_s = bucket_s or bucket_for(now - min((row[0] for row in rows), default=now))
    reqs = [(int(ts // bucket_s), *rest) for ts, *rest in rows]
    votes = [(int(ts // bucket_s), rating) for rating, ts in log.votes_between(None, since)]
    buckets: dict[int, dict[str, Any]] = {}

    def bucket(b: int) -> dict[str, Any]:
        return buckets.setdefault(b, {"t": b * bucket_s, "requests": 0, "latencies": [], "answered": 0,
                                      "abstained": 0, "clarify": 0, "errors": 0, "up": 0, "down": 0,
                                      "no_result": 0, "served_asks": 0, "fallbacks": 0, "unverified": 0})

    for b, kind, latency, outcome, unverified, fallback in reqs:
        row = bucket(b)
        row["requests"] += 1
        row["latencies"].append(latency)
        row["errors"] += outcome == "error"
        row["no_result"] += outcome == "no_result"
        if kind == "ask" and outcome != "error":  # the business metrics' denominators (_rates)
            row["served_asks"] += 1
            row["fallbacks"] += bool(fallback)
            row["unverified"] += bool(unverified) and outcome == "answered"
        if kind == "ask" and outcome in ("answered", "abstained", "clarify"):
            row[outcome] += 1
    for b, rating in votes:
        bucket(b)["up" if rating > 0 else "down"] += 1
    return bucket_s, [_summarised(buckets[b]) for b in sorted(buckets)]


def _summarised(row: dict[str, Any]) -> dict[str, Any]:
    lat = row.pop("latencies")
    row["p50_ms"] = round(percentile(lat, 50), 1) if lat else None
    row["p95_ms"] = round(percentile(lat, 95), 1) if lat else None
    row["max_ms"] = round(max(lat), 1) if lat else None
    asks = row["answered"] + row["abstained"] + row["clarify"]
    for outcome, name in (("answered", "answer_rate"), ("abstained", "abstain_rate"), ("clarify", "clarify_rate")):
        row[name] = round(row[outcome] / asks, 3) if asks else None
    votes = row["up"] + row["down"]
    row["positive_feedback_rate"] = round(row["up"] / votes, 3) if votes else None
    served = row["requests"] - row["errors"]
    row["llm_fallback_rate"] = round(row["fallbacks"] / row["served_asks"], 3) if row["served_asks"] else None
    row["citation_failure_rate"] = round(row["unverified"] / row["answered"], 3) if row["answered"] else None
    row["no_result_rate"] = round(row["no_result"] / served, 3) if served else None
    row["error_rate"] = round(row["errors"] / row["requests"], 3) if row["requests"] else None
    return row


HOME_OWNER = ("local", "cli")  # a keyless local server and the CLI: the home's owner, not a key anyone else holds


def label_shares(log: QueryLog, collection: str, since: float, until: float | None = None) -> dict[str, int]:
    """Per key, the questions of `collection` it rated or reviewed between `since` and `until` (now), most first: a
    key counts once per question (the same words, case and spacing aside), however often it rated it or asked it
    again, as the labeled set counts it (learn/labels.py). The home's owner is not counted: a single-user home
    would otherwise always be one key."""
    until = until or time.time()
    questions: dict[str, set[str]] = {}
    for key_id, question, answer_id in log.rated_questions(collection, since, until):
        if key_id in HOME_OWNER:
            continue
        questions.setdefault(key_id, set()).add(" ".join(question.casefold().split()) if question else answer_id)
    return dict(sorted(((k, len(q)) for k, q in questions.items()), key=lambda kv: (-kv[1], kv[0])))


def label_flood(shares: dict[str, int], min_labels: int) -> dict[str, Any] | None:
    """The key that gave the most of the window's labels (`label_shares`), its count and share of them; None with
    fewer than `min_labels` labels in all."""
    labels = sum(shares.values())
    if labels < min_labels or not labels:
        return None
    key_id, count = next(iter(shares.items()))
    return {"key_id": key_id, "count": count, "labels": labels, "share": round(count / labels, 4)}
