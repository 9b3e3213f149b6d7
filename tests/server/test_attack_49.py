"""Attack on the routes added for issue 49 (history, gaps, feedback export, review status, a comment alone, server
starts in timelines) with a reader key of group red and an editor key of group blue: each test is one hole found,
kept as a regression test of the fix in access.py. The real app in process (tests/inprocess.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from inprocess import ask, call
from ragship.monitor.events import Events
from ragship.monitor.starts import record_start

RED_ONLY = "When does the red team ship the orbital relay?"  # only red's launch plan answers it
INTERNAL = "connection to 10.0.0.7:5432 refused for /srv/finance/RUBY-LANTERN-9902.md"


def test_history_gives_a_grouped_caller_no_server_error_text(api, monkeypatch):
    """A failed question answers 500 with the exception's type only ("see the server log"); GET /v1/history gave
    the reader the whole error text of the log (ADR 0010: error texts only to a caller who reads everything)."""
    client, keys = api
    engine = client.app.state.service.collections.default

    def broken(*args, **kwargs):
        raise RuntimeError(INTERNAL)

    monkeypatch.setattr(engine, "ask", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    r = quiet.post("/v1/ask", json={"q": "What is the relay budget?"},
                   headers={"Authorization": f"Bearer {keys['reader-red']}"})
    assert r.status_code == 500 and INTERNAL not in r.text
    monkeypatch.undo()
    mine = call(api, "reader-red", "GET", "/v1/history").json()["questions"]
    failed = next(q for q in mine if q["outcome"] == "error")
    assert INTERNAL not in str(mine) and failed["error"].startswith("RuntimeError"), failed
    admin = ask(api, "admin", "What is the relay budget?")  # an admin still reads its own errors whole
    assert admin


def test_gaps_close_no_question_with_an_answer_the_caller_may_not_see(api):
    """A question editor-public asked (visible to editor-blue) that only red's documents answer: reader-red asking
    it later marked it "closed" in editor-blue's gaps, with when and by which version: that a key of another group
    asked it, and that its documents answer it."""
    for _ in range(2):
        assert ask(api, "editor-public", RED_ONLY)["abstained"] or True
    before = call(api, "editor-blue", "GET", "/v1/gaps").json()
    mine = [q for t in before["topics"] for q in t["questions"] if q["question"] == RED_ONLY]
    assert mine, before
    answered = ask(api, "reader-red", RED_ONLY)
    assert not answered["abstained"], answered
    after = call(api, "editor-blue", "GET", "/v1/gaps").json()
    closed = [q for t in after["topics"] for q in t["closed_questions"] if q["question"] == RED_ONLY]
    assert not closed, closed
    red = call(api, "editor-red", "GET", "/v1/gaps").json()  # editor-red reads reader-red's questions: closed
    assert [q for t in red["topics"] for q in t["closed_questions"] if q["question"] == RED_ONLY]


def test_reasking_asks_as_the_asker_reads(api):
    """`/v1/gaps?reask=true` asks an open question again as its asker may read: editor-blue's re-ask must not mark
    (nor quote) a question that only red's documents answer, and neither may an admin's re-ask of a question
    reader-blue asked (the trial's admin saw a reader's question 'answered now' from a document the reader could
    not read, and the reader was still not answered)."""
    ask(api, "editor-public", RED_ONLY)
    ask(api, "reader-blue", RED_ONLY)
    for caller in ("editor-blue", "admin"):
        report = call(api, caller, "GET", "/v1/gaps?reask=true").json()
        assert report["reasked"]["asked"] >= 1, report
        mine = [q for t in report["topics"] for q in t["questions"] if q["question"] == RED_ONLY]
        assert mine and not mine[0]["answered_now"], (caller, mine)
        assert "orbital relay" not in str([q["answered_now"] for t in report["topics"] for q in t["questions"]])


def test_a_server_start_names_no_value_to_a_grouped_editor(api):
    """A changed setting whose value holds "; " (a rule's summary, a source's path): the start's text split at
    "; " to drop the values gave editor-blue the word after each "; " of the value."""
    client, _ = api
    svc = client.app.state.service
    started = svc.collections.default.home.started
    events = Events(svc.log)

    def rules(summary):
        return {"monitor": {"rules": [{"name": "Abstain", "summary": summary}]}}

    record_start(events, "default", rules("abstentions high"), started, "cli")
    record_start(events, "default", rules("abstentions high; CRIMSON-KESTREL-4471 relay down"), started, "cli")
    incident = svc.oversight.incidents.open("default", "relay answers wrong", "admin")
    timeline = call(api, "editor-blue", "GET", f"/v1/incidents/{incident.id}").json()["timeline"]
    starts = [e["text"] for e in timeline if e["kind"] == "server start"]
    assert starts and any("monitor.rules" in s for s in starts), timeline
    assert "CRIMSON" not in str(timeline), starts
    postmortem = call(api, "editor-blue", "GET", f"/v1/incidents/{incident.id}/postmortem").json()
    assert "CRIMSON" not in str(postmortem)
    admin = call(api, "admin", "GET", f"/v1/incidents/{incident.id}").json()["timeline"]
    assert "CRIMSON-KESTREL-4471" in str(admin)
