"""The query log and feedback, in SQLite (HOME/monitor.sqlite): one row per search or answer (who by key id,
when, how long per stage, which index version, the outcome, the top scores and confidence, the query's text as
`monitor.query_text` allows, and its embedding in float16 for drift) and one row per feedback. Several server
processes write to it at once (WAL, a busy timeout, no state kept in a process); business metrics, drift and
the metrics page's series are computed from it."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragship.fsio import database_error
from ragship.monitor import metrics
from ragship.monitor.privacy import kept_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, ts REAL NOT NULL, key_id TEXT NOT NULL, collection TEXT NOT NULL, kind TEXT NOT NULL,
    latency_ms REAL NOT NULL, abstained INTEGER, confidence REAL, question TEXT);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL, ts REAL NOT NULL, key_id TEXT NOT NULL, rating INTEGER NOT NULL, comment TEXT);
CREATE INDEX IF NOT EXISTS feedback_ts ON feedback (ts);
"""
# columns added by schema version 2 (issue 14); ALTER TABLE keeps the rows of a version-1 log
ADDED = {"version": "TEXT", "mode": "TEXT", "outcome": "TEXT", "hits": "INTEGER", "top_score": "REAL",
         "margin": "REAL", "unverified": "INTEGER", "stages": "TEXT", "sketch": "BLOB"}
SCHEMA_VERSION = 2
log = logging.getLogger("ragship.monitor")
OUTCOMES = ("results", "no_result", "answered", "abstained", "error")


@dataclass
class Observation:
    """One request as the log records it."""

    key_id: str
    collection: str
    kind: str  # "search" or "ask"
    latency_ms: float
    question: str
    outcome: str  # one of OUTCOMES
    version: str = ""
    mode: str = ""
    hits: int = 0
    top_score: float | None = None  # the best dense cosine (or the best final score without dense search)
    margin: float | None = None  # top_score minus the second best
    confidence: float | None = None
    unverified: int = 0  # sentences verification removed from the answer
    stages: dict[str, float] = field(default_factory=dict)
    vector: Any = None  # the query's embedding
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of_search(cls, result, key_id: str, collection: str, latency_ms: float) -> Observation:
        return cls(key_id, collection, "search", latency_ms, result.query,
                   "results" if result.hits else "no_result", **_retrieval(result))

    @classmethod
    def of_answer(cls, answer: dict, retrieval, key_id: str, collection: str, latency_ms: float) -> Observation:
        seen = _retrieval(retrieval) if retrieval is not None else {}
        outcome = "no_result" if not seen.get("hits") else "abstained" if answer["abstained"] else "answered"
        stages = {**seen.pop("stages", {}), **answer.get("timings_ms", {})}
        return cls(key_id, collection, "ask", latency_ms, answer["question"], outcome, id=answer["id"],
                   confidence=answer["confidence"], unverified=len(answer.get("removed", [])), stages=stages, **seen)


def _retrieval(result) -> dict[str, Any]:
    dense = result.ranked.get("dense") or []
    scores = [r["_score"] for r in dense[:2]] or [h.score for h in result.hits[:2]]
    return {"version": result.index_version, "mode": result.mode, "hits": len(result.hits),
            "top_score": scores[0] if scores else None,
            "margin": scores[0] - scores[1] if len(scores) > 1 else None,
            "stages": dict(result.timings_ms), "vector": result.query_vector}


class QueryLog:
    def __init__(self, path: Path, query_text: str = "redact"):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.query_text = path, query_text
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._lock = threading.Lock()
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as e:  # not a database, or a malformed one; a lock timeout passes through
            raise database_error(path, e) from None

    def _migrate(self) -> None:
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
        try:
            for statement in filter(str.strip, SCHEMA.split(";")):
                self._db.execute(statement)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(requests)")}
            for name, kind in ADDED.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE requests ADD COLUMN {name} {kind}")
            self._db.execute("CREATE INDEX IF NOT EXISTS requests_collection_ts ON requests (collection, ts)")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def execute(self, sql: str, params: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def record(self, o: Observation) -> str:
        sketch = None if o.vector is None else np.asarray(o.vector, dtype=np.float16).tobytes()
        row = (o.id, time.time(), o.key_id, o.collection, o.kind, o.latency_ms,
               None if o.kind != "ask" else int(o.outcome == "abstained"), o.confidence,
               kept_text(o.question, self.query_text), o.version, o.mode, o.outcome, o.hits, o.top_score, o.margin,
               o.unverified, json.dumps({k: round(v, 3) for k, v in o.stages.items()}), sketch)
        try:
            with self._lock:
                self._db.execute(f"INSERT OR REPLACE INTO requests (id, ts, key_id, collection, kind, latency_ms, "
                                 f"abstained, confidence, question, {', '.join(ADDED)}) VALUES "
                                 f"({', '.join('?' * len(row))})", row)
        except sqlite3.OperationalError as e:  # disk full, read-only, locked: the answer still goes out
            metrics.QUERY_LOG_DROPPED.labels(str(e)[:40]).inc()
            log.warning("query log: observation %s not written (%s)", o.id, e)
        return o.id

    def answer_owner(self, answer_id: str) -> str | None:
        rows = self.query("SELECT key_id FROM requests WHERE id = ? AND kind = 'ask'", (answer_id,))
        return rows[0][0] if rows else None

    def feedback(self, answer_id: str, key_id: str, rating: int, comment: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
                             (answer_id, time.time(), key_id, rating, kept_text(comment, self.query_text)))

    def prune(self, retention_days: float) -> int:
        """Delete requests and feedback older than the retention; the number of rows deleted."""
        before = time.time() - retention_days * 86400
        with self._lock:
            n = self._db.execute("DELETE FROM requests WHERE ts < ?", (before,)).rowcount
            return n + self._db.execute("DELETE FROM feedback WHERE ts < ?", (before,)).rowcount

    def vectors(self, collection: str, since: float, until: float | None = None, limit: int | None = None,
                newest: bool = False) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Query embeddings (float32, one row each) and their rows, oldest first (or the newest `limit`)."""
        rows = self.query(
            "SELECT ts, question, outcome, confidence, top_score, margin, sketch FROM requests WHERE collection = ? "
            f"AND ts >= ? AND ts < ? AND sketch IS NOT NULL ORDER BY ts {'DESC' if newest else 'ASC'} LIMIT ?",
            (collection, since, until or float("inf"), limit or -1))
        rows = rows[::-1] if newest else rows
        keys = ("ts", "question", "outcome", "confidence", "top_score", "margin")
        vectors = np.stack([np.frombuffer(r[6], dtype=np.float16) for r in rows]).astype(np.float32) if rows else \
            np.zeros((0, 0), dtype=np.float32)
        return vectors, [dict(zip(keys, r[:6])) for r in rows]
