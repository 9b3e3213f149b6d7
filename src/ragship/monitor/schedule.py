"""The monitor of a home and its scheduled tasks: the alert round (round.py) over every collection's signals
(signals.py), each source's re-sync within its freshness objective, and the improvement tasks handed in. It runs
inside `ragship serve` and in `ragship watch`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ragship.errors import RagshipError
from ragship.monitor import metrics
from ragship.monitor.drift import Drift
from ragship.monitor.querylog import QueryLog
from ragship.monitor.round import AlertRound
from ragship.monitor.signals import LatestRun, Signals, Watched
from ragship.util.clock import seconds_since

log = logging.getLogger("ragship.monitor")


class Monitor:
    def __init__(self, log: QueryLog, collections: Callable[[], dict[str, Watched]], lock_path: Path,
                 site: str = "", runs: Callable[[str], LatestRun] | None = None):
        """`lock_path`: the home's monitor lock (one round at a time); `site`: where runbook links point; `runs`: a
        collection's improvement runs by its name (without: no ImproveRefused signal)."""
        self.log, self.collections = log, collections
        self._signals = Signals(log, runs)
        self._round = AlertRound(self._signals, collections, lock_path, site)
        self.alerts, self.freshness = self._round.alerts, self._signals.freshness

    def drift(self, name: str, c: Watched) -> Drift:
        """The collection's drift (reading it changes nothing: the reference moves in the alert round)."""
        return self._signals.drift(name, c)

    def signals(self, name: str, c: Watched, now: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The rules' signals for one collection, and the context an alert carries (signals.py)."""
        return self._signals.of(name, c, now)

    def tick(self, now: float | None = None) -> dict[str, Any] | None:
        """One alert round over every collection (round.py); None when another process holds the round."""
        return self._round.tick(now)

    def alert_states(self) -> list[dict[str, Any]]:
        """Every collection's rules with their state (inactive until a round has seen them)."""
        return self._round.rule_states()

    def sync(self, name: str, source) -> dict[str, Any]:
        """Re-sync one source of a collection, releasing what changed, and export its age."""
        c = self.collections()[name]
        result = self.freshness.sync(name, source, lambda paths: c.release(c.ingest(paths)))
        # labelled by its place in [[sources]] (1 the first), not its path: /metrics names no files (ADR 0010)
        place = next((str(n) for n, s in enumerate(c.settings.sources, 1) if str(s.path) == str(source.path)), "0")
        for s in self.freshness.status(name, [source]):
            metrics.SOURCE_AGE.labels(name, place).set(s["age_s"])
        return result

    def schedule(self, every_s: float | None = None, tasks: Sequence[tuple] = ()):
        """A started APScheduler running `tick`, each source's sync and the given (task, seconds, id) `tasks` (the
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
        for task, seconds, task_id in tasks:
            scheduler.add_job(background(task), "interval", seconds=seconds, id=task_id, max_instances=1, coalesce=True)
        scheduler.start()
        return scheduler


def background(task):
    """A scheduled task that fails on one of our errors (a broken file of the home, a full disk) logs one line naming
    it and the repair, and runs again at its next turn; anything else keeps its traceback."""

    def run(*args):
        try:
            return task(*args)
        except RagshipError as e:
            log.error("%s failed: %s", task.__name__, e)

    return run


def _built_at(registry) -> float:
    try:
        version = registry.live()
    except RagshipError:  # a broken pointer: `doctor` says so; the staleness clock starts now
        version = None
    return time.time() - seconds_since(version.created_at) if version else time.time()
