"""A key's own question history from the query log: what it asked, when, what came of it (answered, abstained,
found nothing, failed), and what it said about the answer (its latest rating and comment). Issue 49, finding 11."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ragship.monitor.querylog import QueryLog
from ragship.state.tables import FEEDBACK, REQUESTS


def history(log: QueryLog, key_id: str | None, collection: str | None = None, limit: int = 50,
            before: float | None = None) -> list[dict[str, Any]]:
    """The questions `key_id` asked (None: every key's, for the home's owner), newest first, `limit` of them older
    than `before`; each with its outcome and the asker's own latest rating and comment of the answer."""
    r = REQUESTS.c
    query = select(r.id, r.ts, r.collection, r.question, r.outcome, r.confidence, r.answer, r.version, r.fallback,
                   r.error, r.key_id).where(r.kind == "ask")
    if key_id is not None:
        query = query.where(r.key_id == key_id)
    if collection is not None:
        query = query.where(r.collection == collection)
    if before is not None:
        query = query.where(r.ts < before)
    keys = ("id", "ts", "collection", "question", "outcome", "confidence", "answer", "version", "fallback", "error",
            "asked_by")
    asked = [dict(zip(keys, row)) for row in log.rows(query.order_by(r.ts.desc()).limit(limit))]
    said = _own_feedback(log, asked)
    return [{**a, "rating": said.get(a["id"], {}).get("rating"), "comment": said.get(a["id"], {}).get("comment", "")}
            for a in asked]


def _own_feedback(log: QueryLog, asked: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per answer, the asker's latest rating ("up", "down") and latest comment."""
    if not asked:
        return {}
    f = FEEDBACK.c
    asker = {a["id"]: a["asked_by"] for a in asked}
    rows = log.rows(select(f.answer_id, f.key_id, f.rating, f.comment).where(f.answer_id.in_(list(asker)))
                    .order_by(f.ts))
    out: dict[str, dict[str, Any]] = {}
    for answer_id, by, rating, comment in rows:
        if by != asker[answer_id]:
            continue
        mine = out.setdefault(answer_id, {})
        if rating:
            mine["rating"] = "up" if rating > 0 else "down"
        if comment:
            mine["comment"] = comment
    return out
