"""The review queue: answers an editor should look at, with what they need to judge them (the question, the
answer, its sources with their text, the ratings so far): rated answers (down, and up: a review of either says how
often the ratings are wrong, `learn/labels.py: rating_noise`), abstentions, and a sample of the unrated traffic,
newest first. A question back (outcome "clarify") is queued as an answer is: rated, under its rating; unrated, in
the sample (issue 49: one rated down was in no queue). An answer an editor has reviewed leaves the queue "to
review" and is listed under "reviewed" with its latest review (issue 49, finding 6: a reload showed saved reviews
as never done)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import exists, func, or_, select

from ragship.errors import InputError
from ragship.monitor.querylog import QueryLog
from ragship.state.tables import FEEDBACK, KEYS, REQUESTS

KINDS = ("all", "down", "up", "abstained", "sample")
STATUSES = ("to_review", "reviewed", "all")
SAMPLE_EVERY = 10  # one unrated answer in this many (by id) joins the "all" queue
QUEUED = ("answered", "abstained", "clarify")  # what a reader got: an answer, an abstention, a question back
SAMPLED = ("answered", "clarify")  # unrated, only a sample of these is queued; every abstention is
REVIEWERS = ("editor", "admin")
HOME_OWNER = ("local", "cli")  # a keyless local server and the CLI act as the home's admin
_KEYS = ("id", "ts", "question", "answer", "outcome", "confidence", "version", "sources", "rating", "votes",
         "asked_by")


def queue(log: QueryLog, collection: str, kind: str = "all", limit: int = 50,
          status: str = "to_review") -> list[dict[str, Any]]:
    """Answers to review (see the module's text); `kind` narrows it to one reason, `status` to the answers not yet
    reviewed, the reviewed ones, or both. Each carries `review`: its latest review, or None."""
    if kind not in KINDS or status not in STATUSES:
        raise InputError(f"the review queue is one of {', '.join(KINDS)} and its status one of "
                         f"{', '.join(STATUSES)}; got {kind!r} and {status!r}")
    r = REQUESTS.c
    rating = _ratings()
    reviewed = exists(_reviews().where(FEEDBACK.c.answer_id == r.id))
    query = (select(r.id, r.ts, r.question, r.answer, r.outcome, r.confidence, r.version, r.sources, rating.c.rating,
                    rating.c.votes, r.key_id)
             .select_from(REQUESTS.outerjoin(rating, rating.c.answer_id == r.id))
             .where(r.collection == collection, r.kind == "ask", r.outcome.in_(QUEUED)))
    query = query.where({"down": rating.c.rating < 0, "up": rating.c.rating > 0,
                         "abstained": r.outcome == "abstained",
                         "sample": rating.c.rating.is_(None)}.get(kind, True))
    query = query.where({"to_review": ~reviewed, "reviewed": reviewed}.get(status, True))
    rows = log.rows(query.order_by(r.ts.desc()).limit(limit * (SAMPLE_EVERY if kind in ("all", "sample") else 1)))
    out = []
    for row in rows:
        d = dict(zip(_KEYS, row))
        d["sources"] = json.loads(d["sources"]) if d["sources"] else []
        unrated = d["rating"] is None and d["outcome"] in SAMPLED
        if kind in ("all", "sample") and status != "reviewed" and unrated and int(d["id"][-4:], 16) % SAMPLE_EVERY:
            continue  # the unrated traffic, sampled
        out.append(d)
    out = out[:limit]
    latest = latest_reviews(log, [d["id"] for d in out])
    return [{**d, "review": latest.get(d["id"])} for d in out]


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


def _reviews():
    """Feedback rows that are reviews: marks, `expected` or a correction from an editor, an admin or the home's
    owner (what the Review page and `ragship feedback add` save; a reader's marks on its own answer are not)."""
    f = FEEDBACK.c
    return (select(f.answer_id, f.key_id, f.ts, f.marks, f.expected, f.correction)
            .select_from(FEEDBACK.outerjoin(KEYS, KEYS.c.id == f.key_id))
            .where(or_(f.marks.is_not(None), f.expected.is_not(None), f.correction.is_not(None)),
                   or_(KEYS.c.role.in_(REVIEWERS), f.key_id.in_(HOME_OWNER))))


def latest_reviews(log: QueryLog, answer_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each answer's latest review: who (`by`, a key id), when (`at`), its marks, `expected` and correction."""
    if not answer_ids:
        return {}
    rows = log.rows(_reviews().where(FEEDBACK.c.answer_id.in_(answer_ids)).order_by(FEEDBACK.c.ts))
    return {answer: {"by": by, "at": at, "marks": json.loads(marks) if marks else {}, "expected": expected,
                     "correction": correction or ""}
            for answer, by, at, marks, expected, correction in rows}
