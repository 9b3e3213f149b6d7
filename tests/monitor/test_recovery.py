"""Alerts and postmortems follow the fix, not the window (issue 49, finding 4): the trial's LLM-down scenario on the
default monitor settings (a 1 h window, a round every 30 s, LLMFallback after 60 s), with an OpenAI-compatible
stub we control and a clock the test moves: a restart pointing at a dead endpoint, then a restart with the fixed
URL. The incident resolves within 2 minutes of the fix; its postmortem measures the recovery to that restart and
counts the answers quoted meanwhile as its impact."""

import socket
import time
from pathlib import Path

import pytest
from conftest import DATA, make_engine

from ragship.collections import Collections
from ragship.monitor.alerts import Alerts
from ragship.monitor.postmortem import markdown
from ragship.monitor.querylog import Observation, QueryLog
from ragship.monitor.windows import business
from ragship.oversight import Oversight
from ragship.settings import AlertRule
from ragship.state.tables import REQUESTS

from ragship.testing.openai_stub import StubServer

QUESTIONS = ["How much is a single ticket?", "How much does a weekly pass cost?", "When does the night tram run?",
             "Who designed the harbour power station?"]
EVERY_S, ROUND_S = 3.0, 30.0  # a question every 3 s; a monitor round every 30 s (monitor.evaluate_every_s)


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


class Site:
    """A served home whose clock the test moves: questions every EVERY_S, a monitor round every ROUND_S."""

    def __init__(self, home: Path, cache_dir: Path, now: float):
        self.home, self.cache_dir, self.now, self.asked, self.next_round = home, cache_dir, now, 0, now

    def start(self, url: str) -> None:
        """`ragship serve` (re)started with the LLM at `url` (default monitor settings; no retries, to keep the
        test short)."""
        self.engine = make_engine(self.home, self.cache_dir, answer={
            "generator": "openai", "llm": {"base_url": url, "model": "grounded", "timeout_s": 2, "retries": 0}})
        self.oversight = Oversight(Collections(self.engine))
        self.oversight.record_start("cli (on-call)", now=self.now)
        self.monitor, self.log = self.oversight.monitor(), self.oversight.query_log

    def run(self, seconds: float, until=None) -> None:
        end = self.now + seconds
        while self.now < end and not (until and until()):
            self.ask()
            self.now += EVERY_S
            if self.now >= self.next_round:
                self.monitor.tick(now=self.now)
                self.next_round += ROUND_S

    def ask(self) -> None:
        question = QUESTIONS[self.asked % len(QUESTIONS)]
        self.asked += 1
        with self.log.request("key-u", "default", "ask", question) as logged:
            answer = self.engine.ask(question)
            shown = logged.answered(answer.to_dict(), answer.retrieval)
        self.log.state.write(REQUESTS.update().where(REQUESTS.c.id == shown["id"]).values(ts=self.now))

    def incidents(self):
        return self.oversight.incidents.list()


def test_llm_down_then_fixed_resolves_within_two_minutes_on_default_settings(tmp_path, cache_dir, stub):
    site = Site(tmp_path / "home", cache_dir, time.time() + 10)
    site.start(stub.url)
    site.engine.release(site.engine.ingest([DATA / "docs"]))
    site.run(120)  # the LLM writes the answers
    assert site.incidents() == []
    broke = site.now
    site.start(_dead_url())  # the trigger: a restart with a wrong LLM URL
    site.run(240)
    (incident,) = site.incidents()
    assert incident.alerts == {"LLMFallback": "firing"}
    fixed = site.now
    site.start(stub.url)  # the fix: a restart with the right URL
    site.run(600, until=lambda: site.incidents()[0].status == "resolved")

    incident = site.incidents()[0]
    assert incident.status == "resolved" and incident.resolved - fixed <= 120  # not when the 1 h window empties
    d = site.oversight.postmortem(incident.id)
    rec, imp = d["recovery"], d["impact"]
    assert rec["fix"]["kind"] == "server start" and rec["fixed_at"] == fixed
    assert "answer.llm.base_url" in rec["fix"]["text"] and rec["time_to_recover_s"] == round(fixed - incident.opened, 1)
    first = d["trigger_candidates"][0]
    assert first["kind"] == "server start" and first["at"] == broke and first["related"]
    quoted = 240 / EVERY_S  # every answer between the broken and the fixed restart
    assert (imp["from"], imp["to"]) == (broke, fixed) and imp["fallback"] == imp["degraded"] == quoted
    assert imp["requests"] == quoted and imp["abstained_over_before"] == 0
    text = markdown(d)
    assert f"**{int(quoted)} degraded**" in text and "after the fix" in text
    assert "Changes made meanwhile: none recorded" not in text


def _rule(signal: str) -> AlertRule:
    return AlertRule(name="LLMFallback", signal=signal, op=">", threshold=0.2, for_s=0, severity="warning",
                     runbook="docs/runbooks/monitoring.md#llmfallback")


def test_a_rate_alert_fires_and_resolves_on_its_recent_requests_too(state):
    """The recent value: the last `recent_s` seconds, or the newest `min_requests` where those are fewer; a firing
    rate alert resolves when it stops holding, however much of the window is still bad."""
    log = QueryLog(state)
    for i in range(40):  # 30 answers quoted (the LLM down), then 10 written by it, 1 s apart
        o = Observation("k", "default", "ask", 5.0, f"q{i}", "answered", fallback="openai: down" if i < 30 else None)
        log.record(o)
        log.state.write(REQUESTS.update().where(REQUESTS.c.id == o.id).values(ts=1000.0 + i))
    window = business(log, "default", 0, 1040.0, min_requests=5, recent_s=8)
    assert window["llm_fallback_rate"] == 0.75 and window["recent"]["llm_fallback_rate"] == 0.0
    assert window["recent"]["requests"] == 8  # the last 8 s
    sparse = business(log, "default", 0, 1040.0, min_requests=20, recent_s=8)["recent"]
    assert sparse["requests"] == 20 and sparse["llm_fallback_rate"] == 0.5  # 8 s held fewer than 20: the newest 20
    alerts = Alerts(log)
    rule = _rule("llm_fallback_rate")
    assert alerts.evaluate("default", [rule], {"llm_fallback_rate": 0.75}, {}, now=1030,
                           recent={"llm_fallback_rate": 0.9})[0]["event"] == "fired"
    resolved = alerts.evaluate("default", [rule], {"llm_fallback_rate": 0.75}, {}, now=1040,
                               recent={"llm_fallback_rate": 0.0})
    assert [(e["event"], e["value"]) for e in resolved] == [("resolved", 0.0)]  # the value that recovered
    assert alerts.evaluate("default", [rule], {"llm_fallback_rate": 0.75}, {}, now=1050,
                           recent={"llm_fallback_rate": 0.1}) == []  # the window alone does not fire it again


def test_the_fix_is_the_repair_its_round_saw_or_the_action_after_which_traffic_got_better(tmp_path):
    """A repair that finished during the round that saw the versions readable again (stamped after that round's start,
    as on the game day), and, with no sign of recovery to go by, the restart after which the answers came back."""
    from ragship.index import VersionRegistry
    from ragship.monitor.events import Events
    from ragship.monitor.incidents import Incidents
    from ragship.monitor.postmortem import draft
    from ragship.monitor.starts import record_start
    from ragship.state import State

    state = State(None, tmp_path)
    log, alerts, events = QueryLog(state), Alerts(QueryLog(state)), Events(QueryLog(state))
    registry, incidents = VersionRegistry(tmp_path / "index"), Incidents(state)
    unreadable = AlertRule(name="VersionsUnreadable", signal="versions_unreadable", op=">", threshold=0.5,
                           severity="critical", runbook="docs/runbooks/monitoring.md#versionsunreadable")
    broken = alerts.evaluate("default", [unreadable], {"versions_unreadable": 1.0}, {}, now=100)[0]["incident"]["id"]
    events.record("default", "versions readable", "read again", "monitor", now=130)  # the round's start
    alerts.evaluate("default", [unreadable], {"versions_unreadable": 0.0}, {}, now=130)
    events.record("default", "doctor repair", "restored index/LIVE", "doctor", now=130.7)  # finished in the round
    rec = draft(incidents.get(broken), log, registry, window_s=60, now=200)["recovery"]
    assert (rec["fix"]["kind"], rec["time_to_recover_s"], rec["resolved_after_fix_s"]) == ("doctor repair", 30.7, 0)

    started = tmp_path / "started.json"
    record_start(events, "default", {"chunk": {"tokens": 200}}, started, "cli (bob)", now=150)
    for t, outcome in [(200 + 4 * i, "abstained") for i in range(25)] + [(320 + 4 * i, "answered") for i in range(20)]:
        o = Observation("k", "default", "ask", 5.0, f"q{t}", outcome)
        log.record(o)
        log.state.write(REQUESTS.update().where(REQUESTS.c.id == o.id).values(ts=t))
    abstain = AlertRule(name="AbstainRateHigh", signal="abstain_rate", op=">", threshold=0.5, severity="warning",
                        runbook="docs/runbooks/monitoring.md#abstainratehigh")
    opened = alerts.evaluate("default", [abstain], {"abstain_rate": 1.0}, {}, now=300)[0]["incident"]["id"]
    record_start(events, "default", {"chunk": {"tokens": 120}}, started, "cli (bob)", now=320)
    alerts.evaluate("default", [abstain], {"abstain_rate": 0.1}, {}, now=410)
    rec = draft(incidents.get(opened), log, registry, window_s=300, now=500)["recovery"]
    assert (rec["fix"]["kind"], rec["fixed_at"], rec["resolved_after_fix_s"]) == ("server start", 320, 90)
