"""Freshness: every [[sources]] entry with a `max_age` is re-synced by the scheduler and its last good sync is
recorded; a source's staleness is its age since that sync over its `max_age` (above 1: the objective is
missed). A sync is an ordinary ingest of the source's path, so its version goes through the release gate
(`release.auto_promote`); a sync that fails (the folder vanished, a disk error, or most of its documents gone,
which the ingest holds back as a candidate under every auto_promote policy: release.hold_deletions_over)
leaves the live version serving and the staleness growing until the SourceStale alert fires. The first failure and
the recovery are events (events.py)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from ragship.ingest.ingestor import deletions_held, empty_corpus
from ragship.monitor.events import Events
from ragship.monitor.querylog import QueryLog
from ragship.state.tables import SOURCE_SYNC, upsert

KEYS = ("collection", "path")


class Freshness:
    def __init__(self, log: QueryLog):
        self.log, self.state, self.events = log, log.state, Events(log)

    def watch(self, collection: str, source, since: float) -> None:
        """Start counting a source's age from `since` (its live version's build) unless a sync is recorded."""
        with self.state.ready() as c:
            upsert(c, SOURCE_SYNC, {"collection": collection, "path": str(source.path), "last_success": since}, KEYS,
                   replace=False)

    def sync(self, collection: str, source, ingest) -> dict[str, Any]:
        """Ingest the source now (`ingest(paths)`); its outcome is recorded, a failure is returned, not raised."""
        started, path = time.time(), str(source.path)
        failing = self._last_error(collection, path)
        try:
            report = ingest([source.path])
            _check(report, path)
        except Exception as e:  # noqa: BLE001 - recorded and alerted on; the scheduler keeps running
            error = f"{type(e).__name__}: {e}"[:500]
            self.state.write(SOURCE_SYNC.update().where(
                SOURCE_SYNC.c.collection == collection, SOURCE_SYNC.c.path == path).values(
                last_attempt=started, last_error=error))
            if not failing:
                self.events.record(collection, "sync failed", f"source {path} failed to sync: {error}", "scheduler")
            return {"source": path, "ok": False, "error": str(e)}
        with self.state.ready() as c:
            upsert(c, SOURCE_SYNC, {"collection": collection, "path": path, "last_attempt": started,
                                    "last_success": started, "last_error": None, "version": report.version}, KEYS)
        if failing:
            self.events.record(collection, "sync recovered", f"source {path} synced again ({report.version})",
                               "scheduler")
        return {"source": path, "ok": True, "version": report.version,
                "changes": {k: getattr(report, k) for k in ("added", "changed", "deleted")}}

    def _last_error(self, collection: str, path: str) -> str | None:
        c = SOURCE_SYNC.c
        rows = self.state.rows(select(c.last_error).where(c.collection == collection, c.path == path))
        return rows[0][0] if rows else None

    def status(self, collection: str, sources, now: float | None = None) -> list[dict[str, Any]]:
        """Per watched source: its age since the last good sync, the objective, and the ratio of the two."""
        now = time.time() if now is None else now
        c = SOURCE_SYNC.c
        rows = {r[0]: r[1:] for r in self.state.rows(select(c.path, c.last_attempt, c.last_success, c.last_error,
                                                            c.version).where(c.collection == collection))}
        out = []
        for s in sources:
            if s.max_age_s is None or str(s.path) not in rows:
                continue
            attempt, success, error, version = rows[str(s.path)]
            age = now - success
            out.append({"source": str(s.path), "max_age_s": s.max_age_s, "age_s": round(age, 1),
                        "staleness": round(age / s.max_age_s, 3), "last_attempt": attempt, "last_success": success,
                        "last_error": error, "version": version})
        return out


    def syncs(self, collection: str) -> list[dict[str, Any]]:
        """Each source of `collection` with a recorded sync: its path, its last good sync and the version it made."""
        c = SOURCE_SYNC.c
        return [{"path": path, "last_success": success, "version": version} for path, success, version in
                self.state.rows(select(c.path, c.last_success, c.version).where(c.collection == collection))]


def _check(report, path: str) -> None:
    """A sync that read nothing (the folder is gone), or whose deletions were held back, did not bring the source
    live: it fails."""
    unreadable = empty_corpus(report, path)
    if unreadable:
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in report.failures[:3])
        raise type(unreadable)(f"{unreadable} ({reasons})" if reasons else str(unreadable))
    held = deletions_held(report)
    if held:
        raise held
