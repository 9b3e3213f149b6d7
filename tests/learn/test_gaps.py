"""The questions the documents fail to answer (issue 49, finding 11): abstentions, empty results and down-voted
answers, one entry per question, grouped by topic, closed once later answered without a down-vote."""

import numpy as np

from ragship.learn.gaps import gaps, topic_name
from ragship.monitor.querylog import Observation, QueryLog

TOPICS = {"tram": ["When does the night tram to the harbour run?", "Is the harbour tram free on Sundays?",
                   "Where does the harbour tram stop at night?"],
          "payroll": ["When is payroll paid in December?", "Who approves payroll corrections?",
                      "How do I fix a payroll error?"]}


def _vector(topic: str, n: int) -> np.ndarray:
    v = np.zeros(8, dtype=np.float32)
    v[{"tram": 0, "payroll": 4}.get(topic, 7)] = 1.0
    v[1 + n] = 0.05
    return v


def record(log, text, outcome, key="k1", topic="tram", n=0, rating=None, comment="", at=None):
    o = Observation(key, "default", "ask", 10.0, text, outcome, vector=_vector(topic, n),
                    answer="an answer" if outcome == "answered" else None)
    log.record(o)
    if at is not None:  # the log stamps rows now: move this one in time
        from ragship.state.tables import REQUESTS
        log.state.write(REQUESTS.update().where(REQUESTS.c.id == o.id).values(ts=at))
    if rating is not None or comment:
        log.feedback(o.id, key, rating or 0, comment)
    return o.id


def test_failed_questions_are_grouped_by_topic_counted_and_closed_when_later_answered(state):
    import time

    log, now = QueryLog(state, "keep"), time.time()
    for topic, texts in TOPICS.items():
        for n, text in enumerate(texts):
            record(log, text, "abstained", topic=topic, n=n, at=now - 3600)
    record(log, TOPICS["tram"][0], "no_result", at=now - 1800)  # the same question again: one entry, failed twice
    record(log, TOPICS["payroll"][0], "answered", topic="payroll", rating=-1, comment="that was November's date",
           at=now - 1700)
    record(log, "when is payroll paid in  december?", "answered", topic="payroll", at=now - 60)  # later answered
    record(log, TOPICS["tram"][1], "answered", at=now - 7200)  # answered before it failed: still open
    record(log, "Who wrote the tram timetable?", "abstained", key="secret", at=now - 600)
    record(log, "An old question about trams", "abstained", at=now - 40 * 86400)  # outside the window
    record(log, "Where do I return a library book?", "no_result", topic="library", at=now - 500)  # on its own

    report = gaps(log, "default", lambda key: key != "secret", days=30, now=now)
    assert report["hidden"] == 1 and report["open"] == 6 and report["closed"] == 1
    *topics, alone = report["topics"]
    assert alone["others"] and [q["question"] for q in alone["questions"]] == ["Where do I return a library book?"]
    tram, payroll = sorted(topics, key=lambda t: t["name"] != topic_name(TOPICS["tram"]))
    assert "tram" in tram["name"] and "harbour" in tram["name"] and "payroll" in payroll["name"]
    assert (tram["open"], tram["closed"], tram["failed"]) == (3, 0, 4)
    first = tram["questions"][0]
    assert first["question"] == TOPICS["tram"][0] and first["failed"] == 2
    assert first["reasons"] == {"abstained": 1, "found nothing": 1}
    assert (payroll["open"], payroll["closed"]) == (2, 1)
    closed = payroll["closed_questions"][0]
    assert closed["question"] == TOPICS["payroll"][0] and closed["closed_at"] > now - 120
    assert closed["reasons"] == {"abstained": 1, "rated down": 1} and closed["comments"] == ["that was November's date"]
    assert "Who wrote" not in str(report) and "old question" not in str(report)


def test_reasking_marks_a_question_the_documents_added_since_now_answer(state, tmp_path, cache_dir):
    from conftest import make_engine

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "library.md").write_text("# Library\n\nBooks are returned at the front desk of the city library. "
                                     "Late returns cost ten cents a day.\n")
    engine = make_engine(tmp_path / "home", cache_dir)
    engine.ingest([docs])
    log = QueryLog(state, "keep")
    tram, fares = "When does the night tram to the harbour run?", "How much is a monthly fare card for the ferry?"
    for text in (tram, fares):
        record(log, text, "abstained")
    asked_as = []

    def ask(question, asker):
        asked_as.append(asker)
        return engine.ask(question).to_dict()

    assert gaps(log, "default", lambda key: True, ask=ask)["reasked"] == {"asked": 2, "answered": 0, "left": 0}
    assert asked_as == ["k1", "k1"]  # each as the key that asked it
    (docs / "tram.md").write_text("# Night tram\n\nThe night tram to the harbour runs every thirty minutes from "
                                  "midnight until five in the morning, seven days a week.\n")
    engine.ingest([docs])
    report = gaps(log, "default", lambda key: True, ask=ask)
    assert report["reasked"] == {"asked": 2, "answered": 1, "left": 0} and report["open"] == 2  # no one answered yet
    marked = [q for t in report["topics"] for q in t["questions"] if q["answered_now"]]
    assert [q["question"] for q in marked] == [tram] and marked[0]["answered_now"]["documents"] == ["docs/tram.md"]
    assert "midnight" in marked[0]["answered_now"]["answer"] and marked[0]["answered_now"]["version"] == "v2"
    assert sum(t["answered_now"] for t in report["topics"]) == 1
    assert not any(q["answered_now"] for t in gaps(log, "default", lambda key: True)["topics"] for q in t["questions"])
