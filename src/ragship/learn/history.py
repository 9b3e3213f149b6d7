"""A key's own question history from the query log: what it asked, when, what came of it (answered, abstained,
found nothing, failed), and what it said about the answer (its latest rating and comment). Issue 49, finding 11."""

from __future__ import annotations

from typing import Any

from ragship.monitor.querylog import QueryLog


def history(log: QueryLog, key_id: str | None, collection: str | None = None, limit: int = 50,
            before: float | None = None) -> list[dict[str, Any]]:
    """The questions `key_id` asked (None: every key's, for the home's owner), newest first, `limit` of them older
    than `before`; each with its outcome and the asker's own latest rating and comment of the answer."""
    asked = log.asked(key_id, collection, limit, before)
    said = _own_feedback(log, asked)
    return [{**a, "rating": said.get(a["id"], {}).get("rating"), "comment": said.get(a["id"], {}).get("comment", "")}
            for a in asked]


def _own_feedback(log: QueryLog, asked: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per answer, the asker's latest rating ("up", "down") and latest comment."""
    if not asked:
        return {}
    asker = {a["id"]: a["asked_by"] for a in asked}
    rows = log.feedback_on(asker)
    out: dict[str, dict[str, Any]] = {}
    for answer_id, by, rating, comment in rows:
        if by != asker[answer_id]:
            continue
        mine = out.setdefault(answer_id, {})
        if rating:
            mine["rating"] = "up" if rating > 0 else "down"
        if comment:
            mine["comment"] = comment
    return out
