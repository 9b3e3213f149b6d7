"""Every rating, comment and review of a collection's answers, with who asked, what, and what came of it: the
feedback export (`ragship feedback export`, GET /v1/feedback/export) for the people who act on it outside ragship.
Issue 49, finding 11. What a caller may see of it is access.feedback_for's to decide."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any, Iterable, Mapping

from ragship.monitor.querylog import QueryLog
from ragship.util import actor

COLUMNS = ("answer_id", "asked_at", "asked_by", "question", "outcome", "answer", "version", "rated_at", "rated_by",
           "rating", "comment", "expected", "correction", "marks")
RATINGS = {1: "up", -1: "down", 0: ""}


def feedback_rows(log: QueryLog, collection: str, names: Mapping[str, str], since: float = 0.0
                  ) -> list[dict[str, Any]]:
    """One row per feedback given at or after `since` (oldest first), joined with the answer it is about: who asked
    and who rated by name (`names`: key id -> name), and for the access rule the key ids (`asker`, `rater`) and the
    answer's `sources`."""
    out = []
    for row in log.rated_answers(collection, since):
        d = {k: row[k] for k in COLUMNS}
        d.update(rating=RATINGS.get(d["rating"], ""), marks=json.loads(d["marks"]) if d["marks"] else {},
                 comment=d["comment"] or "", correction=d["correction"] or "", expected=d["expected"] or "",
                 sources=json.loads(row["sources"]) if row["sources"] else [], asker=d["asked_by"], rater=d["rated_by"],
                 asked_by=actor.recorded(d["asked_by"], names), rated_by=actor.recorded(d["rated_by"], names))
        out.append(d)
    return out


def as_csv(rows: Iterable[dict[str, Any]]) -> str:
    """`rows` as CSV with a header row: times in UTC (ISO 8601), marks as JSON."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "asked_at": _iso(row["asked_at"]), "rated_at": _iso(row["rated_at"]),
                         "marks": json.dumps(row["marks"]) if row["marks"] else ""})
    return buffer.getvalue()


def _iso(at: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)) if at is not None else ""
