"""A key's own question history from the query log (issue 49, finding 11)."""

from ragship.learn.history import history
from ragship.monitor.querylog import Observation, QueryLog


def test_a_keys_history_holds_its_own_questions_with_outcome_rating_and_comment(state):
    log = QueryLog(state, "keep")
    for n, (key, outcome) in enumerate([("k1", "answered"), ("k2", "answered"), ("k1", "abstained"),
                                        ("k1", "error")]):
        log.record(Observation(key, "default", "ask", 10.0, f"question {n}", outcome, id=f"{n:032x}",
                               answer="an answer" if outcome == "answered" else None))
    log.record(Observation("k1", "default", "search", 5.0, "a search", "results", id="f" * 32))
    log.feedback(f"{0:032x}", "k1", -1, "it missed the date")
    log.feedback(f"{0:032x}", "k1", 1)  # its later vote replaces the earlier; the comment stays
    log.feedback(f"{0:032x}", "k2", -1, "someone else's comment")
    mine = history(log, "k1")
    assert [q["question"] for q in mine] == ["question 3", "question 2", "question 0"]  # newest first, asks only
    assert [q["outcome"] for q in mine] == ["error", "abstained", "answered"]
    assert mine[2]["rating"] == "up" and mine[2]["comment"] == "it missed the date"
    assert mine[0]["rating"] is None and mine[0]["comment"] == ""
    assert [q["question"] for q in history(log, "k1", limit=1, before=mine[0]["ts"])] == ["question 2"]
    assert len(history(log, None)) == 4 and history(log, "k1", "other") == []
