"""The review queue, on both state stores: which answers each queue holds, newest first."""

import pytest

from ragship.errors import InputError
from ragship.learn.review import SAMPLE_EVERY, queue
from ragship.monitor.querylog import Observation, QueryLog


def asked(log, n, outcome="answered", collection="default", kind="ask", rating=None):
    o = Observation("k1", collection, kind, 10.0, f"question {n}", outcome, id=f"{n:032x}",
                    answer="an answer" if outcome == "answered" else None)
    log.record(o)
    if rating is not None:
        log.feedback(o.id, "k1", rating)
    return o.id


def test_each_queue_holds_its_answers(state):
    log = QueryLog(state, "keep")
    down, up, abstained = asked(log, 1, rating=-1), asked(log, 2, rating=1), asked(log, 3, "abstained")
    unrated = [asked(log, n) for n in range(100, 140)]
    asked(log, 4, kind="search", outcome="results")  # searches and other collections are never queued
    asked(log, 5, collection="other", rating=-1)
    sampled = {i for i in unrated if int(i[-4:], 16) % SAMPLE_EVERY == 0}
    assert len(sampled) == 4

    def ids(kind):
        return [a["id"] for a in queue(log, "default", kind, limit=100)]

    # rated up as well as down (reviews of both kinds measure how often the ratings are wrong), newest first
    assert ids("all") == [*sorted(sampled, reverse=True), abstained, up, down]
    assert ids("down") == [down] and ids("up") == [up] and ids("abstained") == [abstained]
    assert set(ids("sample")) == sampled | {abstained}  # no rating yet: an abstention is always shown
    assert len(queue(log, "default", "all", limit=2)) == 2


def test_an_unknown_queue_is_an_error_naming_the_queues(state):
    with pytest.raises(InputError, match="one of all, down, up, abstained, sample"):
        queue(QueryLog(state), "default", "best")


def test_a_saved_review_leaves_the_queue_to_review_and_shows_under_reviewed(state):
    """Issue 49 finding 6: three reviews saved, and after a reload the cards still said "rated down" with empty
    fields and stayed in the queue. A review (an editor's marks, expected, correction) moves the answer from "to
    review" to "reviewed", which carries the latest review to fill the card; its 0 is not a vote."""
    from ragship.access import KeyStore

    log = QueryLog(state, "keep")
    editor = KeyStore(state).create("editor", [], "ed")[1].id
    reader = KeyStore(state).create("reader", [], "rita")[1].id
    down, other = asked(log, 1, rating=-1), asked(log, 2, rating=-1)
    log.feedback(down, editor, 0, marks={"c1": "wrong"}, expected="abstain", correction="")
    log.feedback(down, editor, 0, marks={"c1": "helpful"}, expected="answer", correction="In October.")
    log.feedback(other, reader, 0, marks={"c1": "wrong"})  # a reader's marks are no review

    def ids(status, kind="down"):
        return [a["id"] for a in queue(log, "default", kind, limit=100, status=status)]

    assert ids("to_review") == [other] and ids("reviewed") == [down] and ids("all") == [other, down]
    row = queue(log, "default", "down", status="reviewed")[0]
    assert row["rating"] == -1 and row["votes"] == 3  # still rated down: the reviews are not votes
    assert row["review"] == {"by": editor, "at": row["review"]["at"], "marks": {"c1": "helpful"},
                             "expected": "answer", "correction": "In October."}
    assert queue(log, "default", "down", status="to_review")[0]["review"] is None
    with pytest.raises(InputError, match="status one of to_review, reviewed, all"):
        queue(log, "default", "down", status="done")


def test_a_question_back_is_queued_as_an_answer_is(state):
    """Issue 49: a question back (outcome "clarify") that a reader rated down was in no queue."""
    log = QueryLog(state, "keep")
    down, up = asked(log, 1, "clarify", rating=-1), asked(log, 2, "clarify", rating=1)
    unrated = [asked(log, n, "clarify") for n in range(100, 120)]
    sampled = {i for i in unrated if int(i[-4:], 16) % SAMPLE_EVERY == 0}
    assert len(sampled) == 2

    def ids(kind):
        return [a["id"] for a in queue(log, "default", kind, limit=100)]

    assert ids("down") == [down] and ids("up") == [up] and ids("abstained") == []
    assert ids("all") == [*sorted(sampled, reverse=True), up, down] and set(ids("sample")) == sampled
    assert queue(log, "default", "down")[0]["outcome"] == "clarify"


def test_a_keys_latest_vote_is_the_rating_the_queue_goes_by(state):
    """Issue 49: a reader who changed its vote from down to up stayed "rated down" in the review queue (the UI now
    lets it change the vote; the labels already took each key's latest)."""
    log = QueryLog(state, "keep")
    changed, disputed = asked(log, 1, rating=-1), asked(log, 2, rating=1)
    log.feedback(changed, "k1", 1)  # down, then up
    log.feedback(disputed, "k2", -1)  # another key's down
    rated = {a["id"]: a["rating"] for a in queue(log, "default", "all", limit=100)}
    assert rated == {changed: 1, disputed: -1}
    assert [a["id"] for a in queue(log, "default", "down")] == [disputed]
    assert [a["id"] for a in queue(log, "default", "up")] == [changed]
