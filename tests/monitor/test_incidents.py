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


def rule(name: str, severity: str, for_s: float = 0) -> AlertRule:
    return AlertRule(name=name, signal=name.lower(), op=">", threshold=0.5, for_s=for_s, severity=severity,
                     runbook=f"docs/runbooks/monitoring.md#{name.lower()}", summary=f"{name} is high")


ABSTAIN, ERRORS, INFO = rule("AbstainRateHigh", "warning", 60), rule("ErrorRateHigh", "critical"), rule("Note", "info")


def test_alerts_open_one_incident_join_it_and_resolve_it_together(state):
    alerts = Alerts(QueryLog(state), site="http://rag.example.com")
    rules = [ABSTAIN, ERRORS, INFO]
    assert alerts.evaluate("default", rules, {"abstainratehigh": 0.7}, {}, now=1000) == []  # pending: no incident
    assert Incidents(state).list() == []
    fired = alerts.evaluate("default", rules, {"abstainratehigh": 0.7, "note": 0.9}, {}, now=1061)
    opened = {e["alert"]: e.get("incident") for e in fired}
    assert opened["Note"] is None  # info only notifies
    first = opened["AbstainRateHigh"]
    assert first["link"] == f"http://rag.example.com/#incidents/{first['id']}"
    joined = alerts.evaluate("default", rules, {"errorratehigh": 0.9}, {}, now=1100)
    assert joined[0]["incident"]["id"] == first["id"]  # fired while the first is open: joins it
    alerts.evaluate("default", rules, {"abstainratehigh": 0.1}, {}, now=1200)
    incident = Incidents(state).get(first["id"])
    assert incident.status == "open" and incident.alerts == {"AbstainRateHigh": "resolved", "ErrorRateHigh": "firing"}
    resolved = alerts.evaluate("default", rules, {"errorratehigh": 0.0}, {}, now=1300)
    assert resolved[0]["incident"]["id"] == first["id"]
    incident = Incidents(state).get(first["id"])
    assert (incident.status, incident.resolved) == ("resolved", 1300)
    assert [e["kind"] for e in incident.entries] == ["alert fired", "alert fired", "alert resolved", "alert resolved",
                                                     "resolved"]
    again = alerts.evaluate("default", rules, {"errorratehigh": 0.9}, {}, now=1400)
    assert again[0]["incident"]["id"] != first["id"]  # a new incident once the last one resolved
    assert len(Incidents(state).list()) == 2 and len(Incidents(state).list(status="open")) == 1


def test_two_processes_firing_together_open_one_incident(state):
    """Two monitors (one per server process) whose rounds overlap: the opening is serialized in the store."""
    barrier, found = threading.Barrier(2), []

    def monitor(rule_):
        alerts = Alerts(QueryLog(state))
        barrier.wait()
        found.append(alerts.evaluate("default", [rule_], {rule_.signal: 0.9}, {}, now=2000)[0]["incident"]["id"])

    threads = [threading.Thread(target=monitor, args=(r,)) for r in (ERRORS, rule("FeedbackLow", "critical"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and len(Incidents(state).list()) == 1
    assert set(Incidents(state).get(found[0]).alerts) == {"ErrorRateHigh", "FeedbackLow"}


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
        log.write(REQUESTS.update().where(REQUESTS.c.id == o.id).values(ts=start + (end - start) * i / n))


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
    incident_id = alerts.evaluate("default", [rule("AbstainRateHigh", "warning")], {"abstainratehigh": 0.8}, {},
                                  now=t + 40)[0]["incident"]["id"]
    Incidents(engine.state).acknowledge(incident_id, by="bob", now=t + 55)
    alerts.evaluate("default", [rule("AbstainRateHigh", "warning")], {"abstainratehigh": 0.1}, {}, now=t + 90)
    d = draft(Incidents(engine.state).get(incident_id), log, engine.registry, window_s=3600, now=t + 100)

    first = d["trigger_candidates"][0]
    assert first["kind"] == "forced promote" and first["version"] == switched["live"] and first["by"] == "alice"
    assert first["moved"]["abstain_rate"] == {"before": 0.0, "after": 0.6667, "change": 0.6667}
    assert [c["kind"] for c in d["trigger_candidates"][1:]].count("config") == 1  # chunk.tokens 200 -> 20
    r = REQUESTS.c
    counted = log.rows(select(r.outcome, func.count()).where(r.ts >= t, r.ts < t + 90).group_by(r.outcome))
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
    from ragship.monitor.timeline import timeline
    from ragship.state import State
    from ragship.state.tables import IMPROVE_RUNS, JOBS

    state = State(None, tmp_path)
    log = QueryLog(state)
    iso = lambda t: datetime.fromtimestamp(t, timezone.utc).isoformat()  # noqa: E731
    for job_id, created in (("recent", 990.0), ("ancient", 10.0)):
        log.write(JOBS.insert().values(id=job_id, key_id="k1", collection="default", status="done", created=created,
                                       owner="host:1", attempts=1,
                                       body=json.dumps({"files": ["a.md"], "finished_at": iso(created + 5)})))
    for run_id, started, finished in (("r1", 980.0, 1005.0), ("r0", 5.0, 9.0)):
        log.write(IMPROVE_RUNS.insert().values(id=run_id, collection="default", started=started, finished=finished,
                                               status="refused", trigger="100 new labels",
                                               body=json.dumps({"reason": "the gate refused it"})))
    Events(log).record("default", "sync failed", "source docs failed to sync: gone", "scheduler", now=999.0)
    incident = Incidents(state).open("default", "users see old answers", by="bob", now=1000.0)
    events = timeline(incident, log, VersionRegistry(tmp_path / "index"), lookback_s=60, now=1010.0)
    assert [(e["at"], e["kind"]) for e in events] == [
        (980.0, "improvement run"), (990.0, "upload"), (995.0, "upload result"), (999.0, "sync failed"),
        (1000.0, "opened"), (1005.0, "improvement result")]
    assert events[1]["source"] == "job recent" and events[-1]["text"] == "improvement run refused: the gate refused it"
