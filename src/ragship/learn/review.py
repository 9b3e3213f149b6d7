"""The review queue: answers an editor should look at, with what they need to judge them (the question, the
answer, its sources with their text, the ratings so far): rated answers (down, and up: a review of either says how
often the ratings are wrong, `learn/labels.py: rating_noise`), abstentions, and a sample of the unrated traffic,
newest first."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from ragship.monitor.querylog import QueryLog
from ragship.state.tables import FEEDBACK, REQUESTS

KINDS = ("all", "down", "up", "abstained", "sample")
SAMPLE_EVERY = 10  # one unrated answer in this many (by id) joins the "all" queue


def queue(log: QueryLog, collection: str, kind: str = "all", limit: int = 50) -> list[dict[str, Any]]:
    """Answers to review (see the module's text); `kind` narrows it to one reason."""
    if kind not in KINDS:
        from ragship.errors import InputError

        raise InputError(f"the review queue is one of {', '.join(KINDS)}; got {kind!r}")
    r, f = REQUESTS.c, FEEDBACK.c
    rating = (select(f.answer_id, func.min(f.rating).label("rating"), func.count().label("votes"))
              .group_by(f.answer_id).subquery())
    query = (select(r.id, r.ts, r.question, r.answer, r.outcome, r.confidence, r.version, r.sources, rating.c.rating,
                    rating.c.votes, r.key_id)
             .select_from(REQUESTS.outerjoin(rating, rating.c.answer_id == r.id))
             .where(r.collection == collection, r.kind == "ask", r.outcome.in_(("answered", "abstained"))))
    query = query.where({"down": rating.c.rating < 0, "up": rating.c.rating > 0,
                         "abstained": r.outcome == "abstained",
                         "sample": rating.c.rating.is_(None)}.get(kind, True))
    rows = log.rows(query.order_by(r.ts.desc()).limit(limit * (SAMPLE_EVERY if kind in ("all", "sample") else 1)))
    keys = ("id", "ts", "question", "answer", "outcome", "confidence", "version", "sources", "rating", "votes",
            "asked_by")
    out = []
    for row in rows:
        d = dict(zip(keys, row))
        d["sources"] = json.loads(d["sources"]) if d["sources"] else []
        unrated = d["rating"] is None and d["outcome"] == "answered"
        if kind in ("all", "sample") and unrated and int(d["id"][-4:], 16) % SAMPLE_EVERY:
            continue  # the unrated traffic, sampled
        out.append(d)
    return out[:limit]
