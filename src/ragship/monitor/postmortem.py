"""A postmortem draft for an incident, in the shape of the SRE book's example postmortem: status, summary, impact
from the query log, detection, response and recovery times, the trigger candidates ranked, the timeline, and the
sections only people can write (root cause, lessons, action items) as prompts, prefilled with what the alerts'
runbooks prescribe. Nothing is invented: each figure names the rows or events it was computed from.

Trigger candidates are the changes (releases, builds, configuration, server starts with the settings they changed,
uploads, syncs, improvement runs, repairs) and the faults ragship saw (failed requests, LLM failures, a sync that
failed, unreadable version records, a shift in what users ask) in the timeline up to the first alert, each with the
traffic's rates before it against after it (up to the first alert). Those about what the incident's alerts watch
(rules.CAUSES, timeline.KIND_CAUSES) come first, and what an earlier incident had before it opened (its causes) is
left out. Then first come the changes to what is served (promotions, rollbacks, restarts, repairs) after which the
traffic got worse, the worst first; then the faults, causes before symptoms; then every other change (a build, an
upload, a sync: each reaches users through a promotion of its own). A tie goes to the change that alters what users
get (a promotion before the build of the version it promoted), then to the one nearer the alert.

Recovery is measured from the opening to the fix (`fixed`), not to the resolution, which waits for the alerts'
recent window; the impact counts the degraded requests from the trigger to the fix (issue 49)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Sequence

from ragship.access import LOCAL, Principal
from ragship.monitor.incidents import Incident
from ragship.monitor.querylog import QueryLog
from ragship.monitor.timeline import (CHANGE_KINDS, FAULT_KINDS, RECOVERY_KINDS, ROUND_SLACK_S, RunHistory,
                                      entry_causes, timeline)

RUNBOOKS = Path(__file__).resolve().parents[1] / "runbooks"
# what a trigger moves, and which way is worse (+1: up is worse)
MOVES = {"answer_rate": -1, "abstain_rate": 1, "no_result_rate": 1, "error_rate": 1, "llm_fallback_rate": 1,
         "top_score": -1}
MIN_SIDE = 5  # requests on each side of a change for its move to count
# the changes that alter what users get at once; a build, an upload or a sync does so through its promotion (the
# game day's bad release ranked below the build of a sync that followed it, whose "before" was cleaner)
SERVING = ("promote", "forced promote", "rollback", "server start", "doctor repair")
# the actions that can fix an incident: what changes what is served (an upload's, a sync's or an improvement run's
# version by its promotion: a routine sync that changed nothing was named the fix of a topic shift), a drift reset
FIXES = (*SERVING, "drift reset")


def draft(incident: Incident, log: QueryLog, registry, window_s: float, lookback_s: float | None = None,
          now: float | None = None, viewer: Principal = LOCAL, sources: dict[str, list[str]] | None = None,
          earlier: Sequence[Incident] = (), runs: RunHistory | None = None) -> dict[str, Any]:
    """`window_s`: the traffic compared before and after each candidate (monitor.window_s); `lookback_s`: how far
    before the opening the timeline reaches (default `window_s`); `viewer`, `sources`, `runs`: as timeline's (every
    line of the draft comes from the timeline `viewer` may see); `earlier`: the collection's resolved incidents
    opened before this one, whose causes are no candidates here."""
    now = time.time() if now is None else now
    events = timeline(incident, log, registry, lookback_s or window_s, now, viewer, sources, runs)
    fired = [e["at"] for e in incident.entries if e["kind"] == "alert fired"]
    first_alert = min(fired) if fired else None
    candidates = rank(log, incident, events, first_alert or incident.opened, window_s, earlier)
    trigger = next((c for c in candidates[:1] if c["related"] and (c["score"] > 0 or c["kind"] in FAULT_KINDS)),
                   None)  # a change that moved nothing, or one about something else, is listed, not blamed
    end = incident.resolved or now
    fix = fixed(log, incident, events, end, window_s)
    # without a trigger, the window before the first alert, or before the opening of an incident no alert opened
    # (its routine abstentions are not counted: `impact`)
    began = trigger["at"] if trigger else (first_alert or incident.opened) - window_s
    from_the = "trigger" if trigger else "first alert" if first_alert is not None else "opening"
    until = fix["at"] if fix else end
    before = traffic(log, incident.collection, began - window_s, began)
    return {
        "incident": incident.to_dict(), "status": incident.status,
        "summary": summary(incident, trigger, len(candidates)),
        "impact": {**impact(log, incident.collection, began, until, before), "from": began, "to": until,
                   "from_the": from_the, "lead_s": None if trigger else window_s,
                   "to_the": "fix" if fix else "resolution" if incident.resolved else "present"},
        "detection": {"trigger_at": trigger["at"] if trigger else None, "first_alert_at": first_alert,
                      "time_to_detect_s": _diff(first_alert, trigger["at"] if trigger else None),
                      "requests_before_detection": _count(log, incident.collection, began, first_alert)},
        "response": {"opened_at": incident.opened, "acknowledged_at": incident.acknowledged,
                     "time_to_acknowledge_s": _diff(incident.acknowledged, incident.opened),
                     "acknowledged_by": next((e["by"] for e in incident.entries if e["kind"] == "acknowledged"), None)},
        "recovery": recovery(incident, events, fix),
        "trigger_candidates": candidates, "timeline": events,
        "runbooks": {name: runbook_steps(name) for name in incident.alerts},
    }


def rank(log: QueryLog, incident: Incident, events: list[dict], until: float, window_s: float,
         earlier: Sequence[Incident] = ()) -> list[dict[str, Any]]:
    """The changes and faults up to `until` (the first alert), each with what moved in the traffic after it: those
    about what the incident's alerts watch first; none an earlier incident had before it opened (its causes)."""
    about, out = incident.causes(), []
    for e in (e for e in events if e["kind"] in CHANGE_KINDS + FAULT_KINDS and e["at"] <= until):
        causes = entry_causes(e)
        if any(causes & i.causes() and e["at"] <= i.opened for i in earlier):
            continue
        moved = _moved(log, incident.collection, e["at"], until, window_s)
        worse = max((m["change"] * MOVES[k] for k, m in moved.items()), default=0.0)
        out.append({**e, "moved": moved, "score": round(max(worse, 0.0), 4),
                    "related": not about or bool(causes & about)})

    def order(c: dict) -> tuple:
        group = 0 if c["kind"] in SERVING and c["score"] > 0 else 1 if c["kind"] in FAULT_KINDS else 2
        return (not c["related"], group, -c["score"] if group == 0 else 0,
                (CHANGE_KINDS + FAULT_KINDS).index(c["kind"]), -c["at"])

    return sorted(out, key=order)


def fixed(log: QueryLog, incident: Incident, events: list[dict], end: float, window_s: float) -> dict | None:
    """What fixed it: the first sign of recovery after the opening about what its alerts watch (the LLM writing
    answers again, the version records read again, a source synced again), or the last action before that sign that
    changed what is served (a restart, a rollback, a repair); without a sign, the first such action after which the
    traffic got better; None when nothing recorded did (the recovery is then measured to the resolution)."""
    about = incident.causes()
    mine = [e for e in events if incident.opened <= e["at"] <= end + ROUND_SLACK_S
            and (not about or entry_causes(e) & about)]
    sign = next((e for e in mine if e["kind"] in RECOVERY_KINDS), None)
    actions = [e for e in mine if e["kind"] in FIXES and (sign is None or e["at"] <= sign["at"] + ROUND_SLACK_S)]
    if sign:
        return actions[-1] if actions else sign
    return next((a for a in actions if any(m["change"] * MOVES[k] < 0 for k, m in
                                           _moved(log, incident.collection, a["at"], end, window_s).items())), None)


def recovery(incident: Incident, events: list[dict], fix: dict | None) -> dict[str, Any]:
    """Time to recover: from the opening to the fix (to the resolution when no fix is recorded); then how long the
    alerts took to resolve after it. `resolution`: who resolved it, when, and their note (what fixed it, as they
    recorded it)."""
    fixed_at = fix["at"] if fix else None
    return {"fixed_at": fixed_at, "fix": {k: fix[k] for k in ("kind", "text", "by", "source")} if fix else None,
            "resolution": incident.resolution(),
            "time_to_recover_s": _diff(fixed_at or incident.resolved, incident.opened),
            "measured_to": "the fix" if fix else "the resolution" if incident.resolved else None,
            "resolved_at": incident.resolved,  # 0: in the round that saw the fix (stamped with the round's start)
            "resolved_after_fix_s": None if fixed_at is None or incident.resolved is None
            else max(0.0, round(incident.resolved - fixed_at, 1)),
            "actions": [e for e in events if e["kind"] in CHANGE_KINDS and e["at"] >= incident.opened]}


def _moved(log: QueryLog, collection: str, at: float, until: float, window_s: float) -> dict[str, dict]:
    before, after = traffic(log, collection, at - window_s, at), traffic(log, collection, at, until)
    return {k: {"before": b, "after": a, "change": round(a - b, 4)}
            for k in MOVES if (b := before[k]) is not None and (a := after[k]) is not None}


def traffic(log: QueryLog, collection: str, since: float, until: float) -> dict[str, float | None]:
    """The rates a trigger moves, over the requests in [since, until): None with fewer than MIN_SIDE."""
    rows = log.requests_between(collection, since, until, ("kind", "outcome", "top_score", "fallback"))
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


def impact(log: QueryLog, collection: str, since: float, until: float, before: dict) -> dict[str, Any]:
    """What users got from `since` (the trigger, or a window before the first alert or the opening) to the fix (or
    the resolution), from the query log. The degraded requests: the failed ones, the answers quoted because the LLM
    endpoint failed, and the abstentions and empty results above their rate `before` (traffic()'s; routine ones
    are not the incident's)."""
    rows = [row for row in log.requests_between(collection, since, until, ("kind", "outcome", "key_id", "fallback"))
            if row[0] != "feedback"]
    asks = [row for row in rows if row[0] == "ask" and row[1] != "error"]
    n = {o: sum(row[1] == o for row in rows) for o in ("answered", "abstained", "error", "no_result")}
    over = {"abstained": _over(n["abstained"], before["abstain_rate"], len(asks)),
            "no_result": _over(n["no_result"], before["no_result_rate"], len(rows))}
    fallback = sum(bool(row[3]) for row in rows)
    hurt = {row[2] for row in rows if row[1] == "error" or row[3] or over.get(row[1])}
    return {"requests": len(rows), "answered": n["answered"], "abstained": n["abstained"], "failed": n["error"],
            "no_result": n["no_result"], "fallback": fallback, "abstained_over_before": over["abstained"],
            "no_result_over_before": over["no_result"], "degraded": n["error"] + fallback + sum(over.values()),
            "keys": len({row[2] for row in rows}), "keys_affected": len(hurt), "duration_s": round(until - since, 1)}


def _over(count: int, rate_before: float | None, whole: int) -> int:
    """How many of `count` are above the rate before (all of them when there was too little traffic to tell)."""
    return count if rate_before is None else max(0, count - round(rate_before * whole))


def summary(incident: Incident, trigger: dict | None, candidates: int) -> str:
    """What it was, and its suspected trigger; without one, as many candidates as the draft lists below."""
    alerts = ", ".join(incident.alerts) or "no alert (opened by hand)"
    if trigger:
        cause = f"; the change before it that moved the metrics most: {trigger['text']}"
    elif candidates:
        cause = f"; no change is recorded as its cause; {candidates} candidate{'s' * (candidates != 1)} below"
    else:
        cause = "; no recorded change or fault preceded it"
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
    return sum(kind != "feedback" for (kind,) in log.requests_between(collection, since, until, ("kind",)))


def _diff(a: float | None, b: float | None) -> float | None:
    return round(a - b, 1) if a is not None and b is not None else None


def markdown(d: dict[str, Any]) -> str:
    """The draft as Markdown, for the incident's owner to finish."""
    i, det, resp = d["incident"], d["detection"], d["response"]
    lines = [f"# Postmortem: {i['title']}", "",
             f"**Incident** {i['id']} · **collection** {i['collection']} · **status** {d['status']} · "
             f"**opened** {_when(i['opened'])} · **resolved** {_when(i['resolved'])}", "",
             "## Summary", d["summary"], "",
             "## Impact (from the query log)", _impact_text(d["impact"]), "",
             "## Detection", _detection_text(det), "",
             "## Response",
             f"Opened {_when(resp['opened_at'])}; acknowledged {_when(resp['acknowledged_at'])}"
             + (f" by {resp['acknowledged_by']}" if resp["acknowledged_by"] else "")
             + f": time to acknowledge {_secs(resp['time_to_acknowledge_s'])}.", "",
             "## Recovery", _recovery_text(d["recovery"]), ""]
    return "\n".join(lines + _candidates(d["trigger_candidates"], det["first_alert_at"] is not None)
                     + _timeline(d["timeline"])
                     + _prompts(d["runbooks"]))


def _impact_text(imp: dict[str, Any]) -> str:
    """What users got, over a span named as it was chosen: from the suspected trigger, or (none recorded) from a
    window before the first alert, or before the opening of an incident opened by hand."""
    start = {"trigger": "the suspected trigger",
             "first alert": f"{_secs(imp['lead_s'])} before the first alert, as no change is recorded as its cause",
             "opening": f"{_secs(imp['lead_s'])} before it was opened by hand, as no alert fired and no change is "
                        "recorded as its cause"}[imp["from_the"]]
    end = {"fix": "the fix", "resolution": "the resolution"}.get(imp["to_the"], "now")
    return (f"{imp['requests']} requests from {_when(imp['from'])} to {_when(imp['to'])} ({imp['duration_s']:g} s: "
            f"from {start}, to {end}): {imp['answered']} answered ({imp['fallback']} of them quoted because the LLM "
            f"endpoint failed), {imp['abstained']} abstained ({imp['abstained_over_before']} above the rate before), "
            f"{imp['no_result']} found nothing ({imp['no_result_over_before']} above the rate before), "
            f"{imp['failed']} failed: **{imp['degraded']} degraded**; {imp['keys_affected']} of {imp['keys']} API "
            "keys got a degraded answer.")


def _detection_text(det: dict[str, Any]) -> str:
    trigger, alert = det["trigger_at"], det["first_alert_at"]
    if trigger is not None and alert is not None:
        return (f"Suspected trigger at {_when(trigger)}; first alert at {_when(alert)}: time to detect "
                f"{_secs(det['time_to_detect_s'])}, {det['requests_before_detection']} requests served in between.")
    if alert is not None:
        return (f"First alert at {_when(alert)}. No change is recorded as its cause, so the time to detect is "
                "unknown.")
    if trigger is not None:
        return f"Suspected trigger at {_when(trigger)}. No alert fired (opened by hand): no time to detect."
    return "No alert fired (opened by hand) and no change is recorded as its cause: the time to detect is unknown."


def _recovery_text(rec: dict[str, Any]) -> str:
    fix, res = rec["fix"], rec["resolution"] or {}
    # the resolver's note is the fix as people tell it, beside (or instead of) the change ragship recorded
    note = f"{res['by']} recorded when resolving it at {_when(res['at'])}: \"{res['note']}\"" if res.get("note") \
        else None
    if fix:
        head = (f"Fixed {_when(rec['fixed_at'])} by {fix['text']}" + (f" (by {fix['by']})" if fix["by"] else "")
                + f": time to recover {_secs(rec['time_to_recover_s'])} from the incident's opening; resolved "
                f"{_when(rec['resolved_at'])}, {_secs(rec['resolved_after_fix_s'])} after the fix."
                + (f" What fixed it, as {note}." if note else ""))
    elif note:
        head = (f"Fixed, as {note}. Time to recover {_secs(rec['time_to_recover_s'])} from the incident's opening "
                "to its resolution (no change ragship recorded is the fix).")
    else:
        head = (f"No recorded fix. Resolved {_when(rec['resolved_at'])}" + (f" by {res['by']}" if res else "")
                + f": time to recover {_secs(rec['time_to_recover_s'])} from the incident's opening to its "
                "resolution.")
    return head + " Changes made meanwhile: " + ("; ".join(
        f"{_when(a['at'])} {a['text']}" + (f" (by {a['by']})" if a["by"] else "") for a in rec["actions"])
        or "none recorded") + "."


def _candidates(candidates: list[dict], alerted: bool) -> list[str]:
    until = "the first alert" if alerted else "the opening (no alert fired)"
    lines = [f"## Trigger candidates (changes and faults before {until}: those about what the alerts watch "
             "first, then by how far the traffic moved after them)", ""]
    if not candidates:
        return lines + [f"No recorded change preceded {until.split(' (')[0]}: look outside ragship (traffic, "
                        "upstream services).", ""]
    lines += ["| # | when | change | moved after it | source |", "|---|---|---|---|---|"]
    for n, c in enumerate(candidates, 1):
        moved = ", ".join(f"{k} {m['before']:g} → {m['after']:g}" for k, m in c["moved"].items()
                          if m["change"]) or "nothing measurable"
        about = "" if c["related"] else " (about something else)"
        lines.append(f"| {n} | {_when(c['at'])} | {c['text']}{about} | {moved} | {c['source']} |")
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
