"""The query log and feedback, in SQLite (HOME/monitor.sqlite): one row per search or answer (who, when, how
long, answered or abstained; the question text only for answers, so feedback can be read against it) and one
per feedback. The metrics page's time series are aggregated from here."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ragship.util.stats import percentile

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, ts REAL NOT NULL, key_id TEXT NOT NULL, collection TEXT NOT NULL, kind TEXT NOT NULL,
    latency_ms REAL NOT NULL, abstained INTEGER, confidence REAL, question TEXT);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL, ts REAL NOT NULL, key_id TEXT NOT NULL, rating INTEGER NOT NULL, comment TEXT);
CREATE INDEX IF NOT EXISTS feedback_ts ON feedback (ts);
"""


class QueryLog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def record(self, key_id: str, collection: str, kind: str, latency_ms: float, answer: dict | None = None) -> str:
        rid = answer["id"] if answer and answer.get("id") else uuid.uuid4().hex
        with self._lock:
            self._db.execute("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                rid, time.time(), key_id, collection, kind, latency_ms,
                None if answer is None else int(answer["abstained"]),
                None if answer is None else answer["confidence"], None if answer is None else answer["question"]))
        return rid

    def answer_owner(self, answer_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT key_id FROM requests WHERE id = ? AND kind = 'ask'",
                                   (answer_id,)).fetchone()
        return row[0] if row else None

    def feedback(self, answer_id: str, key_id: str, rating: int, comment: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
                             (answer_id, time.time(), key_id, rating, comment))

    def series(self, minutes: int = 60, bucket_s: int = 60) -> list[dict[str, Any]]:
        """Per time bucket: requests, p50 and max latency, answers, abstentions, thumbs up and down."""
        since = time.time() - minutes * 60
        with self._lock:
            reqs = self._db.execute("SELECT CAST(ts / ? AS INTEGER), kind, latency_ms, abstained FROM requests "
                                    "WHERE ts >= ?", (bucket_s, since)).fetchall()
            votes = self._db.execute("SELECT CAST(ts / ? AS INTEGER), rating FROM feedback WHERE ts >= ?",
                                     (bucket_s, since)).fetchall()
        buckets: dict[int, dict[str, Any]] = {}

        def bucket(b: int) -> dict[str, Any]:
            return buckets.setdefault(b, {"t": b * bucket_s, "requests": 0, "latencies": [], "answered": 0,
                                          "abstained": 0, "up": 0, "down": 0})

        for b, kind, latency, abstained in reqs:
            row = bucket(b)
            row["requests"] += 1
            row["latencies"].append(latency)
            if kind == "ask":
                row["abstained" if abstained else "answered"] += 1
        for b, rating in votes:
            bucket(b)["up" if rating > 0 else "down"] += 1
        out = []
        for b in sorted(buckets):
            row = buckets[b]
            lat = row.pop("latencies")
            row["p50_ms"] = round(percentile(lat, 50), 1) if lat else None
            row["max_ms"] = round(max(lat), 1) if lat else None
            asks = row["answered"] + row["abstained"]
            row["answer_rate"] = round(row["answered"] / asks, 3) if asks else None
            row["abstain_rate"] = round(row["abstained"] / asks, 3) if asks else None
            out.append(row)
        return out
