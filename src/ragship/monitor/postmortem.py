"""A postmortem draft for an incident, in the shape of the SRE book's example postmortem: status, summary, impact
from the query log, detection, response and recovery times, the trigger candidates ranked, the timeline, and the
sections only people can write (root cause, lessons, action items) as prompts, prefilled with what the alerts'
runbooks prescribe. Nothing is invented: each figure names the rows or events it was computed from.

Trigger candidates are the changes (releases, builds, configuration, uploads, syncs, improvement runs, repairs) and
the faults ragship saw (failed requests, LLM failures, a sync that failed, an unreadable state file, a shift in
what users ask) in the timeline up to the first alert, each with the traffic's rates before it against after it (up
to the first alert). First come the changes to what is served (promotions, rollbacks, repairs) after which the
traffic got worse, the worst first; then the faults, causes before symptoms; then every other change (a build, an
upload, a sync: each reaches users through a promotion of its own). A tie goes to the change that alters what users
get (a promotion before the build of the version it promoted), then to the one nearer the alert."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ragship.access import LOCAL, Principal
from ragship.monitor.incidents import Incident
from ragship.monitor.querylog import QueryLog
from ragship.monitor.timeline import CHANGE_KINDS, FAULT_KINDS, timeline
from ragship.state.tables import REQUESTS

RUNBOOKS = Path(__file__).resolve().parents[1] / "runbooks"
# what a trigger moves, and which way is worse (+1: up is worse)
MOVES = {"answer_rate": -1, "abstain_rate": 1, "no_result_rate": 1, "error_rate": 1, "llm_fallback_rate": 1,
         "top_score": -1}
MIN_SIDE = 5  # requests on each side of a change for its move to count
# the changes that alter what users get at once; a build, an upload or a sync does so through its promotion (the
# game day's bad release ranked below the build of a sync that followed it, whose "before" was cleaner)
SERVING = ("promote", "forced promote", "rollback", "doctor repair")


def draft(incident: Incident, log: QueryLog, registry, window_s: float, lookback_s: float | None = None,
          now: float | None = None, viewer: Principal = LOCAL, sources: dict[str, list[str]] | None = None
          ) -> dict[str, Any]:
    """`window_s`: the traffic compared before and after each candidate (monitor.window_s); `lookback_s`: how far
    before the opening the timeline reaches (default `window_s`); `viewer`, `sources`: as timeline's (every line
    of the draft comes from the timeline `viewer` may see)."""
    now = time.time() if now is None else now
    events = timeline(incident, log, registry, lookback_s or window_s, now, viewer, sources)
    fired = [e["at"] for e in incident.entries if e["kind"] == "alert fired"]
    first_alert = min(fired) if fired else None
    candidates = rank(log, incident.collection, events, first_alert or incident.opened, window_s)
    trigger = candidates[0] if candidates and (candidates[0]["score"] > 0 or candidates[0]["kind"] in FAULT_KINDS) \
        else None  # a change that moved nothing is listed, not blamed; without a trigger, impact counts the window
    end = incident.resolved or now
    began = trigger["at"] if trigger else (first_alert or incident.opened) - window_s
    return {
        "incident": incident.to_dict(), "status": incident.status,
        "summary": summary(incident, trigger),
        "impact": {**impact(log, incident.collection, began, end), "from": began, "to": end},
        "detection": {"trigger_at": trigger["at"] if trigger else None, "first_alert_at": first_alert,
                      "time_to_detect_s": _diff(first_alert, trigger and trigger["at"]),
                      "requests_before_detection": _count(log, incident.collection, began, first_alert)},
        "response": {"opened_at": incident.opened, "acknowledged_at": incident.acknowledged,
                     "time_to_acknowledge_s": _diff(incident.acknowledged, incident.opened),
                     "acknowledged_by": next((e["by"] for e in incident.entries if e["kind"] == "acknowledged"), None)},
        "recovery": {"resolved_at": incident.resolved, "time_to_recover_s": _diff(incident.resolved, incident.opened),
                     "actions": [e for e in events if e["kind"] in CHANGE_KINDS and e["at"] >= incident.opened]},
        "trigger_candidates": candidates, "timeline": events,
        "runbooks": {name: runbook_steps(name) for name in incident.alerts},
    }


def rank(log: QueryLog, collection: str, events: list[dict], until: float, window_s: float) -> list[dict[str, Any]]:
    """The changes and faults up to `until` (the first alert), each with what moved in the traffic after it."""
    out = []
    for e in (e for e in events if e["kind"] in CHANGE_KINDS + FAULT_KINDS and e["at"] <= until):
        before = traffic(log, collection, e["at"] - window_s, e["at"])
        after = traffic(log, collection, e["at"], until)
        moved = {k: {"before": before[k], "after": after[k], "change": round(after[k] - before[k], 4)}
                 for k in MOVES if before[k] is not None and after[k] is not None}
        worse = max((m["change"] * MOVES[k] for k, m in moved.items()), default=0.0)
        out.append({**e, "moved": moved, "score": round(max(worse, 0.0), 4)})

    def order(c: dict) -> tuple:
        group = 0 if c["kind"] in SERVING and c["score"] > 0 else 1 if c["kind"] in FAULT_KINDS else 2
        return group, -c["score"] if group == 0 else 0, (CHANGE_KINDS + FAULT_KINDS).index(c["kind"]), -c["at"]

    return sorted(out, key=order)


def traffic(log: QueryLog, collection: str, since: float, until: float) -> dict[str, float | None]:
    """The rates a trigger moves, over the requests in [since, until): None with fewer than MIN_SIDE."""
    r = REQUESTS.c
    rows = log.rows(select(r.kind, r.outcome, r.top_score, r.fallback).where(
        r.collection == collection, r.ts >= since, r.ts < until))
    asks = [row for row in rows if row[0] == "ask" and row[1] != "error"]
    scores = [row[2] for row in rows if row[2] is not None]

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole >= MIN_SIDE else None

    return {"answer_rate": rate(sum(row[1] == "answered" for row in asks), len(asks)),
            "abstain_rate": rate(sum(row[1] == "abstained" for row in asks), len(asks)),
            "no_result_rate": rate(sum(row[1] == "no_result" for row in rows), len(rows)),
            "error_rate": rate(sum(row[1] == "error" for row in rows), len(rows)),
            "llm_fallback_rate": rate(sum(bool(row[3]) for row in asks), len(asks)),
            "top_score": round(sum(scores) / len(scores), 4) if len(scores) >= MIN_SIDE else None}


def impact(log: QueryLog, collection: str, since: float, until: float) -> dict[str, Any]:
    """What users got between the trigger (or the first alert) and the recovery, from the query log."""
    r = REQUESTS.c
    rows = log.rows(select(r.kind, r.outcome, r.key_id).where(
        r.collection == collection, r.ts >= since, r.ts < until, r.kind != "feedback"))
    hurt = [row for row in rows if row[1] in ("abstained", "error", "no_result")]
    return {"requests": len(rows), "answered": sum(row[1] == "answered" for row in rows),
            "abstained": sum(row[1] == "abstained" for row in rows), "failed": sum(row[1] == "error" for row in rows),
            "no_result": sum(row[1] == "no_result" for row in rows), "keys": len({row[2] for row in rows}),
            "keys_affected": len({row[2] for row in hurt}), "duration_s": round(until - since, 1)}


def summary(incident: Incident, trigger: dict | None) -> str:
    alerts = ", ".join(incident.alerts) or "no alert (opened by hand)"
    cause = f"; the change before it that moved the metrics most: {trigger['text']}" if trigger else \
        "; no recorded change preceded it"
    return f"{incident.title} on collection {incident.collection}: {alerts}{cause}."


def runbook_steps(alert: str) -> dict[str, str]:
    """What an alert's runbook section (runbooks/monitoring.md) says to do and how to roll back."""
    text = (RUNBOOKS / "monitoring.md").read_text()
    section = re.search(rf"^## {re.escape(alert)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not section:
        return {}
    parts = re.findall(r"\*\*(Do|Roll back):\*\*(.*?)(?=\n\*\*[A-Z][a-z ]+:\*\*|\Z)", section[1], re.S)
    return {name.lower(): " ".join(body.split()) for name, body in parts}


def _count(log: QueryLog, collection: str, since: float, until: float | None) -> int | None:
    if until is None:
        return None
    r = REQUESTS.c
    return log.rows(select(func.count()).where(r.collection == collection, r.ts >= since, r.ts < until,
                                               r.kind != "feedback"))[0][0]


def _diff(a: float | None, b: float | None) -> float | None:
    return round(a - b, 1) if a is not None and b is not None else None


def markdown(d: dict[str, Any]) -> str:
    """The draft as Markdown, for the incident's owner to finish."""
    i, imp, det, resp, rec = d["incident"], d["impact"], d["detection"], d["response"], d["recovery"]
    lines = [f"# Postmortem: {i['title']}", "",
             f"**Incident** {i['id']} · **collection** {i['collection']} · **status** {d['status']} · "
             f"**opened** {_when(i['opened'])} · **resolved** {_when(i['resolved'])}", "",
             "## Summary", d["summary"], "",
             "## Impact (from the query log)",
             f"{imp['requests']} requests from {_when(imp['from'])} to {_when(imp['to'])} ({imp['duration_s']:g} s): "
             f"{imp['answered']} answered, {imp['abstained']} abstained, {imp['no_result']} found nothing, "
             f"{imp['failed']} failed; {imp['keys_affected']} of {imp['keys']} API keys got an abstention, an empty "
             "result or an error.", "",
             "## Detection",
             f"Suspected trigger at {_when(det['trigger_at'])}; first alert at {_when(det['first_alert_at'])}: "
             f"time to detect {_secs(det['time_to_detect_s'])}, {det['requests_before_detection']} requests served "
             "in between.", "",
             "## Response",
             f"Opened {_when(resp['opened_at'])}; acknowledged {_when(resp['acknowledged_at'])}"
             + (f" by {resp['acknowledged_by']}" if resp["acknowledged_by"] else "")
             + f": time to acknowledge {_secs(resp['time_to_acknowledge_s'])}.", "",
             "## Recovery",
             f"Resolved {_when(rec['resolved_at'])}: time to recover {_secs(rec['time_to_recover_s'])} from the "
             "incident's opening. Changes made meanwhile: "
             + ("; ".join(f"{_when(a['at'])} {a['text']}" + (f" (by {a['by']})" if a["by"] else "")
                          for a in rec["actions"]) or "none recorded") + ".", ""]
    return "\n".join(lines + _candidates(d["trigger_candidates"]) + _timeline(d["timeline"])
                     + _prompts(d["runbooks"]))


def _candidates(candidates: list[dict]) -> list[str]:
    lines = ["## Trigger candidates (changes before the first alert, by how far the traffic moved after them)", ""]
    if not candidates:
        return lines + ["No recorded change preceded the first alert: look outside ragship (traffic, upstream "
                        "services).", ""]
    lines += ["| # | when | change | moved after it | source |", "|---|---|---|---|---|"]
    for n, c in enumerate(candidates, 1):
        moved = ", ".join(f"{k} {m['before']:g} → {m['after']:g}" for k, m in c["moved"].items()
                          if m["change"]) or "nothing measurable"
        lines.append(f"| {n} | {_when(c['at'])} | {c['text']} | {moved} | {c['source']} |")
    return lines + [""]


def _timeline(events: list[dict]) -> list[str]:
    lines = ["## Timeline", "", "| when | what | who | source |", "|---|---|---|---|"]
    lines += [f"| {_when(e['at'])} | {e['text']} | {e.get('by') or ''} | {e['source']} |" for e in events]
    return lines + [""]


def _prompts(runbooks: dict[str, dict[str, str]]) -> list[str]:
    lines = ["## Root cause", "_What made the trigger hurt users? (only people can write this)_", "",
             "## Lessons learned", "_What went well, what went wrong, where we got lucky._", "",
             "## Action items", "| action | owner | status |", "|---|---|---|"]
    for alert, steps in runbooks.items():
        for part in ("do", "roll back"):
            if steps.get(part):
                lines.append(f"| {alert} runbook, {part}: {steps[part]} | _owner_ | _todo_ |")
    return lines + [""]


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at)) if at is not None else "—"


def _secs(s: float | None) -> str:
    return f"{s:g} s" if s is not None else "—"
