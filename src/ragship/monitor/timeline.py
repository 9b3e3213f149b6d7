"""An incident's timeline, assembled when it is read from what ragship already records: alert events, the index
versions' release history (built, configuration changed, gated, promoted, forced, rolled back, with who), upload
jobs, source syncs, improvement runs, the events log (a sync that failed, the version records found unreadable, a
doctor repair) and the incident's own entries (opened, acknowledged, resolved); and the faults the query log shows: the
first failed request and the first answer the LLM endpoint failed on, with how many followed. Each entry names its
source (an alert event's id, a version, a run, a job, a request), so every line of a postmortem can be checked.
Failures come in episodes (failures less than EPISODE_GAP_S apart): each episode's first failure, and the first
request served well after its last one (the recovery the postmortem measures to), and the server starts with
what their settings changed (monitor/starts.py).

The window: from `lookback_s` before the incident opened to its end (or now): long enough to hold what made the
first alert fire (Oversight.postmortem: the monitor window, the longest rule `for` and source `max_age`)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Protocol

from ragship.access import LOCAL, Principal, redact
from ragship.errors import RagshipError
from ragship.ingest.jobs import Jobs
from ragship.monitor.alerts import Alerts
from ragship.monitor.events import Events
from ragship.monitor.freshness import Freshness
from ragship.monitor.incidents import Incident
from ragship.monitor.querylog import QueryLog
from ragship.monitor.starts import changed_causes, without_values

# what can have caused an incident (the trigger candidates' kinds), those that change what users get first: a
# version built is served only once promoted, an upload or a sync once its ingest has finished
CHANGE_KINDS = ("promote", "forced promote", "rollback", "server start", "upload result", "sync",
                "improvement result", "build", "config", "upload", "improvement run", "doctor repair", "drift reset")
# what ragship saw go wrong without anyone changing anything (the other trigger candidates), causes before the
# symptoms they bring (unreadable version records also fail a sync; many faults fail requests)
FAULT_KINDS = ("versions unreadable", "llm failed", "traffic shift", "sync failed", "requests failed")
# what ragship saw come right again: the first sign of an incident's recovery (the postmortem measures to it)
RECOVERY_KINDS = ("versions readable", "llm recovered", "sync recovered", "requests recovered")
# what each kind of entry is about (rules.CAUSES names the alerts'); a server start by the settings it changed
KIND_CAUSES = {
    **dict.fromkeys(("promote", "forced promote", "rollback", "build", "config"), ("answers", "service")),
    **dict.fromkeys(("upload", "upload result", "sync"), ("answers", "sources")),
    **dict.fromkeys(("improvement run", "improvement result"), ("answers", "learning")),
    **dict.fromkeys(("doctor repair", "versions unreadable", "versions readable"), ("versions", "service")),
    **dict.fromkeys(("llm failed", "llm recovered"), ("llm",)),
    **dict.fromkeys(("sync failed", "sync recovered"), ("sources",)),
    **dict.fromkeys(("requests failed", "requests recovered"), ("service", "versions")),
    "traffic shift": ("traffic",), "drift reset": ("answers", "traffic"),
}
# a monitor round is stamped with its start, an action when it ends: a repair that finished during the round that
# saw the versions readable again (and resolved the alert) is stamped up to a round later (game day, fault e)
ROUND_SLACK_S = 5.0
EPISODE_GAP_S = 300.0  # failures further apart than this are separate episodes (an outage, then a later one)
JOB_HOURS_S = 86400.0  # an upload queued this long before the window may still finish inside it
QUERY_SHIFT_P = 0.01  # a drift alert with the queries' own drift below this says what users ask changed


class RunHistory(Protocol):
    """What the timeline reads of a collection's improvement runs (learn/runs.py: Runs, which sits above the
    monitor and is handed in): each run with its id, started, finished, status, trigger and the report's reason."""

    def between(self, start: float, end: float) -> list[dict[str, Any]]: ...


def span(incident: Incident, lookback_s: float, now: float | None = None) -> tuple[float, float]:
    end = incident.resolved + ROUND_SLACK_S if incident.resolved else time.time() if now is None else now
    return incident.opened - lookback_s, end


def timeline(incident: Incident, log: QueryLog, registry, lookback_s: float, now: float | None = None,
             viewer: Principal = LOCAL, sources: dict[str, list[str]] | None = None,
             runs: RunHistory | None = None) -> list[dict[str, Any]]:
    """Every recorded event of the incident's collection in its window, oldest first, as `viewer` may see it
    (access.redact: a line naming files or questions outside its groups says what happened without them).
    `sources`: each [[sources]] path's groups (a source not named there: only a caller who reads everything sees
    its path); `runs`: the collection's improvement runs (none without)."""
    start, end = span(incident, lookback_s, now)
    sources = sources or {}
    found = [*_alerts(log, incident.collection, start, end), *_versions(_records(registry)),
             *_jobs(log, incident.collection, start, end), *_syncs(log, incident.collection, sources),
             *_runs(runs.between(start, end) if runs is not None else []),
             *map(lambda e: _event(e, sources), Events(log).between(incident.collection, start, end)),
             *_faults(log, incident.collection, start, end),
             *({**e, "source": f"incident {incident.id}"} for e in incident.entries
               if not e["kind"].startswith("alert"))]  # alerts come from their events, with their values
    return redact(viewer, sorted((e for e in found if start <= e["at"] <= end), key=lambda e: e["at"]))


def _entry(at: float, kind: str, text: str, source: str, by: str = "", **extra: Any) -> dict[str, Any]:
    return {"at": at, "kind": kind, "text": text, "by": by, "source": source, **extra}


def _alerts(log: QueryLog, collection: str, start: float, end: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in Alerts(log).events_between(collection, start, end):
        source = f"alert event {p['id']}"
        out.append(_entry(p["at"], f"alert {p['event']}", f"{p['alert']} {p['event']} ({p['severity']}): "
                          f"{p['signal']} = {p['value']:.4g}, {p['condition']}", source, "monitor",
                          alert=p["alert"], severity=p["severity"]))
        shift = _shift(p)
        if shift and not any(e["kind"] == "traffic shift" for e in out):  # once: each drift alert says it again
            # the example question's asker is not kept: only a caller who reads everything sees its words
            out.append(_entry(p["at"], "traffic shift", shift, source, "monitor",
                              private={"groups": None, "text": shift.split("; users now ask")[0], "source": source}))
    return out


def _shift(p: dict) -> str:
    """A drift alert that fired while the queries themselves had drifted: what users now ask."""
    drift = p.get("drift") or {}
    query_p = (drift.get("query") or {}).get("p_value")
    if p["event"] != "fired" or p["signal"] not in ("query_drift_p", "score_drift_p") or query_p is None \
            or query_p >= QUERY_SHIFT_P:
        return ""
    topics = drift.get("topics") or []
    asked = f"; users now ask e.g. {topics[0]['examples'][0]!r}" if topics and topics[0].get("examples") else ""
    return f"the queries changed (query drift p = {query_p:.3g}){asked}"


def _faults(log: QueryLog, collection: str, start: float, end: float) -> list[dict[str, Any]]:
    """Per episode of failed requests and of answers the LLM endpoint failed on: its first failure, with how many
    followed, and the first request served well after its last (a request served; an answer the LLM wrote)."""
    out: list[dict[str, Any]] = []
    rows = log.requests_between(collection, start, end, ("ts", "id", "kind", "outcome", "error", "fallback"),
                                through=True)
    for kind, column, what, well in (
            ("requests", 4, "requests failed", lambda row: row[3] != "error"),
            ("llm", 5, "the LLM endpoint failed; answers were quoted instead",
             lambda row: row[2] == "ask" and row[3] == "answered" and row[5] is None)):
        for episode in _episodes([row for row in rows if row[column] is not None]):
            first, n, source = episode[0], len(episode), f"request {episode[0][1]}"
            # an error's words can name a document or echo a question: the count alone to a grouped caller
            out.append(_entry(first[0], f"{kind} failed", f"{what}: {first[column]} ({n} in all)", source,
                              private={"groups": None, "text": f"{what} ({n} in all)", "source": source}))
            back = next((row for row in rows if row[0] > episode[-1][0] and well(row)), None)
            if back:
                out.append(_entry(back[0], f"{kind} recovered", f"{RECOVERED[kind]} after {n} failure"
                                  f"{'' if n == 1 else 's'}", f"request {back[1]}"))
    return out


RECOVERED = {"requests": "requests served again", "llm": "an answer written by the LLM endpoint again"}


def _episodes(failures: list[tuple]) -> list[list[tuple]]:
    """Failures (time first, oldest first) split where EPISODE_GAP_S passed without one."""
    episodes: list[list[tuple]] = []
    for row in failures:
        if episodes and row[0] - episodes[-1][-1][0] < EPISODE_GAP_S:
            episodes[-1].append(row)
        else:
            episodes.append([row])
    return episodes


def entry_causes(e: dict[str, Any]) -> set[str]:
    """What a timeline entry is about (KIND_CAUSES); a server start by the settings it changed (any restart: the
    service)."""
    if e["kind"] == "server start":
        return changed_causes(e["text"])
    return set(KIND_CAUSES.get(e["kind"], ()))


def _records(registry) -> list:
    """The version records, none when they are unreadable (a VersionsUnreadable incident: its events say so)."""
    try:
        return registry.all()
    except RagshipError:
        return []


def _versions(versions) -> list[dict[str, Any]]:
    """Each version's build (with what changed from the version it was built on), gate and promotions."""
    by_id = {v.id: v for v in versions}
    out = []
    for v in versions:
        source = f"version {v.id}"
        i = v.ingest or {}
        built = f"{v.id} built on {v.parent or 'nothing'}"  # its counts are of every group's documents
        out.append(_entry(_epoch(v.created_at), "build", f"{built}: +{i.get('added', 0)} ~{i.get('changed', 0)} "
                          f"-{i.get('deleted', 0)} documents, {v.counts.get('documents', 0)} in all", source,
                          version=v.id, private={"groups": None, "text": built, "source": source}))
        changed = config_changes(by_id.get(v.parent), v)
        if changed:
            out.append(_entry(_epoch(v.created_at), "config", f"{v.id} changes {'; '.join(changed)}", source,
                              version=v.id))
        out += _release(v, source, changed)
    return out


def _release(v, source: str, changed: list[str]) -> list[dict[str, Any]]:
    r, out = v.release, []
    if r.get("gate"):
        g = r["gate"]
        out.append(_entry(_epoch(g["at"]), "gate", f"gate {'passed' if g['passed'] else 'refused'} {v.id} against "
                          f"{g.get('live')}", source, version=v.id))
    for p in r.get("promotions", []):
        kind = "rollback" if p.get("rollback") else "forced promote" if p.get("forced") else "promote"
        what = f" ({v.id} changes {'; '.join(changed)})" if changed and not p.get("rollback") else ""
        moved = f"{p['from']} -> {v.id}" if p.get("from") else f"first version {v.id} live"
        out.append(_entry(_epoch(p["at"]), kind, f"{kind}: {moved}{what}", source,
                          p.get("by", ""), version=v.id))
    return out


def config_changes(before, after) -> list[str]:
    """The settings a version was built with that differ from its parent's ("chunk.tokens 200 -> 20")."""
    if before is None:
        return []
    a, b = _flat(before.params), _flat(after.params)
    return [f"{k} {a.get(k)} -> {b.get(k)}" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def _jobs(log: QueryLog, collection: str, start: float, end: float) -> list[dict[str, Any]]:
    out = []
    for job in Jobs(log.state).between(collection, start - JOB_HOURS_S, end):
        key_id, status, source = job["key_id"], job["status"], f"job {job['id']}"
        n = len(job.get("files", []))
        files = f"{n} file{'' if n == 1 else 's'}"
        private = {"groups": job.get("groups", []), "key_id": key_id}  # access.job_visible's rule
        out.append(_entry(job["created"], "upload", f"upload of {files} queued", source, key_id,
                          private={**private, "text": f"an upload job of {files} outside your groups queued"}))
        if job.get("finished_at"):
            failed = len(job.get("failures", []))
            out.append(_entry(_epoch(job["finished_at"]), "upload result", f"upload {status}"
                              + (f": {failed} files failed" if failed else ""), source, key_id, process=job["owner"],
                              private={**private, "text": f"an upload job of {files} outside your groups {status}"}))
    return out


def _syncs(log: QueryLog, collection: str, sources: dict[str, list[str]]) -> list[dict[str, Any]]:
    out = []
    for sync in Freshness(log).syncs(collection):
        path, success, version = sync["path"], sync["last_success"], sync["version"]
        done = f"({version or 'no new version'})"
        out.append(_entry(success, "sync", f"source {path} synced {done}", f"source {path}",
                          private={"groups": sources.get(path), "text": f"a source outside your groups synced {done}"}))
    return out  # a sync that failed is an event (events.py), at its first failure


def _event(e: dict[str, Any], sources: dict[str, list[str]]) -> dict[str, Any]:
    """An event of events.py; one about a source (its text starts "source PATH ") is its source's groups'; a server
    start's settings values (a source's path among them) only for a caller who reads everything."""
    if e["kind"] == "server start":
        return {**e, "private": {"groups": None, "text": without_values(e["text"]), "source": e["source"]}}
    if not e["text"].startswith("source "):
        return e
    path = next((p for p in sources if e["text"].startswith(f"source {p} ")), None)
    return {**e, "private": {"groups": sources.get(path) if path else None,
                             "text": f"{e['kind']}: a source outside your groups", "source": e["source"]}}


def _runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        source = f"run {run['id']}"
        out.append(_entry(run["started"], "improvement run", f"improvement run started: {run['trigger']}", source))
        if run["finished"]:
            out.append(_entry(run["finished"], "improvement result",
                              f"improvement run {run['status']}: {run.get('reason', '')}", source))
    return out


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
