"""Incidents: a warning or critical alert opens one, alerts firing while it is open join it, it resolves when they
all have; two processes on one store open one incident, not two; acknowledging and resolving by hand are entries
with who; the postmortem draft ranks the change that moved the traffic first and its impact figures are the query
log's own counts."""

import math
import threading
import time

import pytest
from conftest import DATA, make_engine
from sqlalchemy import func, select

from ragship.errors import InputError, NotFound
from ragship.monitor.alerts import Alerts
from ragship.monitor.incidents import Incidents
from ragship.monitor.postmortem import draft, markdown
from ragship.monitor.querylog import Observation, QueryLog
from ragship.settings import AlertRule
from ragship.state.tables import REQUESTS


def rule(name: str, severity: str, for_s: float = 0, signal: str = "") -> AlertRule:
    return AlertRule(name=name, signal=signal or name.lower(), op=">", threshold=0.5, for_s=for_s, severity=severity,
                     runbook=f"docs/runbooks/monitoring.md#{name.lower()}", summary=f"{name} is high")


ABSTAIN, INFO = rule("AbstainRateHigh", "warning", 60, "abstain_rate"), rule("Note", "info")
ERRORS, NO_RESULT = rule("ErrorRateHigh", "critical", signal="error_rate"), \
    rule("NoResultRateHigh", "critical", signal="no_result_rate")


def test_alerts_open_one_incident_join_it_and_resolve_it_together(state):
    alerts = Alerts(QueryLog(state), site="http://rag.example.com")
    rules = [ABSTAIN, NO_RESULT, INFO]
    assert alerts.evaluate("default", rules, {"abstain_rate": 0.7}, {}, now=1000) == []  # pending: no incident
    assert Incidents(state).list() == []
    fired = alerts.evaluate("default", rules, {"abstain_rate": 0.7, "note": 0.9}, {}, now=1061)
    opened = {e["alert"]: e.get("incident") for e in fired}
    assert opened["Note"] is None  # info only notifies
    first = opened["AbstainRateHigh"]
    assert first["link"] == f"http://rag.example.com/#incidents/{first['id']}"
    joined = alerts.evaluate("default", rules, {"no_result_rate": 0.9}, {}, now=1100)
    assert joined[0]["incident"]["id"] == first["id"]  # the same cause, fired while the first is open: joins it
    alerts.evaluate("default", rules, {"abstain_rate": 0.1}, {}, now=1200)
    incident = Incidents(state).get(first["id"])
    assert incident.status == "open" and incident.alerts == {"AbstainRateHigh": "resolved",
                                                             "NoResultRateHigh": "firing"}
    assert incident.title == "NoResultRateHigh: NoResultRateHigh is high"  # a critical joined a warning
    resolved = alerts.evaluate("default", rules, {"no_result_rate": 0.0}, {}, now=1300)
    assert resolved[0]["incident"]["id"] == first["id"]
    incident = Incidents(state).get(first["id"])
    assert (incident.status, incident.resolved) == ("resolved", 1300)
    assert [e["kind"] for e in incident.entries] == ["alert fired", "alert fired", "alert resolved", "alert resolved",
                                                     "resolved"]
    again = alerts.evaluate("default", rules, {"no_result_rate": 0.9}, {}, now=1400)
    assert again[0]["incident"]["id"] != first["id"]  # a new incident once the last one resolved
    assert len(Incidents(state).list()) == 2 and len(Incidents(state).list(status="open")) == 1


def test_two_processes_firing_together_open_one_incident(state):
    """Two monitors (one per server process) whose rounds overlap: the opening is serialized in the store."""
    barrier, found = threading.Barrier(2), []

    def monitor(rule_):
        alerts = Alerts(QueryLog(state))
        barrier.wait()
        found.append(alerts.evaluate("default", [rule_], {rule_.signal: 0.9}, {}, now=2000)[0]["incident"]["id"])

    threads = [threading.Thread(target=monitor, args=(r,))
               for r in (ERRORS, rule("VersionsUnreadable", "critical", signal="versions_unreadable"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and len(Incidents(state).list()) == 1
    assert set(Incidents(state).get(found[0]).alerts) == {"ErrorRateHigh", "VersionsUnreadable"}


def test_acknowledged_and_resolved_by_hand_with_who(tmp_path):
    from ragship.state import State

    incidents = Incidents(State(None, tmp_path))
    opened = incidents.open("default", "users report wrong answers about refunds", by="key:alice", now=10)
    acked = incidents.acknowledge(opened.id, by="bob", now=70)
    assert (acked.status, acked.acknowledged) == ("acknowledged", 70)
    done = incidents.resolve(opened.id, by="bob", note="re-ingested the refunds folder", now=400)
    assert done.status == "resolved" and done.entries[-1]["text"] == "resolved: re-ingested the refunds folder"
    assert [(e["kind"], e["by"]) for e in done.entries] == [("opened", "key:alice"), ("acknowledged", "bob"),
                                                            ("resolved", "bob")]
    assert all(e["process"] for e in done.entries)
    with pytest.raises(InputError, match="resolved already"):
        incidents.acknowledge(opened.id, by="carol")
    with pytest.raises(NotFound, match="ragship incident list"):
        incidents.get("nope")


def _traffic(log: QueryLog, start: float, end: float, n: int, outcome: str, top: float, key: str) -> None:
    for i in range(n):
        o = Observation(key, "default", "ask", 12.0, f"q{start}-{i}", outcome, hits=3, top_score=top)
        log.record(o)
        log.state.write(REQUESTS.update().where(REQUESTS.c.id == o.id).values(ts=start + (end - start) * i / n))


def _promoted_at(engine, version: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(engine.registry.get(version).release["promotions"][-1]["at"]).timestamp()


def test_the_postmortem_ranks_the_forced_release_first_and_counts_from_the_query_log(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir)
    v1 = engine.release(engine.ingest([DATA / "docs"])).version
    log, served = QueryLog(engine.state), time.time() + 1  # the records' clock counts whole seconds
    _traffic(log, served, served + 1, 30, "answered", 0.62, "key-a")  # v1 serving well
    time.sleep(max(0.0, math.ceil(served + 1) + 0.1 - time.time()))  # the promotion's whole second follows it
    tiny = make_engine(tmp_path / "home", cache_dir, chunk={"tokens": 20, "overlap": 0},
                       release={"auto_promote": "never"})
    candidate = tiny.ingest([DATA / "docs"]).version
    switched = engine.releases().promote(candidate, force=True, by="alice")
    t = _promoted_at(engine, candidate)
    assert _promoted_at(engine, v1) < served
    _traffic(log, t + 1, t + 21, 20, "abstained", 0.31, "key-a")
    _traffic(log, t + 21, t + 31, 10, "no_result", 0.0, "key-b")
    alerts = Alerts(log)
    abstain = rule("AbstainRateHigh", "warning", signal="abstain_rate")
    incident_id = alerts.evaluate("default", [abstain], {"abstain_rate": 0.8}, {}, now=t + 40)[0]["incident"]["id"]
    Incidents(engine.state).acknowledge(incident_id, by="bob", now=t + 55)
    alerts.evaluate("default", [abstain], {"abstain_rate": 0.1}, {}, now=t + 90)
    d = draft(Incidents(engine.state).get(incident_id), log, engine.registry, window_s=3600, now=t + 100)

    first = d["trigger_candidates"][0]
    assert first["kind"] == "forced promote" and first["version"] == switched["live"] and first["by"] == "alice"
    assert first["moved"]["abstain_rate"] == {"before": 0.0, "after": 0.6667, "change": 0.6667}
    assert [c["kind"] for c in d["trigger_candidates"][1:]].count("config") == 1  # chunk.tokens 200 -> 20
    r = REQUESTS.c
    counted = log.state.rows(select(r.outcome, func.count()).where(r.ts >= t, r.ts < t + 90).group_by(r.outcome))
    expected = {"requests": sum(n for _, n in counted), "answered": 0, "abstained": dict(counted)["abstained"],
                "no_result": dict(counted)["no_result"], "failed": 0, "keys": 2, "keys_affected": 2}
    assert {k: d["impact"][k] for k in expected} == expected and expected["requests"] == 30
    assert d["detection"]["time_to_detect_s"] == 40.0 and d["detection"]["requests_before_detection"] == 30
    assert d["response"]["time_to_acknowledge_s"] == 15.0 and d["recovery"]["time_to_recover_s"] == 50.0
    text = markdown(d)
    for heading in ("## Summary", "## Impact", "## Detection", "## Response", "## Recovery", "## Trigger candidates",
                    "## Timeline", "## Root cause", "## Action items"):
        assert heading in text
    assert "forced promote" in text.split("## Trigger candidates")[1].split("\n| 1 |")[1].split("\n")[0]
    assert "ragship rollback" in text.split("## Action items")[1]  # the AbstainRateHigh runbook's roll back step


def test_the_timeline_holds_the_uploads_runs_and_events_of_its_window(tmp_path):
    """Each source of the timeline, and the window's bounds: what happened long before is left out."""
    import json
    from datetime import datetime, timezone

    from ragship.index import VersionRegistry
    from ragship.monitor.events import Events
    from ragship.learn.runs import Runs
    from ragship.monitor.timeline import timeline
    from ragship.state import State
    from ragship.state.tables import IMPROVE_RUNS, JOBS

    state = State(None, tmp_path)
    log = QueryLog(state)

    def iso(t):
        return datetime.fromtimestamp(t, timezone.utc).isoformat()

    for job_id, created in (("recent", 990.0), ("ancient", 10.0)):
        state.write(JOBS.insert().values(id=job_id, key_id="k1", collection="default", status="done", created=created,
                                         owner="host:1", attempts=1,
                                         body=json.dumps({"files": ["a.md"], "finished_at": iso(created + 5)})))
    for run_id, started, finished in (("r1", 980.0, 1005.0), ("r0", 5.0, 9.0)):
        state.write(IMPROVE_RUNS.insert().values(id=run_id, collection="default", started=started, finished=finished,
                                                 status="refused", trigger="100 new labels",
                                                 body=json.dumps({"reason": "the gate refused it"})))
    Events(log).record("default", "sync failed", "source docs failed to sync: gone", "scheduler", now=999.0)
    incident = Incidents(state).open("default", "users see old answers", by="bob", now=1000.0)
    events = timeline(incident, log, VersionRegistry(tmp_path / "index"), lookback_s=60, now=1010.0,
                      runs=Runs(log, "default"))  # the runs are learn/runs.py's, handed to the monitor
    assert [(e["at"], e["kind"]) for e in events] == [
        (980.0, "improvement run"), (990.0, "upload"), (995.0, "upload result"), (999.0, "sync failed"),
        (1000.0, "opened"), (1005.0, "improvement result")]
    assert events[1]["source"] == "job recent" and events[-1]["text"] == "improvement run refused: the gate refused it"


LLM = rule("LLMFallback", "warning", signal="llm_fallback_rate")
SCORE = rule("ScoreDrift", "warning", signal="score_drift_p")


def test_an_alert_about_another_cause_opens_its_own_incident(state):
    """Issue 49: an off-topic ScoreDrift joined an open LLMFallback incident. An alert joins an open incident only
    if it shares a cause with every alert in it (monitor/rules.py CAUSES)."""
    alerts = Alerts(QueryLog(state))
    latency = rule("LatencyHigh", "warning", signal="p95_ms")
    llm = alerts.evaluate("default", [LLM], {"llm_fallback_rate": 0.9}, {}, now=1000)[0]["incident"]["id"]
    drift = alerts.evaluate("default", [SCORE], {"score_drift_p": 0.9}, {}, now=1010)[0]["incident"]["id"]
    slow = alerts.evaluate("default", [latency], {"p95_ms": 0.9}, {}, now=1020)[0]["incident"]["id"]
    assert drift != llm and slow == llm  # slow answers: the LLM timing out, as LLMFallback says
    assert set(Incidents(state).get(llm).alerts) == {"LLMFallback", "LatencyHigh"}
    alerts.evaluate("default", [LLM, latency], {"llm_fallback_rate": 0.0, "p95_ms": 0.0}, {}, now=1100)
    assert Incidents(state).get(llm).status == "resolved" and Incidents(state).get(drift).status == "open"


def test_an_incident_is_titled_after_its_most_severe_alert(state):
    """Issue 49: an incident was titled after a warning while a critical fired in the same round."""
    alerts = Alerts(QueryLog(state))
    feedback = rule("FeedbackLow", "critical", signal="positive_feedback_rate")
    fired = alerts.evaluate("default", [SCORE, feedback], {"score_drift_p": 0.9, "positive_feedback_rate": 0.9}, {},
                            now=1000)
    assert [e["alert"] for e in fired] == ["FeedbackLow", "ScoreDrift"]  # the critical opens it
    incident = Incidents(state).get(fired[0]["incident"]["id"])
    assert incident.title.startswith("FeedbackLow:") and set(incident.alerts) == {"FeedbackLow", "ScoreDrift"}
    assert incident.severity == {"FeedbackLow": "critical", "ScoreDrift": "warning"}


def _asked(log: QueryLog, times: list[float], outcome: str = "answered", fallback: str | None = None) -> None:
    for t in times:
        o = Observation("key-a", "default", "ask", 10.0, f"q{t}", outcome, hits=3, top_score=0.6, fallback=fallback)
        log.record(o)
        log.state.write(REQUESTS.update().where(REQUESTS.c.id == o.id).values(ts=t))


def test_trigger_candidates_leave_out_a_resolved_incidents_causes_and_rank_its_own_first(tmp_path):
    """Issue 49: a postmortem's candidates listed an earlier, resolved LLM incident's causes at 2 and 3 and the
    real cause at 5, and a restart with changed settings was not there at all."""
    from ragship.index import VersionRegistry
    from ragship.monitor.events import Events
    from ragship.monitor.starts import record_start
    from ragship.state import State

    state = State(None, tmp_path)
    log, events, alerts = QueryLog(state), Events(QueryLog(state)), Alerts(QueryLog(state))
    started = tmp_path / "started.json"
    record_start(events, "default", {"chunk": {"tokens": 200}}, started, "cli (alice)", now=900)
    _asked(log, [1000 + 5 * i for i in range(20)], fallback="openai: ConnectError")  # the LLM down
    earlier = alerts.evaluate("default", [LLM], {"llm_fallback_rate": 0.9}, {}, now=1060)[0]["incident"]["id"]
    alerts.evaluate("default", [LLM], {"llm_fallback_rate": 0.0}, {}, now=1200)
    _asked(log, [1210 + 19 * i for i in range(20)])  # all well
    events.record("default", "sync failed", "source wiki failed to sync: gone", "scheduler", now=1500)
    record_start(events, "default", {"chunk": {"tokens": 20}}, started, "cli (alice)", now=1600)  # the cause
    _asked(log, [1600 + 4 * i for i in range(20)], outcome="abstained")
    opened = alerts.evaluate("default", [ABSTAIN.model_copy(update={"for_s": 0})], {"abstain_rate": 0.9}, {},
                             now=1700)[0]["incident"]["id"]
    d = draft(Incidents(state).get(opened), log, VersionRegistry(tmp_path / "index"), window_s=3600, now=1800,
              earlier=[Incidents(state).get(earlier)])

    kinds = [(c["kind"], c["at"], c["related"]) for c in d["trigger_candidates"]]
    assert kinds[0] == ("server start", 1600, True)
    assert "chunk.tokens 200 -> 20" in d["trigger_candidates"][0]["text"]
    assert ("llm failed", 1000, False) not in kinds  # the resolved LLM incident's cause
    assert ("sync failed", 1500, False) in kinds and not any(related for *_, related in kinds[1:])  # listed after
    assert d["detection"]["trigger_at"] == 1600


def test_a_blank_title_is_refused_and_one_stored_blank_reads_untitled(tmp_path):
    """Issue 49: `ragship incident open "   "` opened an incident that the UI listed as a row with no link."""
    from ragship.monitor.incidents import Incident
    from ragship.state import State

    state = State(None, tmp_path)
    incidents = Incidents(state)
    for blank in ("", "   ", "\n\t"):
        with pytest.raises(InputError, match="title is blank"):
            incidents.open("default", blank, by="alice")
    assert incidents.list() == []
    with state.ready() as c:  # one stored before open() refused blank titles
        incidents._save(c, Incident("old", "default", " ", "open", 10.0), new=True)
    assert [i.title for i in incidents.list()] == ["(untitled)"] and incidents.get("old").title == "(untitled)"


def test_listing_by_an_unknown_status_is_refused(state):
    """Issue 49: an unknown status listed no incidents, as if there were none."""
    with pytest.raises(InputError, match="open, acknowledged, resolved"):
        Incidents(state).list(status="bogus")


def test_the_postmortem_of_an_incident_resolved_with_a_note_and_no_trigger_says_so_plainly(tmp_path):
    """Issue 49: its Detection read "time to detect —, None requests served in between", its Recovery "No recorded
    fix" though it was resolved with a note, and its Summary "no recorded change preceded it" over 2 candidates."""
    from ragship.index import VersionRegistry
    from ragship.monitor.events import Events
    from ragship.monitor.starts import record_start
    from ragship.state import State

    state = State(None, tmp_path)
    log, events = QueryLog(state), Events(QueryLog(state))
    record_start(events, "default", {"chunk": {"tokens": 200}}, tmp_path / "started.json", "cli (alice)", now=900)
    events.record("default", "drift reset", "new drift reference window", "cli (alice)", now=950)
    _asked(log, [1000 + 5 * i for i in range(20)])
    incidents = Incidents(state)
    opened = incidents.open("default", "sick-leave questions get vacation answers", "key:dora", now=1200)
    incidents.resolve(opened.id, "key:lead", note="  published the sick-leave FAQ ", now=1300)
    d = draft(incidents.get(opened.id), log, VersionRegistry(tmp_path / "index"), window_s=3600, now=1400)
    text = markdown(d)

    assert len(d["trigger_candidates"]) == 2 and d["detection"]["trigger_at"] is None
    assert "no change is recorded as its cause; 2 candidates below." in d["summary"]
    detection = text.split("## Detection\n")[1].split("\n")[0]
    assert "None" not in detection and "—" not in detection and "time to detect is unknown" in detection
    assert d["recovery"]["resolution"] == {"at": 1300, "by": "key:lead", "note": "published the sick-leave FAQ"}
    recovery = text.split("## Recovery\n")[1].split("\n")[0]
    assert "No recorded fix" not in recovery
    assert 'key:lead recorded when resolving it at 1970-01-01 00:21:40 UTC: "published the sick-leave FAQ"' in recovery

    incidents.resolve(incidents.open("default", "slow", "key:dora", now=1500).id, "key:lead", now=1600)  # no note
    quiet = markdown(draft(incidents.list()[0], log, VersionRegistry(tmp_path / "index"), window_s=3600, now=1700))
    assert "No recorded fix. Resolved 1970-01-01 00:26:40 UTC by key:lead" in quiet
