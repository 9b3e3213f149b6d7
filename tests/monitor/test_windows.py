"""What counts as a vote in the business metrics: a review or a comment alone is none (a review counted as "not
helpful" on the Feedback chart, issue 49)."""

from ragship.monitor.querylog import Observation, QueryLog
from ragship.monitor.windows import business, series


def test_a_review_or_a_comment_alone_is_no_vote(state):
    log = QueryLog(state, "keep")
    o = Observation("k1", "default", "ask", 10.0, "q", "answered", answer="a")
    log.record(o)
    log.feedback(o.id, "k1", 1)
    log.feedback(o.id, "k1", 0, "a comment")
    log.feedback(o.id, "cli", 0, marks={"c": "helpful"})
    metrics = business(log, "default", 0, min_requests=1)
    assert metrics["feedback"] == 1 and metrics["positive_feedback_rate"] == 1.0
    _, points = series(log, 60, 86400)  # one bucket
    assert (points[0]["up"], points[0]["down"]) == (1, 0)  # a review counted as "not helpful" before


def test_a_question_back_is_counted_apart_from_answers_and_abstentions(state):
    log = QueryLog(state, "keep")
    for outcome, n in (("answered", 5), ("abstained", 3), ("clarify", 2), ("no_result", 1)):
        for _ in range(n):
            log.record(Observation("k1", "default", "ask", 10.0, "q", outcome))
    metrics = business(log, "default", 0, min_requests=1)
    assert (metrics["answer_rate"], metrics["abstain_rate"], metrics["clarify_rate"]) == (
        round(5 / 11, 4), round(3 / 11, 4), round(2 / 11, 4))  # every ask once: 5 + 3 + 2 + 1 found nothing
    _, points = series(log, 60, 86400)  # one bucket
    assert (points[0]["answered"], points[0]["abstained"], points[0]["clarify"]) == (5, 3, 2)
    assert (points[0]["answer_rate"], points[0]["abstain_rate"], points[0]["clarify_rate"]) == (0.5, 0.3, 0.2)


def test_every_rate_an_alert_watches_has_a_line_on_the_charts(state):
    """The LLM fallback rate fired an alert the Monitoring page had no chart of (issue 49, finding 9)."""
    log = QueryLog(state, "keep")
    fallback = "openai: connection refused"
    for outcome, n, extra in (("answered", 3, {"fallback": fallback}), ("answered", 1, {"unverified": 1}),
                              ("answered", 4, {}), ("no_result", 1, {}), ("error", 1, {})):
        for _ in range(n):
            log.record(Observation("k1", "default", "ask", 10.0, "q", outcome, answer="a", **extra))
    metrics = business(log, "default", 0, min_requests=1)
    _, [point] = series(log, 60, 86400)  # one bucket however slowly the rows were written
    for name in ("llm_fallback_rate", "citation_failure_rate", "no_result_rate", "error_rate"):
        assert point[name] == round(metrics[name], 3), name
    assert (point["llm_fallback_rate"], point["citation_failure_rate"]) == (0.333, 0.125)
