"""Incidents: what the on-call person works through. One opens when a warning or critical alert fires (a warning
fires only once its condition has held for the rule's `for`), or by hand (`ragship incident open`); an alert of the
same collection that fires while one is open joins it only if it shares a cause with every alert in it
(rules.CAUSES), else it opens its own. An incident is titled after its most severe alert. It resolves when every
alert in it has resolved, or by hand; acknowledging records who took it. Every change is an entry with its time,
who made it and in which process, so the timeline (monitor/timeline.py) shows what each server did. Opening is
serialized across processes (State.exclusive): two servers on one store open one incident, not two."""

from __future__ import annotations

import builtins
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ragship.errors import InputError, NotFound
from ragship.monitor.rules import causes
from ragship.state import State
from ragship.state.tables import INCIDENTS
from ragship.util.identity import process

OPENS = ("warning", "critical")  # the severities that open an incident; "info" alerts only notify
SEVERITY = {"info": 0, "warning": 1, "critical": 2}  # the most severe alert opens and names an incident
STATUSES = ("open", "acknowledged", "resolved")
NO_NOTE = ("by hand", "every alert resolved")  # what a resolution records without a note: by hand, by its alerts
INC = INCIDENTS.c
UNTITLED = "(untitled)"  # how one stored with a blank title (before open() refused them) reads: every face links it


@dataclass
class Incident:
    id: str
    collection: str
    title: str
    status: str  # one of STATUSES
    opened: float
    acknowledged: float | None = None
    resolved: float | None = None
    alerts: dict[str, str] = field(default_factory=dict)  # alert name: firing | resolved
    entries: list[dict[str, Any]] = field(default_factory=list)  # {at, kind, text, by, process}
    signals: dict[str, str] = field(default_factory=dict)  # alert name: the signal it watches
    severity: dict[str, str] = field(default_factory=dict)  # alert name: its severity

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, at: float, kind: str, text: str, by: str) -> None:
        self.entries.append({"at": at, "kind": kind, "text": text, "by": by, "process": process()})

    def resolution(self) -> dict[str, Any] | None:
        """Its last resolution: when, by whom, and the note its resolver wrote (what fixed it; None without one)."""
        e = next((e for e in reversed(self.entries) if e["kind"] == "resolved"), None)
        if e is None:
            return None
        note = e["text"].removeprefix("resolved: ")
        return {"at": e["at"], "by": e["by"], "note": None if note in NO_NOTE else note}

    def causes(self) -> set[str]:
        """What its alerts are about (rules.CAUSES), all of them."""
        return {cause for name in self.alerts for cause in causes(self.signals.get(name), name)}

    def related(self, name: str, signal: str | None) -> bool:
        """Whether an alert shares a cause with every alert in it (a hand-opened one, with none: no)."""
        mine = set(causes(signal, name))
        return bool(self.alerts) and all(mine & set(causes(self.signals.get(a), a)) for a in self.alerts)

    def join(self, payload: dict[str, Any]) -> None:
        """A fired alert into it; the title follows the most severe alert (a critical over a warning)."""
        name, severity = payload["alert"], payload["severity"]
        worst = max((SEVERITY.get(self.severity.get(a, "warning"), 0) for a in self.alerts), default=-1)
        if SEVERITY.get(severity, 0) > worst:
            self.title = f"{name}: {payload['summary'] or payload['condition']}"
        self.alerts[name], self.signals[name], self.severity[name] = "firing", payload["signal"], severity
        self.add(payload["at"], "alert fired", f"{name} fired: {payload['condition']} (value {payload['value']:.4g})",
                 "monitor")


class Incidents:
    def __init__(self, state: State):
        self.state = state

    def on_alert(self, c: Connection, collection: str, payload: dict[str, Any]) -> str | None:
        """Within the alert event's transaction: open or join an incident for a fired alert (warning, critical),
        or mark the alert resolved in its incident (which resolves once all its alerts have); the incident's id."""
        self.state.exclusive(c, f"incidents:{collection}")
        name, at = payload["alert"], payload["at"]
        unresolved = self._unresolved(c, collection)
        if payload["event"] == "fired" and payload["severity"] in OPENS:
            current = next((i for i in unresolved if i.related(name, payload.get("signal"))), None)
            incident = current or Incident(uuid.uuid4().hex[:16], collection, "", "open", at)
            incident.join(payload)
        elif payload["event"] == "resolved" and any(i.alerts.get(name) == "firing" for i in unresolved):
            incident = current = next(i for i in unresolved if i.alerts.get(name) == "firing")
            incident.alerts[name] = "resolved"
            incident.add(at, "alert resolved", f"{name} resolved (value {payload['value']:.4g})", "monitor")
            if all(state == "resolved" for state in incident.alerts.values()):
                self._resolve(incident, at, "monitor", NO_NOTE[1])
        else:
            return None
        self._save(c, incident, new=incident is not current)
        return incident.id

    def open(self, collection: str, title: str, by: str, now: float | None = None) -> Incident:
        """An incident opened by hand (something users reported that no alert caught); its title says what."""
        if not title.strip():
            raise InputError("an incident's title is blank: give a title that says what users see "
                             "(e.g. \"answers cite last year's refund policy\")")
        at = time.time() if now is None else now
        incident = Incident(uuid.uuid4().hex[:16], collection, title, "open", at)
        incident.add(at, "opened", f"opened by hand: {title}", by)
        with self.state.ready() as c:
            self._save(c, incident, new=True)
        return incident

    def acknowledge(self, incident_id: str, by: str, now: float | None = None) -> Incident:
        def ack(incident: Incident, at: float) -> None:
            if incident.status == "open":
                incident.status, incident.acknowledged = "acknowledged", at
            incident.add(at, "acknowledged", f"acknowledged by {by}", by)

        return self._change(incident_id, ack, now)

    def resolve(self, incident_id: str, by: str, note: str = "", now: float | None = None) -> Incident:
        """`note`: what fixed it, as the resolver tells it (the postmortem's recovery shows it)."""
        return self._change(incident_id, lambda incident, at: self._resolve(incident, at, by,
                                                                            note.strip() or NO_NOTE[0]), now)

    def get(self, incident_id: str) -> Incident:
        with self.state.ready(read=True) as c:
            row = c.execute(select(INCIDENTS).where(INC.id == incident_id)).first()
        if row is None:
            raise NotFound(f"no incident {incident_id!r}; `ragship incident list` shows them")
        return _incident(row)

    def list(self, collection: str | None = None, status: str | None = None, limit: int = 50) -> list[Incident]:
        if status and status not in STATUSES:
            raise InputError(f"no incident status {status!r}: it is one of {', '.join(STATUSES)}")
        query = select(INCIDENTS).order_by(INC.opened.desc()).limit(limit)
        if collection:
            query = query.where(INC.collection == collection)
        if status:
            query = query.where(INC.status == status)
        with self.state.ready(read=True) as c:
            return [_incident(r) for r in c.execute(query)]

    def _change(self, incident_id: str, change, now: float | None) -> Incident:
        at = time.time() if now is None else now
        with self.state.ready() as c:
            self.state.exclusive(c, f"incident:{incident_id}")
            row = c.execute(select(INCIDENTS).where(INC.id == incident_id)).first()
            if row is None:
                raise NotFound(f"no incident {incident_id!r}; `ragship incident list` shows them")
            incident = _incident(row)
            if incident.status == "resolved":
                raise InputError(f"incident {incident_id} is resolved already")
            change(incident, at)
            self._save(c, incident, new=False)
        return incident

    @staticmethod
    def _resolve(incident: Incident, at: float, by: str, why: str) -> None:
        incident.status, incident.resolved = "resolved", at
        incident.add(at, "resolved", f"resolved: {why}", by)

    @staticmethod
    def _unresolved(c: Connection, collection: str) -> builtins.list[Incident]:  # (`list` is a method here)
        """The collection's unresolved incidents, the newest first."""
        rows = c.execute(select(INCIDENTS).where(INC.collection == collection, INC.status != "resolved")
                         .order_by(INC.opened.desc()))
        return [_incident(row) for row in rows]

    @staticmethod
    def _save(c: Connection, incident: Incident, new: bool) -> None:
        values = {"collection": incident.collection, "title": incident.title, "status": incident.status,
                  "opened": incident.opened, "acknowledged": incident.acknowledged, "resolved": incident.resolved,
                  "body": json.dumps({"alerts": incident.alerts, "entries": incident.entries,
                                      "signals": incident.signals, "severity": incident.severity})}
        c.execute(INCIDENTS.insert().values(id=incident.id, **values) if new
                  else INCIDENTS.update().where(INC.id == incident.id).values(**values))


def _incident(row) -> Incident:
    body = json.loads(row.body)
    return Incident(row.id, row.collection, row.title.strip() or UNTITLED, row.status, row.opened, row.acknowledged,
                    row.resolved, body.get("alerts", {}), body.get("entries", []), body.get("signals", {}),
                    body.get("severity", {}))
