"""Prometheus metrics in one registry the server exposes at /metrics (each worker's, merged, under --workers)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ragship.monitor.rules import RENAMED_SIGNALS

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
ANSWERS = Counter("ragship_answers", "Answers given, by outcome (answered, abstained, clarify: a question back) and "
                  "the index version that served them", ["outcome", "version"], registry=REGISTRY)
CONFIDENCE = Histogram("ragship_answer_confidence", "Answer confidence, by index version", ["version"],
                       buckets=(.1, .2, .3, .4, .5, .6, .7, .8, .9, 1.0), registry=REGISTRY)
FEEDBACK = Counter("ragship_feedback", "Feedback on answers, by rating", ["rating"], registry=REGISTRY)
QUERY_LOG_DROPPED = Counter("ragship_query_log_dropped", "Observations the query log could not write (disk full, "
                            "read-only, locked), by error", ["error"], registry=REGISTRY)
RATE_LIMITED = Counter("ragship_rate_limited", "Requests refused by the per-key rate limit", registry=REGISTRY)
# set by the process that evaluates the alert rules (monitor/round.py); the rules' signals, by name
SIGNAL = Gauge("ragship_signal", "Monitoring signals (business metrics, drift p-values, staleness)",
               ["collection", "signal"], registry=REGISTRY, multiprocess_mode="mostrecent")
ALERT_FIRING = Gauge("ragship_alert_firing", "1 while an alert fires", ["collection", "alertname", "severity"],
                     registry=REGISTRY, multiprocess_mode="mostrecent")
SOURCE_AGE = Gauge("ragship_source_age_seconds", "Seconds since a source's last good sync, by its place in "
                   "[[sources]] (1 the first; no path: no label names a file or document)", ["collection", "source"],
                   registry=REGISTRY, multiprocess_mode="mostrecent")


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


def record_answer(abstained: bool, version: str = "", confidence: float | None = None, outcome: str = "") -> None:
    """One answer, counted by outcome; a question back (`outcome` "clarify", which is `abstained` too) apart from
    the abstentions, as the query log and the business metrics count it."""
    ANSWERS.labels("clarify" if outcome == "clarify" else "abstained" if abstained else "answered", version).inc()
    if confidence is not None:
        CONFIDENCE.labels(version).observe(confidence)


def record_feedback(rating: int) -> None:
    FEEDBACK.labels("up" if rating > 0 else "down").inc()


def record_signals(collection: str, signals: dict) -> None:
    """Export each signal's value; a signal without a value (too few requests) is withdrawn, not zero. A renamed
    signal is exported under its old name too, for one release (rules exported before the rename watch it)."""
    old = {name: signals[new] for name, new in RENAMED_SIGNALS.items() if new in signals}
    for name, value in (signals | old).items():
        if value is None:
            try:
                SIGNAL.remove(collection, name)
            except KeyError:
                pass
        else:
            SIGNAL.labels(collection, name).set(value)


def exposition() -> bytes:
    """This process's metrics; under `ragship serve --workers N` (PROMETHEUS_MULTIPROC_DIR set before the workers
    start) every worker's, summed (gauges: the most recent value any worker set)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return generate_latest(merged)
