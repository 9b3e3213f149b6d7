"""One search or answer as the query log records it (monitor/querylog.py): what it was, what it found, how long each
stage took; and the `with` block every face wraps a request in, which records it as it leaves."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from ragship.errors import RagshipError
from ragship.util.clock import ms_since


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
    sources: list[dict[str, Any]] = field(default_factory=list)  # {doc_id, chunk_id, cited[, n]} in the order shown
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
    """The chunks an answer cited, each with its number in the answer's text (`n`: what a reopened conversation
    links its [n] markers to), then the rest of what retrieval found (the candidates a rating judges)."""
    cited = [{"doc_id": c["doc_id"], "chunk_id": c["chunk_id"], "cited": True, "n": c["n"]}
             for c in answer["citations"]]
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


class Recorder(Protocol):
    """Where a request's observation goes (querylog.QueryLog)."""

    def record(self, o: Observation) -> str: ...


class Request:
    """One search or answer as every face logs it: timed from its arrival (queue wait included); a failure on the
    server's side (5xx) is recorded as an error when it leaves the `with` block, a caller's mistake is not."""

    def __init__(self, log: Recorder, key_id: str, collection: str, kind: str, text: str,
                 conversation_id: str | None = None):
        self.log, self.key_id, self.collection, self.kind, self.text = log, key_id, collection, kind, text
        self.conversation_id, self.started = conversation_id, time.perf_counter()

    def __enter__(self) -> Request:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error is not None:
            self.failed(error)

    def failed(self, error: BaseException) -> None:
        """`error` recorded as this request's outcome where it is the server's (5xx), not where it is the caller's
        mistake: what leaving the `with` block with it does, for a face that learns of it later (a stream's)."""
        if not isinstance(error, RagshipError) or error.http_status >= 500:
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
