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

from ragship.access import KeyStore
from ragship.errors import InputError
from ragship.monitor.querylog import QueryLog

KINDS = ("all", "down", "up", "abstained", "sample")
STATUSES = ("to_review", "reviewed", "all")
SAMPLE_EVERY = 10  # one unrated answer in this many (by id) joins the "all" queue
QUEUED = ("answered", "abstained", "clarify")  # what a reader got: an answer, an abstention, a question back
SAMPLED = ("answered", "clarify")  # unrated, only a sample of these is queued; every abstention is
REVIEWERS = ("editor", "admin")
HOME_OWNER = ("local", "cli")  # a keyless local server and the CLI act as the home's admin


def queue(log: QueryLog, collection: str, kind: str = "all", limit: int = 50,
          status: str = "to_review") -> list[dict[str, Any]]:
    """Answers to review (see the module's text); `kind` narrows it to one reason, `status` to the answers not yet
    reviewed, the reviewed ones, or both. Each carries `review`: its latest review, or None."""
    if kind not in KINDS or status not in STATUSES:
        raise InputError(f"the review queue is one of {', '.join(KINDS)} and its status one of "
                         f"{', '.join(STATUSES)}; got {kind!r} and {status!r}")
    rows = log.review_queue(collection, QUEUED, kind, status, reviewer_keys(log),
                            limit * (SAMPLE_EVERY if kind in ("all", "sample") else 1))
    out = []
    for d in rows:
        d["sources"] = json.loads(d["sources"]) if d["sources"] else []
        unrated = d["rating"] is None and d["outcome"] in SAMPLED
        if kind in ("all", "sample") and status != "reviewed" and unrated and int(d["id"][-4:], 16) % SAMPLE_EVERY:
            continue  # the unrated traffic, sampled
        out.append(d)
    out = out[:limit]
    latest = latest_reviews(log, [d["id"] for d in out])
    return [{**d, "review": latest.get(d["id"])} for d in out]


def reviewer_keys(log: QueryLog) -> set[str]:
    """The keys whose marks, `expected` or correction are a review: an editor's, an admin's (revoked ones too: a
    review stays one) and the home's owner's (what the Review page and `ragship feedback add` save; a reader's marks
    on its own answer are not)."""
    return {key for key, role in KeyStore(log.state).roles().items() if role in REVIEWERS} | set(HOME_OWNER)


def latest_reviews(log: QueryLog, answer_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each answer's latest review: who (`by`, a key id), when (`at`), its marks, `expected` and correction."""
    if not answer_ids:
        return {}
    rows = log.reviews_of(answer_ids, reviewer_keys(log))
    return {answer: {"by": by, "at": at, "marks": json.loads(marks) if marks else {}, "expected": expected,
                     "correction": correction or ""}
            for answer, by, at, marks, expected, correction in rows}
