"""The monitor loop: on a schedule, compute every collection's signals (business metrics over the window, drift
against the reference, source staleness), export them to Prometheus, move the alert rules' states, deliver the
webhook events, prune the log past its retention, and re-sync each source with a freshness objective. It runs
inside `ragship serve` and in `ragship watch`. Several server processes may share a home: a tick runs only in
the process that takes the home's monitor lock, so rules are evaluated once per round."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from filelock import FileLock, Timeout

from ragship.access import KeyStore
from ragship.errors import RagshipError
from ragship.monitor import metrics
from ragship.monitor.alerts import Alerts, holds
from ragship.monitor.drift import Drift
from ragship.monitor.events import Events
from ragship.monitor.freshness import Freshness
from ragship.monitor.querylog import QueryLog
from ragship.monitor.rules import RECENT, WINDOWED, rules
from ragship.monitor.windows import business, label_flood, label_shares
from ragship.settings import Settings, duration_s
from ragship.util.clock import seconds_since

log = logging.getLogger("ragship.monitor")

PRUNE_EVERY_S = 3600


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


class Monitor:
    def __init__(self, log: QueryLog, collections: Callable[[], dict[str, Watched]], lock_path: Path,
                 site: str = "", runs: Callable[[str], LatestRun] | None = None):
        """`runs`: a collection's improvement runs by its name (without: no ImproveRefused signal)."""
        self.log, self.collections, self.runs = log, collections, runs
        self.alerts, self.freshness, self.events = Alerts(log, site), Freshness(log), Events(log)
        self._lock = FileLock(lock_path)
        self._pruned = 0.0

    def drift(self, name: str, c: Watched) -> Drift:
        """The collection's drift (reading it changes nothing: the reference moves in the monitor round)."""
        return Drift(self.log, name, c.settings.monitor)

    def _move_reference(self, name: str, c: Watched, signals: dict[str, Any]) -> str | None:
        """The drift reference policy, after the round's alerts: held back while a drift rule holds or fires."""
        drift, live, active = self.drift(name, c), c.registry.live(), self.alerts.active(name)
        drifting = any(r.name in active or holds(r, signals.get(r.signal)) for r in rules(c.settings)
                       if r.signal in DRIFT_SIGNALS)
        changed = _changed_retrieval(c.registry.find(drift.reference()["version"] or ""), live)
        return drift.apply_policy(live.id if live else None, duration_s(c.settings.monitor.reference_max_age),
                                  changed, drifting)

    def signals(self, name: str, c: Watched, now: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The rules' signals for one collection, and the context an alert carries (drift report, sources)."""
        now = time.time() if now is None else now
        m = c.settings.monitor
        window = business(self.log, name, now - m.window_s, now, m.min_requests, m.recent_s)
        report = self.drift(name, c).report()
        sources = self.freshness.status(name, c.settings.sources, now)
        signals = {k: window[k] for k in WINDOWED}
        signals["state_unreadable"] = self._state_unreadable(name, c, now)
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

    def _state_unreadable(self, name: str, c: Watched, now: float) -> float:
        """1 while the collection's version records or live pointer cannot be read (the server keeps serving the
        version it has open, but nothing can be released or rolled back); the change is recorded as an event."""
        try:
            c.registry.pointer()
            c.registry.all()
            broken = ""
        except RagshipError as e:
            broken = str(e)
        last = self.events.last(name, ("state unreadable", "state readable"))
        if broken and (last is None or last["kind"] == "state readable"):
            self.events.record(name, "state unreadable", broken, "monitor", now)  # the round's time: its alerts
        elif not broken and last is not None and last["kind"] == "state unreadable":
            self.events.record(name, "state readable", "the version records and live pointer read again", "monitor",
                               now)
        return float(bool(broken))

    def _improve_refused(self, name: str) -> float | None:
        last = self.runs(name).latest() if self.runs is not None else None
        return float(last["status"] in ("refused", "failed")) if last else None

    def tick(self, now: float | None = None) -> dict[str, Any] | None:
        """One round over every collection; None when another process holds the round."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return None
        try:
            return self._round(time.time() if now is None else now)
        finally:
            self._lock.release()

    def _round(self, now: float) -> dict[str, Any]:
        collections = self.collections()
        m = next(iter(collections.values())).settings.monitor  # the home's: collections share one log
        if now - self._pruned > PRUNE_EVERY_S:
            self.log.prune(m.retention_days)
            self._pruned = now
        done: dict[str, Any] = {"events": [], "delivery": {}}
        for name, c in collections.items():
            signals, context = self.signals(name, c, now)
            recent = {k: context["window"]["recent"][k] for k in WINDOWED}
            metrics.record_signals(name, signals | {f"{k}{RECENT}": v for k, v in recent.items()})
            events = self.alerts.evaluate(name, rules(c.settings), signals, context, now, bool(m.webhook_url), recent)
            for e in events:
                metrics.ALERT_FIRING.labels(name, e["alert"], e["severity"]).set(int(e["event"] == "fired"))
            done["events"] += events
            if not signals["state_unreadable"]:  # the policy reads the version records
                held = self._move_reference(name, c, signals)
                if held:
                    log.warning("%s: drift reference not reset: %s", name, held)
        if m.webhook_url:  # once per round, every collection's events
            done["delivery"] = self.alerts.deliver(m.webhook_url, m.webhook_timeout_s, m.webhook_give_up_s, now)
        return done

    def alert_states(self) -> list[dict[str, Any]]:
        """Every collection's rules with their state (inactive until a round has seen them)."""
        stored = {(s["name"], s["collection"]): s for s in self.alerts.states()}
        out = []
        for name, c in self.collections().items():
            for r in rules(c.settings):
                state = stored.get((r.name, name), {"name": r.name, "collection": name, "state": "inactive",
                                                    "since": None, "value": None})
                out.append({**state, "severity": r.severity, "condition": f"{r.signal} {r.op} {r.threshold:g}",
                            "for_s": r.for_s, "runbook": r.runbook})
        return out

    def sync(self, name: str, source) -> dict[str, Any]:
        c = self.collections()[name]
        result = self.freshness.sync(name, source, lambda paths: c.release(c.ingest(paths)))
        # labelled by its place in [[sources]] (1 the first), not its path: /metrics names no files (ADR 0010)
        place = next((str(n) for n, s in enumerate(c.settings.sources, 1) if str(s.path) == str(source.path)), "0")
        for s in self.freshness.status(name, [source]):
            metrics.SOURCE_AGE.labels(name, place).set(s["age_s"])
        return result

    def schedule(self, every_s: float | None = None, jobs: Sequence[tuple] = ()):
        """A started APScheduler running `tick`, each source's sync and the given (job, seconds, id) `jobs` (the
        improvement loop's trigger checks); call `.shutdown()` to stop it."""
        from apscheduler.schedulers.background import BackgroundScheduler

        logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: still running" is not news
        scheduler = BackgroundScheduler(daemon=True)
        collections = self.collections()
        every = every_s or min(c.settings.monitor.evaluate_every_s for c in collections.values())
        scheduler.add_job(background(self.tick), "interval", seconds=every, id="monitor", max_instances=1,
                          coalesce=True)
        for name, c in collections.items():
            for source in c.settings.sources:
                if source.max_age_s is None:
                    continue
                self.freshness.watch(name, source, _built_at(c.registry))
                scheduler.add_job(background(self.sync), "interval", args=(name, source), seconds=source.max_age_s / 4,
                                  id=f"sync:{name}:{source.path}", max_instances=1, coalesce=True)
        for job, seconds, job_id in jobs:
            scheduler.add_job(background(job), "interval", seconds=seconds, id=job_id, max_instances=1, coalesce=True)
        scheduler.start()
        return scheduler


def background(job):
    """A scheduled job that fails on one of our errors (a broken state file, a full disk) logs one line naming
    it and the repair, and runs again at its next turn; anything else keeps its traceback."""

    def run(*args):
        try:
            return job(*args)
        except RagshipError as e:
            log.error("%s failed: %s", job.__name__, e)

    return run


DRIFT_SIGNALS = ("query_drift_p", "score_drift_p")


def _flood_line(flood: dict[str, Any]) -> str:
    """`key ID ("NAME", ROLE) labeled N of the M questions labeled in the window`, for the alert's summary."""
    who = ", ".join(x for x in (f'"{flood["name"]}"' if flood["name"] else "", flood["role"]) if x)
    return (f"key {flood['key_id']}{f' ({who})' if who else ''} labeled {flood['count']} of the "
            f"{flood['labels']} questions labeled in the window")


def _changed_retrieval(reference, live) -> bool:
    """Whether `live` retrieves differently from the version the drift reference was set on: another model or
    chunking, not merely other documents. Unknown (the reference's record is gone) counts as changed."""
    if live is None or reference is None:
        return live is not reference
    return (reference.model_id, reference.params) != (live.model_id, live.params)


def _built_at(registry) -> float:
    try:
        version = registry.live()
    except RagshipError:  # a broken pointer: `doctor` says so; the staleness clock starts now
        version = None
    return time.time() - seconds_since(version.created_at) if version else time.time()
