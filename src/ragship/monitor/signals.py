"""The signals of a collection, the values its alert rules test: business metrics over the window, drift against
the reference, source staleness, a key flooding the labels, unreadable version records, a refused improvement run.
Reading them changes nothing but the events log (a change of the version records' readability)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Protocol

from ragship.access import KeyStore
from ragship.errors import RagshipError
from ragship.monitor.drift import Drift
from ragship.monitor.events import Events
from ragship.monitor.freshness import Freshness
from ragship.monitor.querylog import QueryLog
from ragship.monitor.rules import WINDOWED
from ragship.monitor.windows import business, label_flood, label_shares
from ragship.settings import Settings


class Watched(Protocol):
    """What the monitor uses of a collection (the Engine is one)."""

    settings: Settings
    registry: Any

    def ingest(self, paths: list[Path], observe=None): ...

    def release(self, report): ...


class LatestRun(Protocol):
    """What the monitor reads of a collection's improvement runs (learn/runs.py: Runs, which sits above it and is
    handed in)."""

    def latest(self) -> dict[str, Any] | None: ...


class Signals:
    def __init__(self, log: QueryLog, runs: Callable[[str], LatestRun] | None = None):
        """`runs`: a collection's improvement runs by its name (without: no ImproveRefused signal)."""
        self.log, self.runs = log, runs
        self.freshness, self.events = Freshness(log), Events(log)

    def drift(self, name: str, c: Watched) -> Drift:
        """The collection's drift (reading it changes nothing: the reference moves in the alert round)."""
        return Drift(self.log, name, c.settings.monitor)

    def of(self, name: str, c: Watched, now: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The rules' signals for one collection, and the context an alert carries (drift report, sources)."""
        now = time.time() if now is None else now
        m = c.settings.monitor
        window = business(self.log, name, now - m.window_s, now, m.min_requests, m.recent_s)
        report = self.drift(name, c).report()
        sources = self.freshness.status(name, c.settings.sources, now)
        signals = {k: window[k] for k in WINDOWED}
        signals["versions_unreadable"] = self._versions_unreadable(name, c, now)
        signals["query_drift_p"] = report["query"].get("p_value")
        signals["score_drift_p"] = report["scores"].get("p_value")
        signals["source_staleness"] = max((s["staleness"] for s in sources), default=None)
        signals["improve_refused"] = self._improve_refused(name)
        flood = self._label_flood(name, m, now)
        signals["label_key_share"] = flood["share"] if flood else None
        context = {"window": window, "drift": {k: report.get(k) for k in ("status", "query", "scores", "moved",
                                                                           "business", "topics")},
                   "sources": [s for s in sources if s["staleness"] > 1], "labels": flood,
                   "details": {"label_key_share": _flood_line(flood)} if flood else {}}
        return signals, context

    def _label_flood(self, name: str, m, now: float) -> dict[str, Any] | None:
        """The key that gave the most of the window's labels, with its name and role where the keys can be read."""
        flood = label_flood(label_shares(self.log, name, now - m.window_s, now), m.label_flood_min)
        if flood:
            try:
                record = KeyStore(self.log.state).records().get(flood["key_id"])
            except RagshipError:  # the keys unreadable: the alert still names the key's id
                record = None
            flood.update(name=record.name if record else "", role=record.role if record else "")
        return flood

    def _versions_unreadable(self, name: str, c: Watched, now: float) -> float:
        """1 while the collection's version records or live pointer cannot be read (the server keeps serving the
        version it has open, but nothing can be released or rolled back); the change is recorded as an event."""
        try:
            c.registry.pointer()
            c.registry.all()
            broken = ""
        except RagshipError as e:
            broken = str(e)
        last = self.events.last(name, ("versions unreadable", "versions readable"))
        if broken and (last is None or last["kind"] == "versions readable"):
            self.events.record(name, "versions unreadable", broken, "monitor", now)  # the round's time: its alerts
        elif not broken and last is not None and last["kind"] == "versions unreadable":
            self.events.record(name, "versions readable", "the version records and live pointer read again", "monitor",
                               now)
        return float(bool(broken))

    def _improve_refused(self, name: str) -> float | None:
        last = self.runs(name).latest() if self.runs is not None else None
        return float(last["status"] in ("refused", "failed")) if last else None


def _flood_line(flood: dict[str, Any]) -> str:
    """`key ID ("NAME", ROLE) labeled N of the M questions labeled in the window`, for the alert's summary."""
    who = ", ".join(x for x in (f'"{flood["name"]}"' if flood["name"] else "", flood["role"]) if x)
    return (f"key {flood['key_id']}{f' ({who})' if who else ''} labeled {flood['count']} of the "
            f"{flood['labels']} questions labeled in the window")
