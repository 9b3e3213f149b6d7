"""The home's oversight: the operations over all the collections of a home rather than one (its query log, the
monitor, incidents with their timelines and postmortems, server starts, the learning loops and their schedules).
Collections (collections.py) is only the registry it reads the collections from."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ragship.access import LOCAL, KeyStore, Principal, asker_groups, incident_for
from ragship.collections import Collections, named
from ragship.engine import Engine
from ragship.errors import NotFound
from ragship.learn.loop import Loop
from ragship.learn.runs import Runs
from ragship.monitor.events import Events
from ragship.monitor.incidents import Incident, Incidents
from ragship.monitor.postmortem import draft
from ragship.monitor.querylog import QueryLog
from ragship.monitor.rules import rules
from ragship.monitor.schedule import Monitor
from ragship.monitor.starts import record_start
from ragship.monitor.timeline import timeline


class Oversight:
    def __init__(self, collections: Collections):
        self.collections = collections
        self.default = collections.default  # the home's state, settings and paths

    @cached_property
    def query_log(self) -> QueryLog:
        """The home's query log, one for every collection and face."""
        return QueryLog(self.default.state, self.default.settings.monitor.query_text)

    def monitor(self) -> Monitor:
        """The monitor over every collection of the home (its query log, the home's monitor lock)."""
        runbooks = self.default.settings.monitor.runbook_base_url  # `ragship serve` points it at itself
        c = self.collections
        return Monitor(self.query_log, lambda: {name: c.get(name) for name in c.names()},
                       self.default.home.root / "monitor.lock", site=runbooks.removesuffix("/runbooks"), runs=self.runs)

    def runs(self, name: str) -> Runs:
        """A collection's improvement runs (learn/runs.py), for the monitor and the incident timelines below it."""
        return Runs(self.query_log, named(name))

    @cached_property
    def incidents(self) -> Incidents:
        """The home's incidents, every collection's, in its state store."""
        return Incidents(self.default.state)

    def incidents_for(self, viewer: Principal, collection: str | None = None, status: str | None = None
                      ) -> list[Incident]:
        """The newest incidents as `viewer` may see them (access.incident_for)."""
        askers = asker_groups(KeyStore(self.default.state))
        return [i for i in (incident_for(viewer, x, askers) for x in self.incidents.list(collection, status)) if i]

    def visible_incident(self, incident_id: str, viewer: Principal = LOCAL) -> Incident:
        """An incident as `viewer` may see it; not found, as a missing one, when it may not."""
        incident = incident_for(viewer, self.incidents.get(incident_id), asker_groups(KeyStore(self.default.state)))
        if incident is None:
            raise NotFound(f"no incident {incident_id!r}; `ragship incident list` shows them")
        return incident

    def incident(self, incident_id: str, viewer: Principal = LOCAL) -> dict[str, Any]:
        """An incident with its timeline (monitor/timeline.py) as `viewer` may see it."""
        incident, c, lookback = self._incident(incident_id, viewer)
        return {**incident.to_dict(), "timeline": timeline(incident, self.query_log, c.registry, lookback,
                                                           viewer=viewer, sources=c.settings.source_groups(),
                                                           runs=self.runs(incident.collection))}

    def postmortem(self, incident_id: str, viewer: Principal = LOCAL) -> dict[str, Any]:
        """An incident's postmortem draft (monitor/postmortem.py), its timeline included, as `viewer` may see it."""
        incident, c, lookback = self._incident(incident_id, viewer)
        earlier = [i for i in self.incidents_for(viewer, incident.collection, "resolved") if i.opened < incident.opened]
        return draft(incident, self.query_log, c.registry, c.settings.monitor.window_s, lookback,
                     viewer=viewer, sources=c.settings.source_groups(), earlier=earlier,
                     runs=self.runs(incident.collection))

    def record_start(self, by: str, now: float | None = None) -> None:
        """A server process started: an event in each collection's timeline, with the settings it changed since the
        last start (monitor/starts.py)."""
        events = Events(self.query_log)
        for name in self.collections.names():
            record_start(events, name, self.collections.get(name).settings.shown(), self.default.home.started, by, now)

    def _incident(self, incident_id: str, viewer: Principal) -> tuple[Incident, Engine, float]:
        """The incident as `viewer` may see it, its collection, and how far before its opening its timeline reaches:
        what can have led to the first alert (the monitor window, the longest rule `for`, the longest source
        `max_age`)."""
        incident = self.visible_incident(incident_id, viewer)
        c = self.collections.get(incident.collection)
        lookback = c.settings.monitor.window_s + max((r.for_s for r in rules(c.settings)), default=0) + max(
            (s.max_age_s or 0 for s in c.settings.sources), default=0)
        return incident, c, lookback

    def learning(self, name: str | None) -> Loop:
        """The learning loop of a collection: labeled sets, improvement runs, their triggers."""
        return Loop(self.collections.get(name), self.query_log, named(name), str(self.default.home.root))

    def improvement_tasks(self) -> list[tuple]:
        """(task, seconds, id) for the scheduler: each collection with `improve.schedule` checks its triggers."""
        c = self.collections
        return [(self.learning(name).check, c.get(name).settings.improve.check_every_s, f"improve:{name}")
                for name in c.names() if c.get(name).settings.improve.schedule]
