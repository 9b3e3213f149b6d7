"""Prometheus metrics for this process, in one registry the server exposes at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

INGEST_DOCUMENTS = Counter("ragship_ingest_documents", "Documents seen by ingest, by outcome", ["outcome"],
                           registry=REGISTRY)
INGEST_CHUNKS = Counter("ragship_ingest_chunks", "Chunks written and embedded by ingest", ["kind"],
                        registry=REGISTRY)
INGEST_STAGE_SECONDS = Counter("ragship_ingest_stage_seconds", "Time spent per ingest stage", ["stage"],
                               registry=REGISTRY)
INGEST_VERSIONS = Counter("ragship_ingest_versions", "Index versions committed", registry=REGISTRY)
REQUEST_SECONDS = Histogram("ragship_request_seconds", "HTTP request latency", ["route", "status"],
                            buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10), registry=REGISTRY)
ANSWERS = Counter("ragship_answers", "Answers given, by outcome", ["outcome"], registry=REGISTRY)
FEEDBACK = Counter("ragship_feedback", "Feedback on answers, by rating", ["rating"], registry=REGISTRY)
RATE_LIMITED = Counter("ragship_rate_limited", "Requests refused by the per-key rate limit", registry=REGISTRY)


def record_ingest(report) -> None:
    for outcome in ("added", "changed", "deleted", "unchanged"):
        INGEST_DOCUMENTS.labels(outcome).inc(getattr(report, outcome))
    INGEST_DOCUMENTS.labels("failed").inc(len(report.failures))
    INGEST_CHUNKS.labels("written").inc(report.chunks_written)
    INGEST_CHUNKS.labels("embedded").inc(report.chunks_embedded)
    for stage, seconds in report.timings_s.items():
        INGEST_STAGE_SECONDS.labels(stage).inc(seconds)
    if report.new_version:
        INGEST_VERSIONS.inc()


def record_answer(abstained: bool) -> None:
    ANSWERS.labels("abstained" if abstained else "answered").inc()


def record_feedback(rating: int) -> None:
    FEEDBACK.labels("up" if rating > 0 else "down").inc()


def exposition() -> bytes:
    return generate_latest(REGISTRY)
