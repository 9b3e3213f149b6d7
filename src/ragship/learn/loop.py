"""The learning loop of one collection, as the faces and the scheduler use it: build the labeled set, check the
triggers, run an improvement (recorded, whatever its outcome), report its state."""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from ragship.errors import RagshipError
from ragship.learn.datasets import Datasets, LabeledSet
from ragship.learn.improve import Improvable, Outcome, improve, new_documents, plan
from ragship.learn.labels import Item, collect, limit_keys, sources
from ragship.learn.runs import MemoryBound, Runs, launch, learned_from, triggers
from ragship.monitor.querylog import QueryLog

log = logging.getLogger("ragship.learn")


class Loop:
    def __init__(self, collection: Improvable, query_log: QueryLog, name: str, home: str | None = None):
        self.c, self.name, self.home = collection, name, home  # home: the base home, for a run's own process
        self.runs, self.datasets = Runs(query_log, name), Datasets(collection.home.datasets)

    def build(self) -> tuple[LabeledSet, bool]:
        """The labeled set from the log as it is now: a new version, or the newest when nothing changed."""
        return self.datasets.build(*self.labeled())

    def labeled(self) -> tuple[list[Item], str, dict[str, Any]]:
        """The items a set would hold now, no key's ratings over `improve.max_key_share` of them nor its reviews over
        `improve.max_review_share`, with who they came from and what was left out (labels.sources)."""
        dropped: Counter = Counter()
        s = self.c.settings.improve
        every = collect(self.runs.log, self.name, dropped=dropped)
        items, capped = limit_keys(every, s.max_key_share, s.max_review_share)
        roles = {label.by: label.role for item in every for label in item.labels}
        return items, self.name, sources(items, dropped, capped, s.max_key_share, roles, s.max_review_share)

    def preview(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """What `build` would make now, and the plan a run on it would follow, writing nothing to the home."""
        latest = self.datasets.latest()
        since = getattr(learned_from(self.runs, self.c.registry), "id", None)
        with tempfile.TemporaryDirectory() as tmp:
            labeled, _ = Datasets(Path(tmp)).build(*self.labeled())
            new = latest is None or latest.manifest["sha256"] != labeled.manifest["sha256"]
            number = (latest.number if latest else 0) + new
            dataset = {**labeled.manifest, "name": f"{self.datasets.folder.name}/{number:04d}", "number": number,
                       "new": new}
            return dataset, plan(labeled, self.c.settings, len(new_documents(self.c, since)))

    def due(self) -> list[str]:
        return triggers(self.runs, self.c.settings, self.c.registry)

    def improve(self, trigger: str = "by hand", dry_run: bool = False, bounded: bool = False,
                progress=None, run_id: str | None = None) -> dict[str, Any]:
        """One run now, waiting for its result (`dry_run`: what it would do). `bounded`: this process is the
        run's own (a scheduled run): lower its priority and bound its memory (improve.memory_mb). `run_id`: the
        row the scheduler made for it."""
        if dry_run:
            dataset, planned = self.preview()
            return {"dry_run": True, "trigger": trigger, "dataset": dataset, "plan": planned, "triggers": self.due()}
        labeled, new = self.build()
        since = getattr(learned_from(self.runs, self.c.registry), "id", None)
        if run_id:
            self.runs.adopt(run_id, os.getpid())
        else:
            run_id = self.runs.start(trigger)
        s = self.c.settings.improve
        if bounded:
            os.nice(s.nice)
        watch = MemoryBound(s.memory_mb if bounded else None, lambda why: self.runs.finish(
            run_id, "failed", {"trigger": trigger, "reason": why}))
        try:
            outcome = improve(self.c, labeled, progress, since)
        except RagshipError as e:  # recorded, shown and alerted on; the live version is untouched
            live = self.c.registry.live()  # None when nothing is live (the run's IndexNotReady)
            outcome = Outcome(status="failed", reason=str(e), live_before=live.id if live else None)
        except BaseException as e:
            self.runs.finish(run_id, "failed", {"trigger": trigger, "reason": f"{type(e).__name__}: {e}"})
            raise
        finally:
            watch.stop()
        report = {"id": run_id, "trigger": trigger, **outcome.to_dict(), "peak_rss_mb": round(watch.peak_mb())}
        self.runs.finish(run_id, outcome.status, report)
        log.warning("%s: improvement run %s %s: %s", self.name, run_id, outcome.status, outcome.reason)
        return report

    def check(self) -> str | None:
        """The scheduler's job: start a run in its own process when a trigger holds; the trigger, or None."""
        held = self.due()
        if not held:
            return None
        trigger = "; ".join(held)
        run_id = self.runs.start(trigger)
        self.runs.adopt(run_id, launch(self.name, trigger, run_id, {"RAGSHIP_HOME": self.home} if self.home
                                       else None).pid)
        log.warning("%s: improvement run started: %s", self.name, trigger)
        return trigger

    def status(self) -> dict[str, Any]:
        """The newest runs (what `ragship status` and the UI show) and the labeled set."""
        latest = self.datasets.latest()
        return {"runs": [{k: r.get(k) for k in ("id", "started", "finished", "status", "trigger", "reason",
                                                "candidate", "live_before", "live_after", "peak_rss_mb")}
                         for r in self.runs.recent(5)],
                "dataset": latest.manifest if latest else None}
