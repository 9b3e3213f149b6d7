"""Incidents across two server processes on one home and one state store (SQLite, then PostgreSQL): alerts that
either process's monitor round fires open one incident, not two; one process acknowledges it and the other resolves
it, and its timeline holds both processes' entries; the API drafts its postmortem."""

from __future__ import annotations

import time

import httpx
import pytest

from serving import create_key, serving, teams_home

RULES = """
[monitor]
evaluate_every_s = 1
window_s = 300
min_requests = 5

[[monitor.alerts]]
name = "AbstainRateHigh"
signal = "abstain_rate"
op = ">"
threshold = 0.5
for_s = 0
severity = "warning"
runbook = "docs/runbooks/monitoring.md#abstainratehigh"
summary = "more than half the questions go unanswered"

[[monitor.alerts]]
name = "AnswerRateLow"
signal = "answer_rate"
op = "<"
threshold = 0.5
for_s = 2
severity = "critical"
runbook = "docs/runbooks/monitoring.md#abstainratehigh"
summary = "fewer than half the questions are answered"
"""


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _incidents(base: str, key: str, alerts: int, within_s: float = 60) -> list[dict]:
    """The incidents once one holds `alerts` alerts."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = httpx.get(f"{base}/v1/incidents", headers=_auth(key)).raise_for_status().json()["incidents"]
        if any(len(i["alerts"]) >= alerts for i in found):
            return found
        time.sleep(0.5)
    pytest.fail(f"no incident with {alerts} alerts after {within_s} s: {found}")


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_two_processes_one_incident_and_both_in_its_timeline(tmp_path, cache_dir, store, request):
    url = request.getfixturevalue("postgres_db") if store == "postgresql" else None
    env = teams_home(tmp_path, cache_dir, (f'[state]\nurl = "{url}"\n' if url else "") + RULES)
    editor = create_key(env, "editor", "red")
    with serving(env, pid=True) as (a, pid_a), serving(env, pid=True) as (b, pid_b):
        for i in range(4):  # questions the documents cannot answer, through both processes
            for base in (a, b):
                asked = httpx.post(f"{base}/v1/ask", json={"question": f"What does the zebra quartet {i} sing?"},
                                   headers=_auth(editor), timeout=60).raise_for_status().json()
                assert asked["abstained"]
        found = _incidents(b, editor, alerts=2)
        assert len(found) == 1  # both rules, whichever process's round fired each: one incident
        incident = found[0]
        assert incident["alerts"] == {"AbstainRateHigh": "firing", "AnswerRateLow": "firing"}
        httpx.post(f"{b}/v1/incidents/{incident['id']}/ack", headers=_auth(editor)).raise_for_status()
        httpx.post(f"{a}/v1/incidents/{incident['id']}/resolve", json={"note": "the zebra questions are out of scope"},
                   headers=_auth(editor)).raise_for_status()
        shown = httpx.get(f"{a}/v1/incidents/{incident['id']}", headers=_auth(editor)).raise_for_status().json()
        assert shown["status"] == "resolved"
        by_process = {e["kind"]: int(e["process"].rsplit(":", 1)[1]) for e in shown["timeline"] if e.get("process")}
        assert (by_process["acknowledged"], by_process["resolved"]) == (pid_b, pid_a)
        assert {e["kind"] for e in shown["timeline"]} >= {"alert fired", "acknowledged", "resolved", "build",
                                                           "promote"}
        drafted = httpx.get(f"{b}/v1/incidents/{incident['id']}/postmortem", headers=_auth(editor)).json()
        assert drafted["impact"]["abstained"] == 8 and drafted["response"]["time_to_acknowledge_s"] >= 0
        assert "## Trigger candidates" in drafted["markdown"]
