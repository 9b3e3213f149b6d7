"""What happened that no other table records, kept for incident timelines (monitor/timeline.py): a source that
stopped syncing and the sync that brought it back, the version records or live pointer found unreadable and
found readable again, a `doctor --repair`, a drift reference reset. Each names who (or what) and the process."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import select

from ragship.monitor.querylog import QueryLog
from ragship.state.tables import EVENTS
from ragship.util.identity import process

E = EVENTS.c
# kinds recorded under their old names (ADR 0024), read as the new ones for one release
RENAMED_KINDS = {"state unreadable": "versions unreadable", "state readable": "versions readable"}


class Events:
    def __init__(self, log: QueryLog):
        self.log, self.state = log, log.state

    def record(self, collection: str, kind: str, text: str, by: str = "", now: float | None = None) -> None:
        self.state.write(EVENTS.insert().values(id=uuid.uuid4().hex, ts=time.time() if now is None else now,
                                                collection=collection, kind=kind, text=text[:2000], by=by,
                                                process=process()))

    def last(self, collection: str, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        """The newest event of one of `kinds`."""
        kinds += tuple(old for old, new in RENAMED_KINDS.items() if new in kinds)
        rows = self.state.rows(select(E.ts, E.kind, E.text).where(E.collection == collection, E.kind.in_(kinds))
                               .order_by(E.ts.desc()).limit(1))
        if not rows:
            return None
        return {"at": rows[0][0], "kind": RENAMED_KINDS.get(rows[0][1], rows[0][1]), "text": rows[0][2]}

    def between(self, collection: str, since: float, until: float) -> list[dict[str, Any]]:
        rows = self.state.rows(select(E.id, E.ts, E.kind, E.text, E.by, E.process).where(
            E.collection == collection, E.ts >= since, E.ts <= until).order_by(E.ts))
        return [{"at": ts, "kind": RENAMED_KINDS.get(kind, kind), "text": text, "by": by, "process": proc,
                 "source": f"event {event_id}"} for event_id, ts, kind, text, by, proc in rows]
