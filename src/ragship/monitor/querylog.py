"""The query log and feedback, in the state store (state/tables.py): one row per search or answer (who by key
id, when, how long per stage, which index version, the outcome, the top scores and confidence, the query's text
as `monitor.query_text` allows, and its embedding in float16 for drift; for an answer, what it searched and the
conversation it belongs to) and one row per feedback. Every server
process and replica writes to it at once; business metrics, drift and the metrics page's series are computed
from it. A row the store cannot take (disk full, the database down) is counted and dropped: the answer still
goes out."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select

from ragship.errors import NotFound, RagshipError, StateCorrupt, StateUnavailable
from ragship.monitor import metrics
from ragship.monitor.privacy import kept_text
from ragship.state import State
from ragship.state.tables import FEEDBACK, REQUESTS, upsert
from ragship.util.clock import ms_since

log = logging.getLogger("ragship.monitor")
TITLE_CHARS = 80  # a conversation's title: its first question, cut
# "clarify": a question back (answer/clarify.py), counted apart from answers and abstentions (ADR 0023)
OUTCOMES = ("results", "no_result", "answered", "abstained", "clarify", "error")


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
    answer: str | None = None  # an answer's text (None when it abstained, or for a search)
    sources: list[dict[str, Any]] = field(default_factory=list)  # {doc_id, chunk_id, cited} in the order shown
    error: str | None = None  # a failed request's error
    fallback: str | None = None  # "GENERATOR: why" when another generator wrote the answer
    searched: dict[str, Any] | None = None  # what an answer searched (Searched.to_dict), unless the question alone
    conversation_id: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of_search(cls, result, key_id: str, collection: str, latency_ms: float) -> Observation:
        return cls(key_id, collection, "search", latency_ms, result.query,
                   "results" if result.hits else "no_result", **_retrieval(result))

    @classmethod
    def of_answer(cls, answer: dict, retrieval, key_id: str, collection: str, latency_ms: float,
                  conversation_id: str | None = None) -> Observation:
        seen = _retrieval(retrieval) if retrieval is not None else {}
        outcome = "no_result" if not seen.get("hits") else "clarify" if answer.get("outcome") == "clarify" else \
            "abstained" if answer["abstained"] else "answered"
        stages = {**seen.pop("stages", {}), **answer.get("timings_ms", {})}
        fell = answer.get("fallback")
        return cls(key_id, collection, "ask", latency_ms, answer["question"], outcome, id=answer["id"],
                   fallback=f"{fell['from']}: {fell['reason']}"[:500] if fell else None,
                   confidence=answer["confidence"], unverified=len(answer.get("removed", [])), stages=stages,
                   answer=answer["answer"] if outcome in ("answered", "clarify") else None,
                   sources=_sources(answer, retrieval), searched=_searched(answer), conversation_id=conversation_id,
                   **seen)


def _searched(answer: dict) -> dict[str, Any] | None:
    """What the answer searched, unless that was its question alone (no earlier turns, no rewrite)."""
    s = answer.get("searched")
    if not s or (s["query"] == answer["question"] and not s["context"] and not s["rewritten_by"]
                 and not s["fallback"]):
        return None
    return s


def _sources(answer: dict, retrieval, shown: int = 10) -> list[dict[str, Any]]:
    """The chunks an answer cited, then the rest of what retrieval found (the candidates a rating judges)."""
    cited = [{"doc_id": c["doc_id"], "chunk_id": c["chunk_id"], "cited": True} for c in answer["citations"]]
    seen = {c["chunk_id"] for c in cited}
    rest = [{"doc_id": h.doc_id, "chunk_id": h.chunk_id, "cited": False}
            for h in (retrieval.hits if retrieval is not None else []) if h.chunk_id not in seen]
    return (cited + rest)[:max(shown, len(cited))]


def _retrieval(result) -> dict[str, Any]:
    dense = result.ranked.get("dense") or []
    scores = [r["_score"] for r in dense[:2]] or [h.score for h in result.hits[:2]]
    return {"version": result.index_version, "mode": result.mode, "hits": len(result.hits),
            "top_score": scores[0] if scores else None,
            "margin": scores[0] - scores[1] if len(scores) > 1 else None,
            "stages": dict(result.timings_ms), "vector": result.query_vector}


class Request:
    """One search or answer as every face logs it: timed from its arrival (queue wait included); a failure on the
    server's side (5xx) is recorded as an error when it leaves the `with` block, a caller's mistake is not."""

    def __init__(self, log: QueryLog, key_id: str, collection: str, kind: str, text: str,
                 conversation_id: str | None = None):
        self.log, self.key_id, self.collection, self.kind, self.text = log, key_id, collection, kind, text
        self.conversation_id, self.started = conversation_id, time.perf_counter()

    def __enter__(self) -> Request:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error is not None and (not isinstance(error, RagshipError) or error.http_status >= 500):
            self.log.record(Observation(self.key_id, self.collection, self.kind, ms_since(self.started), self.text,
                                        "error", error=f"{type(error).__name__}: {error}"[:500],
                                        conversation_id=self.conversation_id))

    def searched(self, result) -> dict[str, Any]:
        """The search result as sent, its observation recorded."""
        self.log.record(Observation.of_search(result, self.key_id, self.collection, ms_since(self.started)))
        return result.to_dict()

    def answered(self, shown: dict[str, Any], retrieval) -> dict[str, Any]:
        """The answer as sent (`Answer.to_dict()`), its observation recorded."""
        self.log.record(Observation.of_answer(shown, retrieval, self.key_id, self.collection,
                                              ms_since(self.started), self.conversation_id))
        return shown


class QueryLog:
    def __init__(self, state: State, query_text: str = "redact"):
        self.state, self.query_text = state, query_text

    def request(self, key_id: str, collection: str, kind: str, text: str,
                conversation_id: str | None = None) -> Request:
        """`with log.request(...) as r: return r.searched(...)`: see Request."""
        return Request(self, key_id, collection, kind, text, conversation_id)

    def rows(self, statement) -> list[tuple]:
        with self.state.ready(read=True) as c:
            return [tuple(r) for r in c.execute(statement)]

    def write(self, statement, params: Any = None) -> int:
        with self.state.ready() as c:
            return c.execute(statement, params).rowcount

    def record(self, o: Observation) -> str:
        row = {"id": o.id, "ts": time.time(), "key_id": o.key_id, "collection": o.collection, "kind": o.kind,
               "latency_ms": o.latency_ms, "abstained": None if o.kind != "ask" else int(o.outcome == "abstained"),
               "confidence": o.confidence, "question": kept_text(o.question, self.query_text), "version": o.version,
               "mode": o.mode, "outcome": o.outcome, "hits": o.hits, "top_score": o.top_score, "margin": o.margin,
               "unverified": o.unverified, "stages": json.dumps({k: round(v, 3) for k, v in o.stages.items()}),
               "sketch": None if o.vector is None else np.asarray(o.vector, dtype=np.float16).tobytes(),
               "answer": None if o.answer is None else kept_text(o.answer, self.query_text),
               "sources": json.dumps(o.sources) if o.sources else None, "error": o.error, "fallback": o.fallback,
               "searched": self._searched(o.searched), "conversation_id": o.conversation_id}
        try:
            with self.state.ready() as c:
                upsert(c, REQUESTS, row, ("id",))
        except (StateUnavailable, StateCorrupt) as e:  # disk full, read-only, down, damaged: the answer goes out
            metrics.QUERY_LOG_DROPPED.labels(_reason(e)).inc()
            log.warning("query log: observation %s not written (%s)", o.id, e)
        return o.id

    def _searched(self, searched: dict[str, Any] | None) -> str | None:
        """What an answer searched as JSON, its texts as `monitor.query_text` allows."""
        if searched is None:
            return None
        policy = self.query_text
        return json.dumps({**searched, "query": kept_text(searched["query"], policy),
                           "context": [{**c, "text": kept_text(c["text"], policy)} for c in searched["context"]]})

    def answer_owner(self, answer_id: str) -> str | None:
        rows = self.rows(select(REQUESTS.c.key_id).where(REQUESTS.c.id == answer_id, REQUESTS.c.kind == "ask"))
        return rows[0][0] if rows else None

    def answer_shown(self, answer_id: str) -> tuple[str, str, list[dict[str, Any]]] | None:
        """(Who asked, the collection, the sources the answer showed: chunk id, doc id, cited), or None."""
        r = REQUESTS.c
        rows = self.rows(select(r.key_id, r.collection, r.sources).where(r.id == answer_id, r.kind == "ask"))
        return (rows[0][0], rows[0][1], json.loads(rows[0][2]) if rows[0][2] else []) if rows else None

    def conversations(self, key_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """The conversations `key_id` asked in (None: every key's), the latest active first: id, started, last,
        turns (questions asked), title (the first question, at most TITLE_CHARS) and the key that asked."""
        r = REQUESTS.c
        own = [r.kind == "ask"] + ([r.key_id == key_id] if key_id is not None else [])
        rows = self.rows(select(r.conversation_id, r.key_id, func.min(r.ts), func.max(r.ts), func.count())
                         .where(*own, r.conversation_id.is_not(None)).group_by(r.conversation_id, r.key_id)
                         .order_by(func.max(r.ts).desc(), r.conversation_id).limit(limit))
        if not rows:
            return []
        titles: dict[tuple[str, str], str] = {}
        for cid, asker, question in self.rows(select(r.conversation_id, r.key_id, r.question).where(
                *own, r.conversation_id.in_({row[0] for row in rows})).order_by(r.ts)):
            titles.setdefault((cid, asker), question or "")
        return [{"id": cid, "started": started, "last": last, "turns": turns,
                 "title": titles.get((cid, asker), "")[:TITLE_CHARS], "key_id": asker}
                for cid, asker, started, last, turns in rows]

    def conversation(self, conversation_id: str, key_id: str | None) -> list[dict[str, Any]]:
        """The questions of one conversation that `key_id` asked (None: any key), oldest first: answer_id, at,
        question, answer (None when it abstained or failed), outcome (as logged: OUTCOMES) and the key."""
        r = REQUESTS.c
        query = select(r.id, r.ts, r.question, r.answer, r.outcome, r.key_id).where(
            r.kind == "ask", r.conversation_id == conversation_id)
        if key_id is not None:
            query = query.where(r.key_id == key_id)
        keys = ("answer_id", "at", "question", "answer", "outcome", "key_id")
        return [dict(zip(keys, row)) for row in self.rows(query.order_by(r.ts, r.id))]

    def feedback(self, answer_id: str, key_id: str, rating: int, comment: str = "", marks: dict | None = None,
                 expected: str | None = None, correction: str = "") -> None:
        """One rating of an answer (+1, -1, or 0 for a review that only marks sources or says what it should have
        done), with per-source `marks` ({chunk id: helpful|wrong|opened}) and a `correction`."""
        self.write(FEEDBACK.insert().values(
            answer_id=answer_id, ts=time.time(), key_id=key_id, rating=rating,
            comment=kept_text(comment, self.query_text), marks=json.dumps(marks) if marks else None,
            expected=expected, correction=kept_text(correction, self.query_text) if correction else None))

    def prune(self, retention_days: float) -> int:
        """Delete requests and feedback older than the retention; the number of rows deleted."""
        before = time.time() - retention_days * 86400
        return sum(self.write(table.delete().where(table.c.ts < before)) for table in (REQUESTS, FEEDBACK))

    def purge_feedback(self, key_id: str) -> int:
        """Delete every rating and review the key gave, in every collection, so no labeled set built from then on
        holds them (a flooding or hostile key: ADR 0021); the number of rows deleted."""
        purged = self.write(FEEDBACK.delete().where(FEEDBACK.c.key_id == key_id))
        if not purged:
            raise NotFound(f"no feedback from key {key_id!r}; `ragship feedback list` shows the rated answers and "
                           "`ragship dataset show` the keys the labels came from")
        return purged

    def vectors(self, collection: str, since: float, until: float | None = None, limit: int | None = None,
                newest: bool = False) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Query embeddings (float32, one row each) and their rows, oldest first (or the newest `limit`)."""
        r = REQUESTS.c
        query = select(r.ts, r.question, r.outcome, r.confidence, r.top_score, r.margin, r.sketch).where(
            r.collection == collection, r.ts >= since, r.sketch.is_not(None))
        if until is not None:
            query = query.where(r.ts < until)
        rows = self.rows(query.order_by(r.ts.desc() if newest else r.ts).limit(limit))
        rows = rows[::-1] if newest else rows
        keys = ("ts", "question", "outcome", "confidence", "top_score", "margin")
        vectors = np.stack([np.frombuffer(r[6], dtype=np.float16) for r in rows]).astype(np.float32) if rows else \
            np.zeros((0, 0), dtype=np.float32)
        return vectors, [dict(zip(keys, r[:6])) for r in rows]


def _reason(e: StateUnavailable | StateCorrupt) -> str:
    """A short label for the dropped-rows counter: the driver's error class and its first words."""
    return str(e).split("(", 1)[-1][:40]
