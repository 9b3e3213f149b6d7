"""Named collections, each with its own index, settings and versions. "default" is the home itself; others live
in HOME/collections/NAME with a settings.json of the sections they override (chunk, search, rerank, answer).
All share one embedding model and cache, so a model is loaded once per process."""

from __future__ import annotations

import re
import shutil
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

from ragship.access import LOCAL, KeyStore, Principal, asker_groups, incident_for
from ragship.engine import Engine
from ragship.errors import CollectionNotFound, Conflict, InputError, NotFound
from ragship.fsio import atomic_write_json, read_json
from ragship.learn.loop import Loop
from ragship.learn.runs import Runs
from ragship.monitor.events import Events
from ragship.monitor.incidents import Incident, Incidents
from ragship.monitor.postmortem import draft
from ragship.monitor.querylog import QueryLog
from ragship.monitor.rules import rules
from ragship.monitor.starts import record_start
from ragship.monitor.timeline import timeline
from ragship.monitor.watcher import Monitor
from ragship.retrieve.filters import Filter
from ragship.settings import Settings, load_settings

DEFAULT = "default"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
OVERRIDABLE = ("chunk", "search", "rerank", "answer")


def named(collection: str | None) -> str:
    """The collection a request names, "default" when it names none."""
    return collection or DEFAULT


class Collections:
    def __init__(self, default: Engine):
        self.default = default
        self.root = default.home.collections
        self._engines: dict[str, Engine] = {DEFAULT: default}
        self._lock = threading.Lock()

    @cached_property
    def query_log(self) -> QueryLog:
        """The home's query log, one for every collection and face."""
        return QueryLog(self.default.state, self.default.settings.monitor.query_text)

    def monitor(self) -> Monitor:
        """The monitor over every collection of the home (its query log, the home's monitor lock)."""
        runbooks = self.default.settings.monitor.runbook_base_url  # `ragship serve` points it at itself
        return Monitor(self.query_log, lambda: {name: self.get(name) for name in self.names()},
                       self.default.home.root / "monitor.lock", site=runbooks.removesuffix("/runbooks"),
                       runs=self.runs)

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
        for name in self.names():
            record_start(events, name, self.get(name).settings.shown(), self.default.home.started, by, now)

    def _incident(self, incident_id: str, viewer: Principal) -> tuple[Incident, Engine, float]:
        """The incident as `viewer` may see it, its collection, and how far before its opening its timeline reaches:
        what can have led to the first alert (the monitor window, the longest rule `for`, the longest source
        `max_age`)."""
        incident = self.visible_incident(incident_id, viewer)
        c = self.get(incident.collection)
        lookback = c.settings.monitor.window_s + max((r.for_s for r in rules(c.settings)), default=0) + max(
            (s.max_age_s or 0 for s in c.settings.sources), default=0)
        return incident, c, lookback

    def learning(self, name: str | None) -> Loop:
        """The learning loop of a collection: labeled sets, improvement runs, their triggers."""
        return Loop(self.get(name), self.query_log, named(name), str(self.default.home.root))

    def improvement_jobs(self) -> list[tuple]:
        """(job, seconds, id) for the scheduler: each collection with `improve.schedule` checks its triggers."""
        return [(self.learning(name).check, self.get(name).settings.improve.check_every_s, f"improve:{name}")
                for name in self.names() if self.get(name).settings.improve.schedule]

    def names(self) -> list[str]:
        found = sorted(p.name for p in self.root.iterdir() if (p / "settings.json").exists()) \
            if self.root.is_dir() else []
        return [DEFAULT, *found]

    def get(self, name: str | None) -> Engine:
        name = named(name)
        with self._lock:
            if name not in self._engines:
                if not NAME.match(name) or not (self.root / name / "settings.json").exists():
                    raise CollectionNotFound(f"no collection {name!r}; the collection list (`ragship collections "
                                             "list`, GET /v1/collections) names them")
                self._engines[name] = self._open(name)
            return self._engines[name]

    def describe(self, name: str, viewer: Principal = LOCAL) -> dict[str, Any]:
        """A collection's live version, settings and the number of its documents `viewer` may read."""
        engine = self.get(name)
        live = engine.registry.live()
        documents = 0 if live is None else live.counts["documents"] if viewer.groups is None else \
            len(engine.serving.documents(Filter(viewer.groups)))
        return {"name": name, "live_version": live.id if live else None, "documents": documents,
                "settings": read_json(self.root / name / "settings.json", default={}) if name != DEFAULT else {}}

    def create(self, name: str, overrides: dict[str, Any] | None = None) -> Engine:
        if not NAME.match(name or ""):
            raise InputError("a collection name is 1-63 lowercase letters, digits, _ or -, starting with a letter "
                             f"or digit; got {name!r}")
        overrides = overrides or {}
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise InputError(f"a collection may override {', '.join(OVERRIDABLE)}; not {', '.join(sorted(unknown))}")
        with self._lock:
            folder = self.root / name
            if name == DEFAULT or (folder / "settings.json").exists():
                raise Conflict(f"collection {name!r} already exists")
            self._settings(folder, overrides)  # validates before anything is written
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(folder / "settings.json", overrides)
        return self.get(name)

    def delete(self, name: str) -> None:
        if name == DEFAULT:
            raise Conflict("the default collection cannot be deleted")
        self.get(name)
        with self._lock:
            self._engines.pop(name, None)
            shutil.rmtree(self.root / name)

    def _open(self, name: str) -> Engine:
        folder = self.root / name
        settings = self._settings(folder, read_json(folder / "settings.json", default={}))
        return self.default.sibling(settings, state=self.default.state)

    def _settings(self, folder: Path, overrides: dict[str, Any]) -> Settings:
        base: Settings = self.default.settings
        merged = base.model_dump(exclude={"home", "cache_dir", "sources"})
        for section, values in overrides.items():
            merged[section] = {**merged[section], **values}
        if base.index.uri:  # each collection its own table, under the home's prefix
            merged["index"]["uri"] = f"{base.index.uri.rstrip('/')}/collections/{folder.name}"
        return load_settings(home=folder, cache_dir=self.default.home.cache_dir, **merged)
