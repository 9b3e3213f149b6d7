"""The query log and feedback, in the state store (state/tables.py): one row per search or answer (who by key
id, when, how long per stage, which index version, the outcome, the top scores and confidence, the query's text
as `monitor.query_text` allows, and its embedding in float16 for drift; for an answer, what it searched and the
conversation it belongs to) and one row per feedback. Every server
process and replica writes to it at once; business metrics, drift and the metrics page's series are computed
from it. A row the store cannot take (disk full, the database down) is counted and dropped: the answer still
goes out.

This module alone reads and writes the two tables (STYLE.md "Storage"): the monitor and the learning loop ask it by
name for what they need (requests_between, votes_between, rated_answers, review_queue, ...)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterable, Sequence

import numpy as np
from sqlalchemy import and_, exists, func, or_, select, true

from ragship.errors import NotFound, HomeFileDamaged, StateUnavailable
from ragship.monitor import metrics
from ragship.monitor.observation import Observation, Request
from ragship.monitor.privacy import kept_text
from ragship.state import State
from ragship.state.tables import FEEDBACK, REQUESTS, upsert

log = logging.getLogger("ragship.monitor")
TITLE_CHARS = 80  # a conversation's title: its first question, cut
# "clarify": a question back (answer/clarify.py), counted apart from answers and abstentions (ADR 0023)
OUTCOMES = ("results", "no_result", "answered", "abstained", "clarify", "error")


class QueryLog:
    def __init__(self, state: State, query_text: str = "redact"):
        self.state, self.query_text = state, query_text

    def request(self, key_id: str, collection: str, kind: str, text: str,
                conversation_id: str | None = None) -> Request:
        """`with log.request(...) as r: return r.searched(...)`: see Request."""
        return Request(self, key_id, collection, kind, text, conversation_id)

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
        except (StateUnavailable, HomeFileDamaged) as e:  # disk full, read-only, down, damaged: the answer goes out
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
        rows = self.state.rows(select(REQUESTS.c.key_id).where(REQUESTS.c.id == answer_id, REQUESTS.c.kind == "ask"))
        return rows[0][0] if rows else None

    def answer_shown(self, answer_id: str) -> tuple[str, str, list[dict[str, Any]]] | None:
        """(Who asked, the collection, the sources the answer showed: chunk id, doc id, cited), or None."""
        r = REQUESTS.c
        rows = self.state.rows(select(r.key_id, r.collection, r.sources).where(r.id == answer_id, r.kind == "ask"))
        return (rows[0][0], rows[0][1], json.loads(rows[0][2]) if rows[0][2] else []) if rows else None

    def conversations(self, key_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """The conversations `key_id` asked in (None: every key's), the latest active first: id, started, last,
        turns (questions asked), title (the first question, at most TITLE_CHARS) and the key that asked."""
        r = REQUESTS.c
        own = [r.kind == "ask"] + ([r.key_id == key_id] if key_id is not None else [])
        rows = self.state.rows(select(r.conversation_id, r.key_id, func.min(r.ts), func.max(r.ts), func.count())
                         .where(*own, r.conversation_id.is_not(None)).group_by(r.conversation_id, r.key_id)
                         .order_by(func.max(r.ts).desc(), r.conversation_id).limit(limit))
        if not rows:
            return []
        titles: dict[tuple[str, str], str] = {}
        for cid, asker, question in self.state.rows(select(r.conversation_id, r.key_id, r.question).where(
                *own, r.conversation_id.in_({row[0] for row in rows})).order_by(r.ts)):
            titles.setdefault((cid, asker), question or "")
        return [{"id": cid, "started": started, "last": last, "turns": turns,
                 "title": titles.get((cid, asker), "")[:TITLE_CHARS], "key_id": asker}
                for cid, asker, started, last, turns in rows]

    def conversation(self, conversation_id: str, key_id: str | None) -> list[dict[str, Any]]:
        """The questions of one conversation that `key_id` asked (None: any key), oldest first: answer_id, at,
        question, answer (None when it abstained or failed), outcome (as logged: OUTCOMES), the key, the collection
        asked and the sources the answer showed (as answer_shown's)."""
        r = REQUESTS.c
        query = select(r.id, r.ts, r.question, r.answer, r.outcome, r.key_id, r.collection, r.sources).where(
            r.kind == "ask", r.conversation_id == conversation_id)
        if key_id is not None:
            query = query.where(r.key_id == key_id)
        keys = ("answer_id", "at", "question", "answer", "outcome", "key_id", "collection")
        return [{**dict(zip(keys, row)), "sources": json.loads(row[7]) if row[7] else []}
                for row in self.state.rows(query.order_by(r.ts, r.id))]

    def feedback(self, answer_id: str, key_id: str, rating: int, comment: str = "", marks: dict | None = None,
                 expected: str | None = None, correction: str = "") -> None:
        """One rating of an answer (+1, -1, or 0 for a review that only marks sources or says what it should have
        done), with per-source `marks` ({chunk id: helpful|wrong|opened}) and a `correction`."""
        self.state.write(FEEDBACK.insert().values(
            answer_id=answer_id, ts=time.time(), key_id=key_id, rating=rating,
            comment=kept_text(comment, self.query_text), marks=json.dumps(marks) if marks else None,
            expected=expected, correction=kept_text(correction, self.query_text) if correction else None))

    def prune(self, retention_days: float) -> int:
        """Delete requests and feedback older than the retention; the number of rows deleted."""
        before = time.time() - retention_days * 86400
        return sum(self.state.write(table.delete().where(table.c.ts < before)) for table in (REQUESTS, FEEDBACK))

    def purge_feedback(self, key_id: str) -> int:
        """Delete every rating and review the key gave, in every collection, so no labeled set built from then on
        holds them (a flooding or hostile key: ADR 0021); the number of rows deleted."""
        purged = self.state.write(FEEDBACK.delete().where(FEEDBACK.c.key_id == key_id))
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
        rows = self.state.rows(query.order_by(r.ts.desc() if newest else r.ts).limit(limit))
        rows = rows[::-1] if newest else rows
        keys = ("ts", "question", "outcome", "confidence", "top_score", "margin")
        vectors = np.stack([np.frombuffer(r[6], dtype=np.float16) for r in rows]).astype(np.float32) if rows else \
            np.zeros((0, 0), dtype=np.float32)
        return vectors, [dict(zip(keys, r[:6])) for r in rows]


    # -- what the monitor and the learning loop read ---------------------------------------------------------------
    def requests_between(self, collection: str | None, since: float, until: float | None = None,
                         columns: Sequence[str] = ("ts",), through: bool = False) -> list[tuple]:
        """`columns` of the requests logged from `since` to `until` (excluded; included `through` it; None: now) in
        `collection` (None: every collection), oldest first."""
        r = REQUESTS.c
        query = select(*(r[name] for name in columns)).where(r.ts >= since)
        if collection is not None:
            query = query.where(r.collection == collection)
        if until is not None:
            query = query.where(r.ts <= until if through else r.ts < until)
        return self.state.rows(query.order_by(r.ts))

    def votes_between(self, collection: str | None, since: float, until: float | None = None
                      ) -> list[tuple[int, float]]:
        """(rating, when) of each vote given from `since` to `until` (excluded; None: now) on an answer of
        `collection` (None: any), oldest first; a review or a comment (rating 0) is no vote."""
        r, f = REQUESTS.c, FEEDBACK.c
        query = select(f.rating, f.ts).where(f.ts >= since, f.rating != 0)
        if collection is not None:
            query = query.join_from(FEEDBACK, REQUESTS, r.id == f.answer_id).where(r.collection == collection)
        if until is not None:
            query = query.where(f.ts < until)
        return self.state.rows(query.order_by(f.ts))

    def rated_questions(self, collection: str, since: float, until: float) -> list[tuple[str, str | None, str]]:
        """(rater, question, answer id) of each rating or review given from `since` to `until` (excluded) on an
        answer of `collection`."""
        r, f = REQUESTS.c, FEEDBACK.c
        return self.state.rows(select(f.key_id, r.question, r.id).join_from(FEEDBACK, REQUESTS, r.id == f.answer_id)
                               .where(r.collection == collection, r.kind == "ask", f.ts >= since, f.ts < until))

    def labels_since(self, collection: str, since: float) -> list[str]:
        """The questions of `collection` (an answer's id where none was kept) rated or reviewed after `since`, each
        once."""
        r, f = REQUESTS.c, FEEDBACK.c
        return [q for (q,) in self.state.rows(select(func.coalesce(r.question, r.id)).distinct()
                                              .select_from(FEEDBACK.join(REQUESTS, r.id == f.answer_id))
                                              .where(r.collection == collection, f.ts > since))]

    def rated_answers(self, collection: str, since: float = 0.0) -> list[dict[str, Any]]:
        """Each feedback on an answer of `collection` given at or after `since`, oldest first, with the answer it is
        about: RATED's fields, JSON ones (marks, sources) as stored."""
        r, f = REQUESTS.c, FEEDBACK.c
        rows = self.state.rows(select(f.answer_id, r.ts, r.key_id, r.question, r.outcome, r.answer, r.version, f.ts,
                                      f.key_id, f.rating, f.comment, f.expected, f.correction, f.marks, r.sources)
                               .select_from(FEEDBACK.join(REQUESTS, r.id == f.answer_id))
                               .where(r.collection == collection, r.kind == "ask", f.ts >= since).order_by(f.ts))
        return [dict(zip(RATED, row)) for row in rows]

    def feedback_on(self, answer_ids: Iterable[str]) -> list[tuple[str, str, int, str | None]]:
        """(answer id, rater, rating, comment) of the feedback on `answer_ids`, oldest first."""
        f = FEEDBACK.c
        return self.state.rows(select(f.answer_id, f.key_id, f.rating, f.comment)
                               .where(f.answer_id.in_(list(answer_ids))).order_by(f.ts))

    def asked(self, key_id: str | None, collection: str | None = None, limit: int = 50,
              before: float | None = None) -> list[dict[str, Any]]:
        """The questions `key_id` asked (None: any key) in `collection` (None: any), newest first, `limit` of them
        older than `before`: ASKED's fields."""
        r = REQUESTS.c
        query = select(r.id, r.ts, r.collection, r.question, r.outcome, r.confidence, r.answer, r.version, r.fallback,
                       r.error, r.key_id).where(r.kind == "ask")
        if key_id is not None:
            query = query.where(r.key_id == key_id)
        if collection is not None:
            query = query.where(r.collection == collection)
        if before is not None:
            query = query.where(r.ts < before)
        return [dict(zip(ASKED, row)) for row in self.state.rows(query.order_by(r.ts.desc()).limit(limit))]

    def failed_asks(self, collection: str, since: float) -> list[tuple]:
        """(id, when, asker, question, outcome, sketch) of the questions asked since `since` that abstained, found
        nothing, or were answered and rated down; oldest first."""
        r, f = REQUESTS.c, FEEDBACK.c
        down = select(f.answer_id).where(f.rating < 0)
        return self.state.rows(select(r.id, r.ts, r.key_id, r.question, r.outcome, r.sketch).where(
            r.collection == collection, r.kind == "ask", r.ts >= since,
            or_(r.outcome.in_(("abstained", "no_result")), and_(r.outcome == "answered", r.id.in_(down))))
            .order_by(r.ts))

    def answered_asks(self, collection: str, since: float) -> list[tuple]:
        """(when, question, version, asker) of the questions answered since `since` that no one rated down; oldest
        first."""
        r, f = REQUESTS.c, FEEDBACK.c
        down = select(f.answer_id).where(f.rating < 0)
        return self.state.rows(select(r.ts, r.question, r.version, r.key_id).where(
            r.collection == collection, r.kind == "ask", r.ts >= since, r.outcome == "answered",
            r.id.not_in(down)).order_by(r.ts))

    def review_queue(self, collection: str, outcomes: Sequence[str], kind: str, status: str,
                     reviewers: Iterable[str], limit: int) -> list[dict[str, Any]]:
        """The newest `limit` asks of `collection` with one of `outcomes`, narrowed by `kind` (down, up: their rating;
        abstained; sample: unrated; else all) and `status` (to_review, reviewed by one of `reviewers`: key ids;
        else all): QUEUED's fields, sources as stored. `rating` is the lowest of the keys' latest votes."""
        r = REQUESTS.c
        rating, reviewers = _ratings(), list(reviewers)
        reviewed = exists(_reviews(reviewers).where(FEEDBACK.c.answer_id == r.id))
        query = (select(r.id, r.ts, r.question, r.answer, r.outcome, r.confidence, r.version, r.sources,
                        rating.c.rating, rating.c.votes, r.key_id)
                 .select_from(REQUESTS.outerjoin(rating, rating.c.answer_id == r.id))
                 .where(r.collection == collection, r.kind == "ask", r.outcome.in_(outcomes)))
        query = query.where({"down": rating.c.rating < 0, "up": rating.c.rating > 0,
                             "abstained": r.outcome == "abstained",
                             "sample": rating.c.rating.is_(None)}.get(kind, true()))
        query = query.where({"to_review": ~reviewed, "reviewed": reviewed}.get(status, true()))
        return [dict(zip(QUEUED, row)) for row in self.state.rows(query.order_by(r.ts.desc()).limit(limit))]

    def reviews_of(self, answer_ids: list[str], reviewers: Iterable[str]) -> list[tuple]:
        """(answer id, reviewer, when, marks, expected, correction) of the reviews of `answer_ids` by `reviewers`
        (key ids), oldest first."""
        return self.state.rows(_reviews(list(reviewers)).where(FEEDBACK.c.answer_id.in_(answer_ids))
                               .order_by(FEEDBACK.c.ts))


# the fields of rated_answers, asked and review_queue
RATED = ("answer_id", "asked_at", "asked_by", "question", "outcome", "answer", "version", "rated_at", "rated_by",
         "rating", "comment", "expected", "correction", "marks", "sources")
ASKED = ("id", "ts", "collection", "question", "outcome", "confidence", "answer", "version", "fallback", "error",
         "asked_by")
QUEUED = ("id", "ts", "question", "answer", "outcome", "confidence", "version", "sources", "rating", "votes",
          "asked_by")


def _ratings():
    """Per answer, its `rating` and `votes` (its feedback rows): a review's 0 is no vote, and each key's latest vote
    replaces its earlier ones (the UI lets a reader change its vote); down when any key's latest is down."""
    f = FEEDBACK.c
    ranked = (select(f.answer_id, f.rating, func.row_number().over(partition_by=(f.answer_id, f.key_id),
                                                                   order_by=f.ts.desc()).label("n"))
              .where(f.rating != 0).subquery())
    latest = (select(ranked.c.answer_id, func.min(ranked.c.rating).label("rating")).where(ranked.c.n == 1)
              .group_by(ranked.c.answer_id).subquery())
    return (select(f.answer_id, func.min(latest.c.rating).label("rating"), func.count().label("votes"))
            .select_from(FEEDBACK.outerjoin(latest, latest.c.answer_id == f.answer_id)).group_by(f.answer_id)
            .subquery())


def _reviews(reviewers: list[str]):
    """Feedback rows that are reviews: marks, `expected` or a correction from one of `reviewers` (key ids)."""
    f = FEEDBACK.c
    return (select(f.answer_id, f.key_id, f.ts, f.marks, f.expected, f.correction)
            .where(or_(f.marks.is_not(None), f.expected.is_not(None), f.correction.is_not(None)),
                   f.key_id.in_(reviewers)))

def _reason(e: StateUnavailable | HomeFileDamaged) -> str:
    """A short label for the dropped-rows counter: the driver's error class and its first words."""
    return str(e).split("(", 1)[-1][:40]
