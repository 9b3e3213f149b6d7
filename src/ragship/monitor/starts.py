"""A server start as an event in each collection's timeline: ragship's version, a hash of the settings it serves
with, and what they changed since the last start recorded in the home (issue 49: a restart with a fixed LLM
endpoint was an incident's fix, and its postmortem said "Changes made meanwhile: none recorded"). The settings of
the last start are kept in HOME/started.json; a start is a change to what users get, so it is a trigger candidate
and a recovery action like a release."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from ragship import __version__
from ragship.fsio import atomic_write_json, read_json
from ragship.monitor.events import Events
from ragship.state import redact

HIDDEN = ("monitor.webhook_url",)  # may hold a token (a Slack webhook URL is its own secret): changed, no values
CHANGED = "changed since the last start: "
# what a changed setting is about (rules.CAUSES), the most specific prefix first; any other: the service (the state
# store's settings too: its failures are failed requests; the versions alert watches the home's files, not the store)
SETTING_CAUSES = (("answer.llm.", ("llm",)), ("answer.", ("answers",)), ("chunk.", ("answers",)),
                  ("embed.", ("answers",)), ("search.", ("answers",)), ("rerank.", ("answers",)),
                  ("index.", ("answers", "service")), ("release.", ("answers",)), ("sources", ("sources",)),
                  ("ingest.", ("sources",)), ("state.", ("service",)), ("improve.", ("learning",)),
                  ("monitor.", ("answers", "traffic", "llm", "service", "versions", "sources", "learning")))


def flat(shown: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Settings as `Settings.shown()` gives them, one dotted key a value (lists as JSON)."""
    out: dict[str, str] = {}
    for k, v in shown.items():
        out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": json.dumps(v, default=str)}
    return out


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """`key old -> new` for each setting that differs (a hidden one only named; URLs without their password)."""
    out = []
    for k in sorted(before.keys() | after.keys()):
        if before.get(k) != after.get(k):
            out.append(f"{k} changed" if k in HIDDEN else f"{k} {_shown(before.get(k))} -> {_shown(after.get(k))}")
    return out


_SEP = re.compile(r"(?<!\\); ")  # between two changes; a value's own ";" is written "\;" (changes, _shown)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")  # a dotted setting name


def _keys(text: str) -> list[str]:
    """The setting names a start's text says it changed: the first word of each change, never a piece of a value
    (a start recorded before values escaped their "; " keeps only the words shaped like a setting's name)."""
    if CHANGED not in text:
        return []
    words = [part.split(" ", 1)[0] for part in _SEP.split(text.split(CHANGED, 1)[1])]
    return [w for w in words if _KEY.match(w)]


def record_start(events: Events, collection: str, settings: dict[str, Any], started: Path, by: str,
                 now: float | None = None) -> str:
    """Record this process's start in `collection` with what changed since the last start (HOME/started.json:
    `started`); the event's text."""
    current = flat(settings)
    last = (read_json(started, default={}) or {}).get(collection)
    digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:12]
    changed = changes(last, current) if last is not None else []
    text = f"server started: ragship {__version__}, settings {digest}; " + (
        CHANGED + "; ".join(changed) if changed else "settings unchanged" if last is not None
        else "the first start recorded")
    if last != current:
        atomic_write_json(started, {**(read_json(started, default={}) or {}), collection: current})
    events.record(collection, "server start", text, by, now)
    return text


def without_values(text: str) -> str:
    """A start's text naming the settings it changed without their values."""
    if CHANGED not in text:
        return text
    return text.split(CHANGED, 1)[0] + CHANGED + "; ".join(_keys(text))


def changed_causes(text: str) -> set[str]:
    """What a start's text says it changed is about; a restart with no change: the service."""
    found: set[str] = set()
    for key in _keys(text):
        found |= set(next((c for prefix, c in SETTING_CAUSES if key.startswith(prefix)), ("service",)))
    return found or {"service"}


def _shown(value: str | None) -> str:
    if value is None:
        return "(unset)"
    text = json.loads(value) if value.startswith('"') else value
    shown = redact(text) if isinstance(text, str) and re.match(r"^\w+://", text) else str(text)
    return shown.replace(";", "\\;")  # "; " separates the changes: a value's own never reads as one (_keys)
